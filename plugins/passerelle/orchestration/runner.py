"""Run a DAG for one data interval in-process with ``dag.test()`` (demo and tests)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
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
    run = run_dag_test(dag, interval_end)
    log.info("%s [%s, %s): %s", dag.dag_id, run.data_interval_start, run.data_interval_end, run.state)
    return run


def run_dag_test(dag: Any, logical_date: datetime | None = None) -> Any:
    """``dag.test(logical_date=...)`` with the run's true start time recorded.

    ``dag.test()`` starts a run "at" its logical date, so a run for a past date would show a duration of
    months; the metadata database gets the moment it really started instead.
    """
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    started = datetime.now(timezone.utc)
    run = dag.test(logical_date=logical_date)
    if run.start_date is not None and run.start_date < started:
        with create_session() as session:
            session.query(DagRun).filter(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id).update(
                {DagRun.start_date: started}, synchronize_session=False)
        run.start_date = started
    return run
