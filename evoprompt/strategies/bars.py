"""The bars a strategy's ``threshold`` returns, importable from here as documented for
strategies of your own; they live with the rest of pruning in :mod:`evoprompt.pruning.bars`."""

from evoprompt.pruning.bars import AnyOf, Bar, Hurdle, Seats

__all__ = ["AnyOf", "Bar", "Hurdle", "Seats"]
