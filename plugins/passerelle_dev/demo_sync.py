"""The demo's two-way sync: the four flows, as people and the scheduler would drive them.

1. Won deals become projects (HubSpot and Salesforce → Trello, Pipedrive → monday.com, Zoho CRM → Zoho
   Projects, Dynamics 365 → Planner), and the delivery figures go back to the deals of the six CRMs.
2. A sales rep logs three HubSpot tickets marked as requests on deals that now have a board, and adds two Zoho
   CRM tasks to a deal delivered in Zoho Projects: the request and task DAGs make their tasks.
3. A project manager closes one request's card and retitles one Zoho Projects task: the next runs close the
   ticket and carry the title back to the CRM; a task's end date moved on both sides resolves to the later edit,
   recorded as a conflict.
4. Every DAG runs once more: nothing is written (no echo).

Each step runs the real DAGs (``dag.test()``) against the sandbox; people's edits go through the emulators'
control API, as data the emulators then serve. The summary counts, per flow, what was created, updated, linked,
refused and held, then the writes per vendor, the conflicts and the links (``sync.plan_items``, ``sync.writes``,
``sync.conflicts``, ``sync.links``); people's edits and each DAG run are in the demo's log file.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone
from typing import Any

from passerelle.orchestration.runner import run_dag_test
from passerelle.settings import settings
from passerelle_dev.console import print_table
from passerelle_dev.demo_output import Progress, console, say, totals

log = logging.getLogger(__name__)

DAGS = ("sync_deals_to_projects", "sync_delivery_to_crm", "sync_requests_to_tasks", "sync_zoho_tasks")
DYNAMICS_DEAL_URL = "https://passerelle-demo.crm4.dynamics.com/main.aspx?etn=opportunity&id={deal_id}&pagetype=entityrecord"
FIRST_RUN = datetime(2026, 3, 4, 6, tzinfo=timezone.utc)


def sync_file(planner_group: str, jira_project: str) -> str:
    return f"""[deal_to_project]
mode = "apply"
won_after = 2026-01-01

[[deal_to_project.routes]]
crm = "hubspot"
pm = "trello"

[[deal_to_project.routes]]
crm = "salesforce"
pm = "trello"

[[deal_to_project.routes]]
crm = "pipedrive"
pm = "monday"

[[deal_to_project.routes]]
crm = "zoho_crm"
pm = "zoho_projects"

[[deal_to_project.routes]]
crm = "bigin"
pm = "jira"
container = "{jira_project}"

[[deal_to_project.routes]]
crm = "dynamics"
pm = "planner"
container = "{planner_group}"
deal_url = "{DYNAMICS_DEAL_URL}"

[delivery_to_crm]
mode = "apply"
crms = ["salesforce", "hubspot", "zoho_crm", "bigin", "pipedrive", "dynamics"]

[requests_to_tasks]
mode = "apply"

[[requests_to_tasks.rules]]
crm = "hubspot"
categories = ["FEATURE_REQUEST"]

[zoho_tasks]
mode = "apply"
"""


def _advance(sandbox: Any, moment: datetime) -> None:
    for vendor in sandbox.vendors.values():
        vendor.control.set_clock(moment)


def _run_all(dags: dict[str, Any], logical: datetime, only: tuple[str, ...] = DAGS) -> bool:
    ok = True
    for dag_id in only:
        result = run_dag_test(dags[dag_id], logical)
        if str(result.state) != "success":
            say(f"  {dag_id} ({result.run_id}): {result.state}; see the full log")
            ok = False
    return ok


def _log_requests(conn: Any, sandbox: Any) -> list[str]:
    """Three feature requests on HubSpot deals that have a board now; returns the ticket ids."""
    with conn.cursor() as cur:
        cur.execute("""SELECT crm_id FROM sync.links WHERE link_kind = 'deal_project' AND crm_system = 'hubspot'
                          AND pm_system = 'trello' AND state = 'active' ORDER BY link_id LIMIT 3""")
        deals = [row[0] for row in cur.fetchall()]
    conn.rollback()
    hubspot = sandbox.vendors["hubspot"].control
    subjects = ("Export des factures au format CSV", "Accès lecteur pour le contrôleur de gestion",
                "Relance automatique des jalons en retard")
    tickets = []
    for deal, subject in zip(deals, subjects):
        made = hubspot.create("tickets", {"subject": subject, "content": f"{subject} : demande du client",
                                          "hs_pipeline": "0", "hs_pipeline_stage": "1",
                                          "hs_ticket_category": "FEATURE_REQUEST"},
                              associations=[{"to_type": "deals", "to_id": deal}])
        tickets.append(str(made["id"]))
    return tickets


def _add_zoho_tasks(sandbox: Any) -> list[str]:
    """Two tasks a sales rep adds in Zoho CRM to a deal delivered in Zoho Projects; returns their ids."""
    crm, pm = sandbox.vendors["zoho_crm"].control, sandbox.vendors["zoho_projects"].control
    project = next(p for p in sorted(pm.records("projects"), key=lambda p: int(p["id"]))
                   if (p.get("crm") or {}).get("deal") and p.get("status", {}).get("name", "Active") != "Closed")
    user = sorted(crm.records("users"), key=lambda u: int(u["id"]))[1]
    who = {"name": user["full_name"], "id": user["id"]}
    made = []
    for subject, due in (("Préparer la recette avec le client", "2026-04-15"), ("Former les utilisateurs", "2026-04-30")):
        made.append(crm.create("Tasks", {
            "Subject": subject, "Description": f"{subject} (demandé en réunion de lancement)", "Due_Date": due,
            "Priority": "High", "Status": "Not Started", "Owner": {**who, "email": user["email"]},
            "What_Id": project["crm"]["deal"], "$se_module": "Deals", "Modified_By": who})["id"])
    return made


def _pm_id(conn: Any, kind: str, crm_id: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT pm_id FROM sync.links WHERE link_kind = %s AND crm_id = %s", (kind, crm_id))
        row = cur.fetchone()
    conn.rollback()
    return row[0] if row else None


def _people_edit(conn: Any, sandbox: Any, clock: datetime, tickets: list[str], zoho_tasks: list[str]) -> None:
    """A project manager closes the first request's card and retitles the first Zoho task in Zoho Projects; the
    second task's end date is moved in the CRM, then five minutes later in Zoho Projects (a conflict)."""
    card = _pm_id(conn, "request_task", tickets[0])
    task = _pm_id(conn, "task_task", zoho_tasks[0])
    other = _pm_id(conn, "task_task", zoho_tasks[1])
    if other:
        sandbox.vendors["zoho_crm"].control.update("Tasks", zoho_tasks[1], {"Due_Date": "2026-05-06"})
        _advance(sandbox, clock + timedelta(minutes=5))
        sandbox.vendors["zoho_projects"].control.update("tasks", other.rsplit("/", 1)[-1], {"end_date": "2026-05-13"})
        log.info("Zoho: task %s due 06/05/2026 in the CRM, then 13/05/2026 in Zoho Projects", zoho_tasks[1])
    if card:
        trello = sandbox.vendors["trello"].control
        person = trello.create("members", {"fullName": "Camille Durand", "username": "camilledurand"})["id"]
        trello.update("cards", card, {"idList": "Terminé", "idMemberCreator": person})
        log.info("Trello: card %s (ticket %s) moved to Terminé by Camille Durand", card, tickets[0])
    if task:
        task_id = task.rsplit("/", 1)[-1]
        sandbox.vendors["zoho_projects"].control.update("tasks", task_id, {"name": "Recette avec le client (2 jours)"})
        log.info("Zoho Projects: task %s retitled", task_id)


def run(dags: dict[str, Any], conn: Any, sandbox: Any, progress: Progress) -> bool:
    path = settings().state_dir / "demo-sync.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    group = sandbox.vendors["planner"].control.records("groups")[0]["id"]
    jira_project = next(p["key"] for p in sandbox.vendors["jira"].control.records("projects") if not p.get("deleted"))
    path.write_text(sync_file(group, jira_project), encoding="utf-8")
    os.environ["PASSERELLE_SYNC_FILE"] = str(path)
    clock = FIRST_RUN + timedelta(days=1)
    _advance(sandbox, clock)
    with progress.stage("sync 1: deals → projects") as counts:
        before = _writes(conn)
        ok = _run_all(dags, FIRST_RUN, DAGS[:2])
        counts["DAGs"], counts["writes"] = 2, _writes(conn) - before
    with progress.stage("sync 1: requests, Zoho tasks") as counts:
        tickets = _log_requests(conn, sandbox)
        zoho_tasks = _add_zoho_tasks(sandbox)
        _advance(sandbox, clock := clock + timedelta(minutes=20))
        before = _writes(conn)
        ok &= _run_all(dags, FIRST_RUN + timedelta(minutes=20), DAGS[2:])
        counts["HubSpot requests"], counts["Zoho CRM tasks"] = len(tickets), len(zoho_tasks)
        counts["writes"] = _writes(conn) - before
    with progress.stage("sync 2: people's edits") as counts:
        _advance(sandbox, clock := clock + timedelta(minutes=20))
        _people_edit(conn, sandbox, clock, tickets, zoho_tasks)
        _advance(sandbox, clock := clock + timedelta(minutes=20))
        before = _writes(conn)
        ok &= _run_all(dags, FIRST_RUN + timedelta(hours=1))
        counts["DAGs"], counts["writes"] = len(DAGS), _writes(conn) - before
    with progress.stage("sync 3: nothing changed") as counts:
        _advance(sandbox, clock + timedelta(minutes=20))
        before = _writes(conn)
        ok &= _run_all(dags, FIRST_RUN + timedelta(hours=2))
        again = _writes(conn) - before
        counts["DAGs"], counts["writes"] = len(DAGS), again
    return ok and again == 0


def _writes(conn: Any) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sync.writes WHERE method <> 'GET'")
        count = cur.fetchone()[0]
    conn.rollback()
    return count


SUMMARY = """
WITH items AS (
  SELECT flow, coalesce(CASE WHEN flow IN ('deal_to_project', 'request_to_task') THEN pm_system END,
                        crm_system) AS vendor, operation, outcome, crm_id
    FROM sync.plan_items)
SELECT flow, vendor,
       count(*) FILTER (WHERE operation = 'create' AND outcome IN ('done', 'adopted')) AS created,
       count(*) FILTER (WHERE operation NOT IN ('create', 'link', 'skip', 'report') AND outcome = 'done') AS updated,
       count(*) FILTER (WHERE operation = 'link' AND outcome = 'done') AS linked,
       count(*) FILTER (WHERE outcome = 'rejected') AS refused,
       count(DISTINCT crm_id) FILTER (WHERE operation IN ('skip', 'report')) AS held
  FROM items GROUP BY 1, 2 ORDER BY 1, 2
"""


def print_report(conn: Any) -> None:
    """The sync report: per flow what was made, updated, linked, refused or held; conflicts; writes; links."""
    with conn.cursor() as cur:
        cur.execute(SUMMARY)
        summary = cur.fetchall()
        cur.execute("""SELECT c.field || ' on ' || l.crm_system || ' ' || l.crm_id || ' → ' || coalesce(c.winner, 'personne'),
                              count(*) FROM sync.conflicts AS c LEFT JOIN sync.links AS l USING (link_id)
                        GROUP BY 1 ORDER BY 1""")
        conflicts = cur.fetchall()
        cur.execute("SELECT vendor, count(*) FROM sync.writes WHERE method <> 'GET' GROUP BY 1 ORDER BY 1")
        writes = cur.fetchall()
        cur.execute("SELECT link_kind || ' ' || state, count(*) FROM sync.links GROUP BY 1 ORDER BY 1")
        links = cur.fetchall()
    conn.rollback()
    by_flow: dict[str, list[int]] = {}
    for flow, _vendor, *numbers in summary:
        by_flow[flow] = [a + b for a, b in zip(by_flow.get(flow, [0] * len(numbers)), numbers)]
    print_table("two-way sync by flow, all runs (sync.plan_items)",
                ("flow", "created", "updated", "linked", "refused", "held"),
                [(flow, *numbers) for flow, numbers in by_flow.items()], numeric_from=1, file=console())
    say()
    say(f"vendor writes (sync.writes): {totals(writes)}")
    say(f"conflicts (sync.conflicts): {totals(conflicts)}")
    say(f"links (sync.links): {totals(links)}")
