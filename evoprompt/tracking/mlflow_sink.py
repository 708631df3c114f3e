"""The MLflow calls, each idempotent: what the run already holds is read before anything is
added, so a sync repeated after a crash (or by ``main.py track``) adds only what is missing.

MLflow is imported here only, on the tracker's thread, with short HTTP timeouts and few
retries (unless the user set MLflow's own variables): a tracking server that is down or slow
costs a sync a few seconds, never the run.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from evoprompt.tracking.content import Series

RUN_KEY_TAG = "evoprompt.run_key"
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
STATUSES = {"running": "RUNNING", "finished": "FINISHED", "error": "FAILED"}
BATCH = 1000  # MLflow's limit of metrics per log_batch


def mlflow_status(status: str) -> str:
    """The MLflow run status of an evoprompt status (a stop other than an error: KILLED)."""
    return STATUSES.get(status, "KILLED")


class MlflowSink:
    """One tracking URI. ``artifact_root``: where a new MLflow experiment keeps its artifacts
    (the default store's folder; None: the server decides)."""

    def __init__(self, uri: str, artifact_root: Path | None = None):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # after the import, which sets mlflow's level
            logging.getLogger(name).setLevel(logging.ERROR)

        self.client = MlflowClient(tracking_uri=uri)
        self.artifact_root = artifact_root

    def experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        where = None
        if self.artifact_root is not None:
            where = (self.artifact_root / name).resolve().as_uri()
        try:
            return str(self.client.create_experiment(name, artifact_location=where))
        except MlflowException:  # created meanwhile by another process
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def run_alive(self, run_id: str) -> bool:
        """The run exists and is not deleted (a wiped store: a new run is made)."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return bool(run.info.lifecycle_stage == "active")

    def run_for(self, experiment_id: str, run_key: str, name: str, tags: dict[str, str]) -> str:
        """The run tagged ``run_key``, created when there is none."""
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'", max_results=1
        )
        if found:
            return str(found[0].info.run_id)
        run = self.client.create_run(
            experiment_id, run_name=name, tags={**tags, RUN_KEY_TAG: run_key}
        )
        return str(run.info.run_id)

    def update(self, run_id: str, params: dict[str, str], tags: dict[str, str]) -> Any:
        """Params the run lacks (a param never changes once logged) and changed tags; the
        run as it was before."""
        from mlflow.entities import Param, RunTag

        run = self.client.get_run(run_id)
        new_params = [Param(k, v) for k, v in params.items() if k not in run.data.params]
        new_tags = [RunTag(k, v) for k, v in tags.items() if run.data.tags.get(k) != v]
        for start in range(0, max(len(new_params), len(new_tags)), 100):
            self.client.log_batch(
                run_id, params=new_params[start : start + 100], tags=new_tags[start : start + 100]
            )
        return run

    def log_missing(self, run_id: str, series: Series) -> int:
        """Log each (key, step) the run does not hold yet; how many were logged."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        missing = []
        for key, steps in series.items():
            held = {m.step for m in self.client.get_metric_history(run_id, key)}
            missing += [Metric(key, v, now, s) for s, v in sorted(steps.items()) if s not in held]
        for start in range(0, len(missing), BATCH):
            self.client.log_batch(run_id, metrics=missing[start : start + BATCH])
        return len(missing)

    def set_status(self, run: Any, status: str) -> None:
        wanted = mlflow_status(status)
        if run.info.status == wanted:
            return
        if wanted == "RUNNING":
            self.client.update_run(run.info.run_id, status=wanted)
        else:
            self.client.set_terminated(run.info.run_id, status=wanted)

    def text(self, run_id: str, text: str, name: str) -> None:
        self.client.log_text(run_id, text, name)

    def artifact(self, run_id: str, path: Path) -> None:
        self.client.log_artifact(run_id, str(path))
