"""Exact pruning: stop scoring a child once it provably cannot survive selection.

The engine holds one :class:`~evoprompt.pruning.control.Pruning` per run and asks it for each
generation's bars (:mod:`.bars`, a live :class:`~evoprompt.pruning.control.Brood`) and for the
row tally; the evaluator scores against them with :class:`~evoprompt.pruning.bound.Pruner` (the
exact bound) and :class:`~evoprompt.pruning.order.BestFirst` (the order rows are asked in).
The tally itself is a checkpoint record (``evoprompt.checkpoint.schema.tally``): its module
path is in every ``state.pkl`` that holds one. See docs/pruning.md.
"""
