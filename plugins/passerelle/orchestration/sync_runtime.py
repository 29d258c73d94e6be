"""What every sync DAG shares: the sync file, the connectors' API objects, the run's mode and the DAG's settings.

A sync DAG is asset- or cron-scheduled, runs one at a time and takes a ``mode`` parameter so a person can dry-run
it from the UI (``plan``: store the plan only) or make it write (``apply``) whatever the sync file says.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, Param, get_current_context

from passerelle.orchestration.extract_dags import warehouse_connection

START_DATE = datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))
DRY_RUN = "dry run (mode plan): the plan is in sync.plan_items, nothing was written"


def sync_config() -> Any:
    """The sync file (``PASSERELLE_SYNC_FILE``), read at each task run so an edit applies to the next run."""
    from passerelle.settings import settings
    from passerelle.sync.config import load_sync_config

    return load_sync_config(settings().sync_file)


def vendor_api(name: str) -> Any:
    """The connector's API object of ``name``, from its Airflow Connection: the sync writes as the extract reads."""
    from passerelle.connectors.config import SourceConfig
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import retry_settings

    source = get_source(name)
    config = SourceConfig.from_airflow(source.conn_id)
    return source.connect(config, retry_settings(source, config))


def run_mode(config: Any) -> str:
    """``plan`` or ``apply``: the run's ``mode`` parameter, else the flow's section of the sync file, else ``plan``."""
    wanted = (get_current_context()["params"] or {}).get("mode")
    return wanted or (config.mode if config else "plan")


def applying(config: Any) -> bool:
    """Whether this run writes the flow configured by ``config``; says so in the log when it does not."""
    if config is None or run_mode(config) != "apply":
        print(DRY_RUN)
        return False
    return True


def plan_run(configured: bool, missing: str, plan: Callable[[Any, str], Mapping[str, int]]) -> dict[str, int]:
    """``plan(conn, run_id)`` on the warehouse (counts per operation) when the sync file configures the flow;
    else says which ``missing`` section or key would."""
    if not configured:
        print(f"no {missing} in the sync file (PASSERELLE_SYNC_FILE): nothing to plan")
        return {}
    run_id = get_current_context()["run_id"]
    conn = warehouse_connection()
    try:
        return dict(plan(conn, run_id))
    finally:
        conn.close()


def apply_run(config: Any, write: Callable[[Any, str], dict[str, Any]]) -> dict[str, Any]:
    """``write(conn, run_id)`` on the warehouse when this run applies ``config``: the apply task's report, its
    mode first."""
    if not applying(config):
        return {"mode": "plan"}
    run_id = get_current_context()["run_id"]
    conn = warehouse_connection()
    try:
        return {"mode": "apply", **write(conn, run_id)}
    finally:
        conn.close()


def sync_dag(dag_id: str, description: str, schedule: Any, tags: list[str], doc_md: str | None) -> DAG:
    """A sync DAG: one run at a time, a ``mode`` parameter for dry runs from the UI."""
    return DAG(
        dag_id=dag_id, description=description, doc_md=doc_md, schedule=schedule, start_date=START_DATE,
        catchup=False, max_active_runs=1,
        params={"mode": Param(None, type=["null", "string"], enum=[None, "plan", "apply"],
                              description="plan: store the plan only; apply: write; empty: the sync file's mode")},
        tags=["sync", *tags],
        default_args={"owner": "passerelle", "retries": 2, "retry_delay": timedelta(seconds=30),
                      "execution_timeout": timedelta(minutes=30)},
    )
