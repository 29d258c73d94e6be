"""The sync DAGs: won deals become projects (``sync_deals_to_projects``), delivery flows back to the CRM
(``sync_delivery_to_crm``).

``sync_deals_to_projects``: won deals become projects in the project tools, exactly once.
Scheduled on the validated ``staging.project_links`` Asset (identity resolution, after deals and projects are
validated), so a deal won in any routed CRM is planned as soon as it is staged, knowing which deals a project
already delivers. ``plan_projects`` stores the plan (``sync.plan_items``); when the sync file's mode (or the run's ``mode``
parameter) is ``apply``, ``link_existing_projects`` records the links to projects that already deliver their
deal and ``apply_projects_<tool>`` makes the planned projects of each project tool, in that tool's pool. All tasks
are safe to retry and to rerun from the UI: the link is recorded before any call and its key is looked up at
the vendor before any create (see :mod:`passerelle.sync.deal_projects`). Configuration: ``PASSERELLE_SYNC_FILE``
(example: ``include/sync/sync.example.toml``).

``sync_delivery_to_crm``: scheduled on ``staging.project_links`` and ``marts.invoices`` (new work or new
invoices), ``build_deal_delivery`` rebuilds ``marts.deal_delivery``, ``plan_crm_updates`` plans the changed
fields, ``apply_crm_updates`` writes them in the CRM's pool (see :mod:`passerelle.sync.delivery_to_crm`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, AssetAny, Param, get_current_context, task

from passerelle.orchestration.extract_dags import warehouse_connection
from passerelle.orchestration.invoicing_dag import INVOICES_ASSET
from passerelle.orchestration.transform_dag import staging_asset
from passerelle.sync.config import PROJECT_TOOLS

DAG_ID = "sync_deals_to_projects"
DELIVERY_DAG_ID = "sync_delivery_to_crm"
START_DATE = datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))


def _sync_config() -> Any:
    from passerelle.settings import settings
    from passerelle.sync.config import load_sync_config

    return load_sync_config(settings().sync_file)


def _deal_to_project() -> Any:
    return _sync_config().deal_to_project


def _api(name: str) -> Any:
    """The connector's API object of ``name``, from its Airflow Connection: the sync writes as the extract reads."""
    from passerelle.connectors.config import SourceConfig
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import retry_settings

    source = get_source(name)
    config = SourceConfig.from_airflow(source.conn_id)
    return source.connect(config, retry_settings(source, config))


def _mode(config: Any) -> str:
    wanted = (get_current_context()["params"] or {}).get("mode")
    return wanted or (config.mode if config else "plan")


def plan_projects() -> dict[str, int]:
    from passerelle.sync.deal_projects import plan

    config = _deal_to_project()
    if config is None or not config.routes:
        print("no [deal_to_project] routes in the sync file (PASSERELLE_SYNC_FILE): nothing to plan")
        return {}
    conn = warehouse_connection()
    try:
        return dict(plan(conn, config, get_current_context()["run_id"]))
    finally:
        conn.close()


def link_existing_projects() -> int:
    from passerelle.sync.deal_projects import link_existing

    config = _deal_to_project()
    if config is None or _mode(config) != "apply":
        print("dry run (mode plan): nothing linked")
        return 0
    conn = warehouse_connection()
    try:
        return link_existing(conn, get_current_context()["run_id"])
    finally:
        conn.close()


def apply_projects(tool: str) -> dict[str, Any]:
    """Make the planned projects of one project tool (its own task, in its own pool)."""
    from passerelle.sync.deal_projects import apply, project_makers

    config = _deal_to_project()
    if config is None or _mode(config) != "apply":
        print("dry run (mode plan): the plan is in sync.plan_items, nothing was written")
        return {"mode": "plan"}
    if tool not in {route.pm for route in config.routes}:
        print(f"no route makes {tool} projects")
        return {"mode": "apply", "routes": 0}
    run_id = get_current_context()["run_id"]
    conn = warehouse_connection()
    try:
        outcome = apply(conn, run_id, project_makers(conn, run_id, {tool: _api(tool)}), tool=tool)
    finally:
        conn.close()
    return {"mode": "apply", "created": outcome.created, "adopted": outcome.adopted, "tasks": outcome.cards,
            "rejected": outcome.rejected, "unknown": outcome.unknown}


def _sync_dag(dag_id: str, description: str, schedule: Any, tags: list[str]) -> DAG:
    """A sync DAG: asset-scheduled, one run at a time, a ``mode`` parameter for dry runs from the UI."""
    return DAG(
        dag_id=dag_id, description=description, doc_md=__doc__, schedule=schedule, start_date=START_DATE,
        catchup=False, max_active_runs=1,
        params={"mode": Param(None, type=["null", "string"], enum=[None, "plan", "apply"],
                              description="plan: store the plan only; apply: write; empty: the sync file's mode")},
        tags=["sync", *tags],
        default_args={"owner": "passerelle", "retries": 2, "retry_delay": timedelta(seconds=30),
                      "execution_timeout": timedelta(minutes=30)},
    )


def build_sync_dag() -> DAG:
    with _sync_dag(DAG_ID, "Won deals → projects in the project tools, exactly once (plan, then apply)",
                   [staging_asset("staging.project_links")], ["crm", "projects"]) as dag:
        planned = task(task_id="plan_projects")(plan_projects)()
        linked = task(task_id="link_existing_projects")(link_existing_projects)()
        planned >> linked
        for tool in PROJECT_TOOLS:
            linked >> task(task_id=f"apply_projects_{tool}", pool=f"{tool}_api")(apply_projects)(tool)
    return dag


def build_deal_delivery() -> int:
    from passerelle.sync.delivery_to_crm import build_figures

    conn = warehouse_connection()
    try:
        return build_figures(conn)
    finally:
        conn.close()


def plan_crm_updates() -> dict[str, int]:
    from passerelle.sync.delivery_to_crm import plan

    config = _sync_config().delivery_to_crm
    if config is None or not config.crms:
        print("no [delivery_to_crm] crms in the sync file (PASSERELLE_SYNC_FILE): nothing to plan")
        return {}
    conn = warehouse_connection()
    try:
        return dict(plan(conn, config.crms, get_current_context()["run_id"]))
    finally:
        conn.close()


def apply_crm_updates() -> dict[str, Any]:
    from passerelle.sync.delivery_to_crm import apply, crm_writers

    config = _sync_config().delivery_to_crm
    if config is None or _mode(config) != "apply":
        print("dry run (mode plan): the plan is in sync.plan_items, nothing was written")
        return {"mode": "plan"}
    run_id = get_current_context()["run_id"]
    conn = warehouse_connection()
    try:
        outcome = apply(conn, run_id, crm_writers(conn, run_id, {crm: _api(crm) for crm in config.crms}))
    finally:
        conn.close()
    return {"mode": "apply", "deals": outcome.written, "fields": outcome.fields, "calls": outcome.calls,
            "refused": outcome.refused}


def build_delivery_dag() -> DAG:
    with _sync_dag(DELIVERY_DAG_ID, "Delivery → CRM: progress, hours, amounts invoiced and paid, next milestone "
                   "(plan, then apply)", AssetAny(staging_asset("staging.project_links"), INVOICES_ASSET), ["crm"]) as dag:
        built = task(task_id="build_deal_delivery")(build_deal_delivery)()
        planned = task(task_id="plan_crm_updates")(plan_crm_updates)()
        applied = task(task_id="apply_crm_updates", pool="hubspot_api")(apply_crm_updates)()
        built >> planned >> applied
    return dag
