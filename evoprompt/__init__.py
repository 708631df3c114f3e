"""evoprompt: evolutionary prompt optimisation (EvoPrompt GA/DE) that survives any interruption.

Package map: ``llm`` (backends and the single call path), ``evolution`` (selection, operators,
GA/DE strategies), ``metrics`` (how outputs are judged: accuracy, the registry),
``evaluation`` (scorers, batch evaluator), ``checkpoint``
(atomic files, journal, checkpoint store, lock), ``core`` (state, engine, results), ``cli``.
"""

__version__ = "0.1.0"
