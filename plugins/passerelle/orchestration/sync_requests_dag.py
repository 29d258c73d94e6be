"""``sync_requests_to_tasks``: customer requests become tasks in their deal's project; a task done closes its request.

Every quarter of an hour (requests are read from the CRM itself, not from an extract), ``plan_requests``
reads the requests the sync file's rules mark, the project tools' tasks they have, and stores the plan
(``sync.plan_items``, flow ``request_to_task``: ``create``, ``close`` or ``skip`` with the reason). When the sync
file's mode (or the run's ``mode`` parameter) is ``apply``, ``apply_request_tasks_<tool>`` makes the planned
tasks of each project tool in that tool's pool, and ``close_requests_<crm>`` closes the requests whose task is
done (a HubSpot ticket moved to a closed stage, a Salesforce Case to ``Closed``), in the CRM's pool, with a
note of who closed the task and when. Every task is safe to retry and to rerun:
a task's link is recorded before any call and its key looked up before any create, a request closed once is
never closed again (see :mod:`passerelle.sync.requests_to_tasks`). Configuration: ``[requests_to_tasks]`` in
``PASSERELLE_SYNC_FILE`` (example: ``include/sync/sync.example.toml``).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, task

from passerelle.orchestration.sync_runtime import apply_run, plan_run, sync_config, sync_dag, vendor_api
from passerelle.sync.config import REQUEST_CRMS, REQUEST_TASK_TOOLS

DAG_ID = "sync_requests_to_tasks"
SCHEDULE = CronTriggerTimetable("*/15 * * * *", timezone="Europe/Paris")
"""A trigger, not a data interval: each run reads the requests and tasks as they are now."""


class _Connected(dict):  # type: ignore[type-arg]
    """Connector API objects made on first use: a run connects only to the tools its requests need."""

    def __missing__(self, name: str) -> Any:
        self[name] = vendor_api(name)
        return self[name]


def _config() -> Any:
    return sync_config().requests_to_tasks


def plan_requests() -> dict[str, int]:
    from passerelle.sync.requests_to_tasks import crm_readers, plan, task_makers

    config = _config()
    apis = _Connected()
    return plan_run(config is not None and bool(config.rules), "[requests_to_tasks] rules", lambda conn, run_id: plan(
        conn, config, run_id, crm_readers(conn, run_id, apis), task_makers(conn, run_id, apis)))


def apply_request_tasks(tool: str) -> dict[str, Any]:
    """Make the planned tasks of one project tool (its own task, in its own pool)."""
    from passerelle.sync.requests_to_tasks import apply_tasks, task_makers

    def write(conn: Any, run_id: str) -> dict[str, Any]:
        outcome = apply_tasks(conn, run_id, task_makers(conn, run_id, _Connected()), tool=tool)
        return {"created": outcome.created, "adopted": outcome.adopted, "rejected": outcome.rejected,
                "unknown": outcome.unknown}
    return apply_run(_config(), write)


def close_requests(crm: str) -> dict[str, Any]:
    """Close the requests of one CRM whose task is done (its own task, in its own pool)."""
    from passerelle.sync.requests_to_tasks import apply_closes, crm_readers

    def write(conn: Any, run_id: str) -> dict[str, Any]:
        outcome = apply_closes(conn, run_id, crm_readers(conn, run_id, _Connected()), crm=crm)
        return {"closed": outcome.closed, "rejected": outcome.rejected, "unknown": outcome.unknown}
    return apply_run(_config(), write)


def build_requests_dag() -> DAG:
    with sync_dag(DAG_ID, "Customer requests → tasks in the deal's project; a task done closes its request "
                  "(plan, then apply)", SCHEDULE, ["crm", "projects", "requests"], __doc__) as dag:
        planned = task(task_id="plan_requests")(plan_requests)()
        for tool in REQUEST_TASK_TOOLS:
            planned >> task(task_id=f"apply_request_tasks_{tool}", pool=f"{tool}_api")(apply_request_tasks)(tool)
        for crm in REQUEST_CRMS:
            planned >> task(task_id=f"close_requests_{crm}", pool=f"{crm}_api")(close_requests)(crm)
    return dag
