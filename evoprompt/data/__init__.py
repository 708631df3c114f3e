"""Labelled datasets: the two built-in sets and a loader for the user's own files."""
