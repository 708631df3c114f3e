"""Read-only views of experiment folders for the inspection commands (list/status/verify/report).

Nothing here takes the experiment lock or writes inside an experiment folder, so every view
works on a running experiment as well as on a finished, interrupted or crashed one.
"""
