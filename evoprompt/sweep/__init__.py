"""Sweeps: many seeds and configs as one crash-safe command, with statistics across seeds.

spec (the sweep file and its cells), state (sweep.json and the resume guard), plan (each cell's
config and resume decision), local and ray_engine (the two ways to run cells), figures and
aggregate (aggregate.csv), report (``sweep-report``). Importing this package loads nothing.
"""
