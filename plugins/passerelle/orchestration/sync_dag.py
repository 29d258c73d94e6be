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
fields, ``apply_crm_updates_<crm>`` writes each CRM's in that CRM's pool (see :mod:`passerelle.sync.delivery_to_crm`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, AssetAny, get_current_context, task

from passerelle.orchestration.extract_dags import warehouse_connection
from passerelle.orchestration.invoicing_dag import INVOICES_ASSET
from passerelle.orchestration.sync_runtime import apply_run, plan_run, run_mode, sync_config, sync_dag, vendor_api
from passerelle.orchestration.transform_dag import staging_asset
from passerelle.sync.config import CRM_WRITERS, PROJECT_TOOLS

DAG_ID = "sync_deals_to_projects"
DELIVERY_DAG_ID = "sync_delivery_to_crm"


def _deal_to_project() -> Any:
    return sync_config().deal_to_project


def plan_projects() -> dict[str, int]:
    from passerelle.sync.deal_projects import plan

    config = _deal_to_project()
    return plan_run(config is not None and bool(config.routes), "[deal_to_project] routes",
                    lambda conn, run_id: plan(conn, config, run_id))


def link_existing_projects() -> int:
    from passerelle.sync.deal_projects import link_existing

    config = _deal_to_project()
    if config is None or run_mode(config) != "apply":
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
    if config is not None and run_mode(config) == "apply" and tool not in {route.pm for route in config.routes}:
        print(f"no route makes {tool} projects")
        return {"mode": "apply", "routes": 0}

    def write(conn: Any, run_id: str) -> dict[str, Any]:
        outcome = apply(conn, run_id, project_makers(conn, run_id, {tool: vendor_api(tool)}), tool=tool)
        return {"created": outcome.created, "adopted": outcome.adopted, "tasks": outcome.cards,
                "rejected": outcome.rejected, "unknown": outcome.unknown}
    return apply_run(config, write)


def build_sync_dag() -> DAG:
    with sync_dag(DAG_ID, "Won deals → projects in the project tools, exactly once (plan, then apply)",
                  [staging_asset("staging.project_links")], ["crm", "projects"], __doc__) as dag:
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

    config = sync_config().delivery_to_crm
    return plan_run(config is not None and bool(config.crms), "[delivery_to_crm] crms",
                    lambda conn, run_id: plan(conn, config.crms, run_id))


def apply_crm_updates(crm: str) -> dict[str, Any]:
    """Write the planned updates of one CRM (its own task, in its own pool)."""
    from passerelle.sync.delivery_to_crm import apply, crm_writers

    config = sync_config().delivery_to_crm
    if config is not None and run_mode(config) == "apply" and crm not in config.crms:
        print(f"{crm} is not in [delivery_to_crm] crms: nothing to write")
        return {"mode": "apply", "deals": 0}

    def write(conn: Any, run_id: str) -> dict[str, Any]:
        outcome = apply(conn, run_id, crm_writers(conn, run_id, {crm: vendor_api(crm)}), crm=crm)
        return {"deals": outcome.written, "fields": outcome.fields, "calls": outcome.calls,
                "refused": outcome.refused}
    return apply_run(config, write)


def build_delivery_dag() -> DAG:
    with sync_dag(DELIVERY_DAG_ID, "Delivery → CRM: progress, hours, amounts invoiced and paid, next milestone "
                  "(plan, then apply)", AssetAny(staging_asset("staging.project_links"), INVOICES_ASSET), ["crm"],
                  __doc__) as dag:
        built = task(task_id="build_deal_delivery")(build_deal_delivery)()
        planned = task(task_id="plan_crm_updates")(plan_crm_updates)()
        built >> planned
        for crm in CRM_WRITERS:
            planned >> task(task_id=f"apply_crm_updates_{crm}", pool=f"{crm}_api")(apply_crm_updates)(crm)
    return dag
