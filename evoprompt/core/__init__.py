"""The generation loop: the engine, what its events leave on disk, the held-out test phase and
the result files."""
