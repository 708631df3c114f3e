"""evoprompt: evolutionary prompt optimisation (EvoPrompt GA/DE) that survives any interruption.

Package map (docs/architecture.md has the whole of it): ``config`` (settings, settled once),
``data`` (datasets), ``llm`` (backends and the single call path), ``evolution`` (templates,
breeding), ``strategies`` (GA, DE, parent selection, the registry), ``pruning`` (the exact bound
and the order rows are asked in), ``metrics`` (how outputs are judged), ``evaluation`` (scorers,
the batch evaluator), ``checkpoint`` (schema, state, layout, atomic files, journal, store, lock),
``core`` (the loop: engine, recorder, results, held-out phase), ``runner`` (launch, restore, run,
stop), ``branching`` (fork, rollback), ``billing`` (the dry run's bills), ``sweep``,
``tracking``, ``report``, ``cli``.
"""

__version__ = "0.1.0"
