"""Experiment tracking: an experiment's (or sweep's) files mirrored into MLflow.

Nothing here is on the scoring path and nothing is logged from memory: each sync reads the
folder (config.json, summary.json, rollbacks, tracking.json) and adds to the tracked run what
it lacks, so a resume after any crash continues the same run and logs each step once, and a
tracker that was down is caught up by the next sync or by ``main.py track ID``.

- :mod:`.record`: tracking.json, the run an experiment is tracked as (its state on disk);
- :mod:`.content`: what a folder's files say should be logged (no MLflow import);
- :mod:`.mlflow_sink`: the MLflow client calls, idempotent;
- :mod:`.sync`: one sync of an experiment or a sweep, under the folder's tracking lock;
- :mod:`.agent`: the idle-priority child process a run syncs in;
- :mod:`.worker`: starts the agent, and its one-line notices.
"""
