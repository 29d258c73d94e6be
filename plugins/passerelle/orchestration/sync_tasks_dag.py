"""The ``sync_zoho_tasks`` DAG: Zoho CRM tasks ↔ the tasks of their Zoho Projects project, six fields both ways.

Scheduled on the validated ``staging.project_links`` Asset (identity resolution says which project a
deal's or an account's tasks belong to) and on the raw Zoho Projects task stream (each extract of the
portal: CRM tasks are not extracted, the plan reads them live). ``plan_zoho_tasks`` reads both products'
current tasks and stores the plan (``sync.plan_items``); when the sync file's ``[zoho_tasks]`` mode (or
the run's ``mode`` parameter) is ``apply``, ``apply_zoho_tasks`` makes the creates and writes. Both run
in the ``zoho_projects_api`` pool: the portal's budget of 100 calls in 2 minutes is shared with the
extract. Safe to retry and to rerun: the ledger (``sync.link_fields``) makes a rerun write nothing, and a
create's key is looked up before it is made again (see :mod:`passerelle.sync.zoho_tasks`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, AssetAny, task

from passerelle.orchestration.extract_dags import raw_asset
from passerelle.orchestration.sync_runtime import apply_run, plan_run, sync_config, sync_dag, vendor_api
from passerelle.orchestration.transform_dag import staging_asset

DAG_ID = "sync_zoho_tasks"
POOL = "zoho_projects_api"


def _config() -> Any:
    return sync_config().zoho_tasks


def plan_zoho_tasks() -> dict[str, int]:
    from passerelle.sync.zoho_tasks import plan, sides

    config = _config()
    return plan_run(config is not None, "[zoho_tasks] section", lambda conn, run_id: plan(
        conn, config, run_id, *sides(conn, run_id, vendor_api("zoho_crm"), vendor_api("zoho_projects"))))


def apply_zoho_tasks() -> dict[str, Any]:
    from passerelle.sync.zoho_tasks import apply, sides

    def write(conn: Any, run_id: str) -> dict[str, Any]:
        outcome = apply(conn, run_id, *sides(conn, run_id, vendor_api("zoho_crm"), vendor_api("zoho_projects")))
        return {"created": outcome.created, "adopted": outcome.adopted, "crm_writes": outcome.crm_writes,
                "pm_writes": outcome.pm_writes, "conflicts": outcome.conflicts, "parked": outcome.parked,
                "stale": outcome.stale, "unknown": outcome.unknown}
    return apply_run(_config(), write)


def build_zoho_tasks_dag() -> DAG:
    schedule = AssetAny(staging_asset("staging.project_links"), raw_asset("zoho_projects", "tasks"))
    with sync_dag(DAG_ID, "Zoho CRM tasks ↔ Zoho Projects tasks, six fields both ways (plan, then apply)",
                  schedule, ["crm", "projects", "zoho"], __doc__) as dag:
        planned = task(task_id="plan_zoho_tasks", pool=POOL)(plan_zoho_tasks)()
        planned >> task(task_id="apply_zoho_tasks", pool=POOL)(apply_zoho_tasks)()
    return dag
