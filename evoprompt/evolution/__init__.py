"""Evolution: selection, operator templates, child extraction, and the GA and DE strategies."""
