"""The experiment itself: its state, the generation loop, and the result files."""
