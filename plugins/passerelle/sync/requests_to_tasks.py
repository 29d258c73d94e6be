"""Customer request → task in the deal's project, and the task's closing → the request closed in the CRM.

The task is made in the tool of the deal's project: a Trello card, an Asana task, a Jira issue under the
deal's epic, a monday item, a Zoho Projects task or a Planner task (:mod:`request_tasks` and the
``*_request_tasks`` modules).

**Plan** (:func:`plan`): the CRM's requests (what the sync file's rule marks as one) are read with their deals.
A request still open and without a task is planned ``create`` in the project linked to its deal
(``sync.links``, kind ``deal_project``, ``active``); one whose deal has no project, or whose deals are in
several, is planned ``skip`` with the reason. A request whose task is done in the project tool, still open in
the CRM and never closed by the sync is planned ``close`` with who closed the task and when. A request the
sync closed once is never closed again (``sync.field_state``): a person who reopens it in the CRM keeps it
open. The plan is stored in ``sync.plan_items``; in ``plan`` mode nothing else happens.

**Apply**: :func:`apply_tasks` makes each planned task exactly once, like a deal's project: the link
(kind ``request_task``, key ``<crm>:<ticket|case>:<id>:task``) is committed ``pending_create`` before any call, the
key is stamped on the task and looked up among the project's tasks before any create, so a rerun or a run
killed after the create adopts the first task. :func:`apply_closes` closes each planned request, records it,
then notes on the request who closed the task and when. A refusal is recorded with the vendor's message and
the next request goes on; an unknown outcome leaves the link pending for the next run's lookup.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime, timezone
from typing import Any, Callable

from passerelle.connectors.timestamps import parse_timestamp
from passerelle.sync import links
from passerelle.sync.config import REQUEST_TASK_TOOLS, RequestsToTasks
from passerelle.sync.crm_requests import CrmRequests, Request
from passerelle.sync.make_once import Tally, make_once
from passerelle.sync.request_tasks import Task, TaskMaker, find
from passerelle.sync.vendor_calls import Rejected, UnknownOutcome, VendorWriter

log = logging.getLogger(__name__)

FLOW = "request_to_task"
KIND = "request_task"
CLOSED_FIELD = "passerelle_closed"
NOTE_FIELD = "passerelle_close_note"
TOOL_NAMES = {"trello": "Trello", "asana": "Asana", "jira": "Jira", "monday": "monday.com",
              "zoho_projects": "Zoho Projects", "planner": "Planner"}

CrmReaders = Callable[[str], CrmRequests]
TaskMakers = Callable[[str], TaskMaker]


def idem_key(request: Request) -> str:
    return f"{request.crm}:{request.crm_object}:{request.crm_id}:task"


def _state(conn: Any, crm: str) -> tuple[dict[str, tuple[str, str]], dict[str, dict[str, Any]], dict[str, str]]:
    """Active deal projects by deal id, request links by request id, requests the sync closed (with when)."""
    with conn.cursor() as cur:
        cur.execute("""SELECT crm_id, pm_system, pm_id FROM sync.links
                        WHERE crm_system = %s AND link_kind = 'deal_project' AND state = 'active'""", (crm,))
        projects = {deal: (tool, pm_id) for deal, tool, pm_id in cur.fetchall()}
        cur.execute("""SELECT crm_id, link_id, state, pm_system, pm_id FROM sync.links
                        WHERE crm_system = %s AND link_kind = %s""", (crm, KIND))
        tasks = {r[0]: {"link_id": r[1], "state": r[2], "pm_system": r[3], "pm_id": r[4]} for r in cur.fetchall()}
        cur.execute("SELECT crm_id, synced_value FROM sync.field_state WHERE crm_system = %s AND field = %s",
                    (crm, CLOSED_FIELD))
        closed = dict(cur.fetchall())
    conn.rollback()
    return projects, tasks, closed


def plan(conn: Any, config: RequestsToTasks, run_id: str, crms: CrmReaders, makers: TaskMakers) -> Counter[str]:
    """Store the run's plan; returns counts per operation (and ``open``, ``closed``: nothing to do)."""
    items: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for rule in config.rules:
        projects, linked, closed_by_sync = _state(conn, rule.crm)
        project_tasks: dict[tuple[str, str], dict[str, Task]] = {}

        def task_of(tool: str, project_id: str, task_id: str, link_id: int) -> Task | None:
            if (tool, project_id) not in project_tasks:
                read = makers(tool).tasks(project_id, link_id)
                project_tasks[(tool, project_id)] = {t.task_id: t for t in read}
            return project_tasks[(tool, project_id)].get(task_id)

        for request in crms(rule.crm).requests(rule):
            base = {"crm_system": request.crm, "crm_id": request.crm_id, "idem_key": idem_key(request)}
            link = linked.get(request.crm_id)
            targets = sorted({projects[d] for d in request.deal_ids if d in projects})
            if link is None or link["state"] == "pending_create":
                if request.closed:
                    counts["closed"] += 1
                    continue
                if not request.deal_ids:
                    items.append({**base, "operation": "skip", "reason": f"{request.crm_object} {request.crm_id} "
                                  "is associated with no deal: a person associates it with the deal it is for"})
                elif not targets:
                    items.append({**base, "operation": "skip", "reason": "no project is linked to deal "
                                  + ", ".join(request.deal_ids) + " (no active deal_project link in sync.links)"})
                elif len(targets) > 1:
                    named = ", ".join(f"{tool} {pm_id}" for tool, pm_id in targets)
                    items.append({**base, "operation": "skip",
                                  "reason": f"its deals are delivered in several projects ({named}): a person makes "
                                            "its task in the right one"})
                elif targets[0][0] not in REQUEST_TASK_TOOLS:
                    items.append({**base, "operation": "skip", "pm_system": targets[0][0],
                                  "reason": f"its project is in {targets[0][0]}, where requests do not become tasks"})
                else:
                    tool, project_id = targets[0]
                    items.append({**base, "operation": "create", "pm_system": tool,
                                  "reason": ("open request, no task yet" if link is None else
                                             "task creation pending since an earlier run: look up, then create"),
                                  "payload": {"crm_object": request.crm_object, "project_id": project_id,
                                              "name": request.title,
                                              "detail": _detail(request), "idem_key": idem_key(request)}})
            elif link["state"] == "unknown":
                items.append({**base, "operation": "skip", "pm_system": link["pm_system"],
                              "reason": "several tasks carry this request's key: a person keeps one and fixes "
                                        "sync.links"})
            elif request.crm_id in closed_by_sync or request.closed:
                counts["closed"] += 1
            else:
                task = next(filter(None, (task_of(tool, project_id, link["pm_id"], link["link_id"])
                                          for tool, project_id in targets if tool == link["pm_system"])), None)
                if task is None:
                    items.append({**base, "operation": "skip", "pm_system": link["pm_system"],
                                  "reason": f"its task {link['pm_id']} is in no project of its deals any more: "
                                            "a person closes the request"})
                elif not task.done:
                    counts["open"] += 1
                elif request.close_to is None:
                    items.append({**base, "operation": "skip", "pm_system": link["pm_system"],
                                  "reason": "its task is done but its pipeline has no closed stage"})
                else:
                    task = makers(link["pm_system"]).closing(task, link["link_id"])
                    items.append({**base, "operation": "close", "pm_system": link["pm_system"],
                                  "reason": f"its task was closed in {TOOL_NAMES[link['pm_system']]}",
                                  "payload": {"crm_object": request.crm_object, "close_to": request.close_to,
                                              "link_id": link["link_id"],
                                              "closed_by": task.closed_by, "closed_at": as_utc(task.closed_at),
                                              "task_url": task.url}})
    return links.store_counted_plan(conn, run_id, FLOW, items, counts, "request → task")


def _detail(request: Request) -> str:
    return "\n".join(filter(None, [request.detail, "", f"Demande {request.crm} {request.crm_object} "
                                                       f"{request.crm_id}, affaire {', '.join(request.deal_ids)}"]))


def close_note(tool: str, closed_by: str | None, closed_at: str | None, task_url: str | None) -> str:
    """The note left on the request: where, by whom and when its task was closed."""
    who = f" par {closed_by}" if closed_by else ""
    when = f" le {closed_at}" if closed_at else ""
    where = f" ({task_url})" if task_url else ""
    return f"Tâche terminée dans {TOOL_NAMES.get(tool, tool)}{who}{when}{where} : demande close par Passerelle."


@dataclass
class ApplyOutcome(Tally):
    closed: int = 0
    rejected: list[str] = field(default_factory=list)


def apply_tasks(conn: Any, run_id: str, makers: TaskMakers, tool: str | None = None) -> ApplyOutcome:
    """Make the run's planned tasks (only ``tool``'s when given), each exactly once."""
    outcome = ApplyOutcome()
    for item in links.planned(conn, run_id, FLOW, "create", pm_system=tool):
        task = item["payload"]
        label = f"{item['crm_system']} request {item['crm_id']}"
        link = links.reserve(conn, kind=KIND, crm_system=item["crm_system"], crm_object=task["crm_object"],
                             crm_id=item["crm_id"], pm_system=item["pm_system"], pm_object="task",
                             idem_key=item["idem_key"], template_ref=None)
        maker = makers(item["pm_system"])
        make_once(conn, item, link, label=label, noun="task", tally=outcome, refused=outcome.rejected,
                  find=partial(find, maker, task["project_id"], link.idem_key, link.link_id),
                  create=partial(maker.create, task["project_id"], task, link.link_id),
                  address=lambda made: (made.task_id, made.url))
    log.info("request → task: %d tasks created, %d adopted, %d refused, %d unknown", outcome.created,
             outcome.adopted, len(outcome.rejected), len(outcome.unknown))
    return outcome


def _record(conn: Any, crm: str, crm_object: str, crm_id: str, name: str, value: str, run_id: str) -> None:
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO sync.field_state (crm_system, crm_object, crm_id, field, synced_value, run_id)
                       VALUES (%s, %s, %s, %s, %s, %s)
                       ON CONFLICT (crm_system, crm_object, crm_id, field) DO NOTHING""",
                    (crm, crm_object, crm_id, name, value, run_id))
    conn.commit()


def _closed(conn: Any, crm: str, crm_id: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM sync.field_state WHERE crm_system = %s AND crm_id = %s AND field = %s",
                    (crm, crm_id, CLOSED_FIELD))
        found = cur.fetchone() is not None
    conn.rollback()
    return found


def apply_closes(conn: Any, run_id: str, crms: CrmReaders, crm: str | None = None) -> ApplyOutcome:
    """Close the run's planned requests (only ``crm``'s when given), each once, with a note on each."""
    outcome = ApplyOutcome()
    for item in links.planned(conn, run_id, FLOW, "close", crm_system=crm):
        close = item["payload"]
        label = f"{item['crm_system']} request {item['crm_id']}"
        if _closed(conn, item["crm_system"], item["crm_id"]):
            links.mark_outcome(conn, item["plan_item_id"], "done")  # another run closed it meanwhile
            continue
        reader = crms(item["crm_system"])
        try:
            reader.close(item["crm_id"], close["close_to"], close["link_id"])
        except Rejected as exc:
            links.mark_outcome(conn, item["plan_item_id"], "rejected")
            outcome.rejected.append(f"{label}: {exc}")
            log.warning("%s: the CRM refused to close it: %s", label, exc)
            continue
        except UnknownOutcome as exc:
            links.mark_outcome(conn, item["plan_item_id"], "unknown")
            outcome.unknown.append(f"{label}: {exc}")
            continue
        _record(conn, item["crm_system"], close["crm_object"], item["crm_id"], CLOSED_FIELD,
                close.get("closed_at") or run_id, run_id)
        outcome.closed += 1
        note = close_note(item["pm_system"], close.get("closed_by"), close.get("closed_at"), close.get("task_url"))
        try:
            note_id = reader.note(item["crm_id"], note, close.get("closed_at") or _now(), close["link_id"])
        except (Rejected, UnknownOutcome) as exc:
            links.mark_outcome(conn, item["plan_item_id"], "done")
            outcome.rejected.append(f"{label}: closed, but its note was not written: {exc}")
            continue
        _record(conn, item["crm_system"], close["crm_object"], item["crm_id"], NOTE_FIELD, note_id or "", run_id)
        links.mark_outcome(conn, item["plan_item_id"], "done")
    log.info("task → request: %d requests closed, %d refused, %d unknown", outcome.closed, len(outcome.rejected),
             len(outcome.unknown))
    return outcome


def _now() -> str:
    return _iso(datetime.now(timezone.utc))


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_utc(value: str | None) -> str | None:
    """A tool's closing time as UTC ISO 8601 (each tool writes its own offset or epoch ms), as the CRMs take it."""
    try:
        return _iso(parse_timestamp(value)) if value else None
    except (TypeError, ValueError):
        return value


def crm_readers(conn: Any, run_id: str, apis: dict[str, Any]) -> CrmReaders:
    """Request readers for the CRMs whose connector API objects are given (``{"hubspot": JsonApi}``, the
    Salesforce session)."""
    from passerelle.sync.hubspot_tickets import HubSpotTickets
    from passerelle.sync.salesforce_cases import SalesforceCases
    from passerelle.sync.salesforce_deals import salesforce_rest

    def reader(crm: str) -> CrmRequests:
        if crm == "hubspot":
            return HubSpotTickets(VendorWriter(apis["hubspot"], conn, run_id, "hubspot"))
        if crm == "salesforce":
            return SalesforceCases(VendorWriter(salesforce_rest(apis["salesforce"]), conn, run_id, "salesforce"))
        raise ValueError(f"no request reader for {crm}")
    return reader


def task_makers(conn: Any, run_id: str, apis: dict[str, Any]) -> TaskMakers:
    """Task makers for the project tools whose connector API objects are given (``{"trello": TrelloApi}``; for
    Jira, monday, Zoho Projects and Planner, on the deal → project flow's makers of the same tool)."""
    from passerelle.sync.deal_projects import project_makers
    from passerelle.sync.jira_request_tasks import JiraTasks
    from passerelle.sync.monday_request_tasks import MondayTasks
    from passerelle.sync.planner_request_tasks import PlannerTasks
    from passerelle.sync.request_tasks import AsanaTasks, TrelloTasks
    from passerelle.sync.zoho_projects_request_tasks import ZohoProjectsTasks

    made: dict[str, TaskMaker] = {}
    on_projects = {"jira": JiraTasks, "monday": MondayTasks, "zoho_projects": ZohoProjectsTasks,
                   "planner": PlannerTasks}

    def maker(tool: str) -> TaskMaker:
        if tool not in made:
            if tool == "trello":
                made[tool] = TrelloTasks(VendorWriter(apis["trello"], conn, run_id, "trello"))
            elif tool == "asana":
                made[tool] = AsanaTasks(apis["asana"], VendorWriter(apis["asana"].api, conn, run_id, "asana"))
            elif tool in on_projects:
                made[tool] = on_projects[tool](project_makers(conn, run_id, apis)(tool))  # type: ignore[arg-type]
            else:
                raise ValueError(f"no task maker for {tool}")
        return made[tool]
    return maker
