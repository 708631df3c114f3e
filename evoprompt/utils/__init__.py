"""Programmatic helpers for scripts and notebooks (spec section 6).

``evoprompt.utils.checkpoint`` offers ``CheckpointManager``, ``RetryManager``, ``with_retry`` and
``ExperimentRecovery`` (the retry names are defined in ``evoprompt.utils.retry``): a small
facade over :mod:`evoprompt.checkpoint` and :mod:`evoprompt.llm.retry`, so code outside the
runner gets the same atomic, checksummed, fall-back-on-corruption checkpoints and the same
retry classification and backoff.
"""
