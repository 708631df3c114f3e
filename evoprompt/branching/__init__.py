"""Fork and rollback: going on from the end of an earlier generation, as a new experiment or
as the same one, without losing a paid answer (``python main.py branch``)."""
