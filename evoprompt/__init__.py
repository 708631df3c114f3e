"""evoprompt: evolutionary prompt optimisation (EvoPrompt GA/DE) that survives any interruption.

Package map: ``llm`` (backends and the single call path), ``evolution`` (selection, templates,
breeding), ``strategies`` (GA, DE, the registry), ``metrics`` (how outputs are judged: accuracy,
the registry), ``evaluation`` (scorers, batch evaluator), ``checkpoint`` (schema, layout, atomic
files, journal, checkpoint store, lock), ``core`` (state, engine, recorder, session, results),
``cli``.
"""

__version__ = "0.1.0"
