"""Persistence: atomic files, the call journal, checkpoints, the experiment lock."""
