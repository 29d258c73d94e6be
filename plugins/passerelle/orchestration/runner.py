"""Run a DAG for one data interval in-process with ``dag.test()`` (demo and tests)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from passerelle.paths import PROJECT_ROOT

log = logging.getLogger(__name__)


def load_dags() -> dict[str, Any]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def run_interval(dag: Any, interval_end: datetime) -> Any:
    """Run ``dag`` for the data interval that ends at ``interval_end``.

    A manual run of a data-interval timetable covers the latest complete interval before its
    logical date, so the logical date is the interval's end.
    """
    run = dag.test(logical_date=interval_end)
    log.info("%s [%s, %s): %s", dag.dag_id, run.data_interval_start, run.data_interval_end, run.state)
    return run
