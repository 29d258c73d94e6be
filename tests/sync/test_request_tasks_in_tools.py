"""Customer request → task in Jira, Zoho Projects, Planner and monday.com, and the task's closing → the request
closed, through the HubSpot emulator, each tool's emulator and a staged warehouse.

The deals' projects are made by the won deal → project flow of the tool first (a Jira epic, a Zoho Projects
project, a Planner plan, a monday board); the requests are HubSpot tickets associated with those deals. A
person's work in the tool (closing a task) goes through the tool's control API, or its API where only that
leaves the record a real tool keeps (Jira's changelog).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from passerelle.sync.config import load_sync_config
from passerelle.sync.requests_to_tasks import as_utc
from tests.db import tuples
from tests.sync.conftest import connector_api, quiet
from tests.sync.project_tools import route_file, run_sync
from tests.sync.test_requests_to_tasks import cycle, ticket

DEAL_URL = "https://app.hubspot.com/contacts/4410001/record/0-3/{deal_id}"
CLOSED = {"id": "2298000000000042", "name": "Closed", "is_closed": True}


def key_line(ticket_id: str) -> str:
    return f"Passerelle: hubspot:ticket:{ticket_id}:task"


@dataclass
class Tool:
    """One project tool as the tests drive it: its control client, connector API and deal projects."""

    name: str
    control: Any
    api: Any
    projects: dict[str, str]
    """Deal id → the deal's project (epic, project, plan or board id)."""
    with_key: Callable[[str], list[dict[str, Any]]]
    """The tool's tasks carrying a ticket's key line."""
    project_of: Callable[[dict[str, Any]], str]
    close: Callable[[dict[str, Any]], tuple[str, str]]
    """A person closes the task: returns who (by name) and when, as the tool records them."""
    refuse: Callable[[str], None]
    """The tool will refuse the next task made in this project."""
    accept: Callable[[str], None] = lambda project_id: None


def _projects(conn: Any, tmp_path: Path, name: str, api: Any, **route: str) -> dict[str, str]:
    config = load_sync_config(route_file(tmp_path, name, **route)).deal_to_project
    outcome = run_sync(conn, config, name, api, "projects")
    assert outcome.created >= 3 and not outcome.rejected and not outcome.unknown
    return dict(tuples(conn, "SELECT crm_id, pm_id FROM sync.links WHERE link_kind = 'deal_project' "
                             "AND state = 'active' AND pm_system = %s", name))


def jira_tool(sandbox: Any, conn: Any, tmp_path: Path) -> Tool:
    control, api = quiet(sandbox, "jira"), connector_api(sandbox, "jira")
    key = next(p["key"] for p in control.records("projects") if not p.get("deleted"))
    projects = _projects(conn, tmp_path, "jira", api, container=key)

    def with_key(ticket_id: str) -> list[dict[str, Any]]:
        return [i for i in control.records("issues") if key_line(ticket_id) in str(i["fields"].get("description"))]

    def close(issue: dict[str, Any]) -> tuple[str, str]:
        moved = api.api.http.post(f"{api.api.base_url}/rest/api/3/issue/{issue['id']}/transitions",
                                  json={"transition": {"id": "41"}}, timeout=30,
                                  headers={"Authorization": api.api.authorization()})
        assert moved.status_code == 204, moved.text
        me = api.api.request("GET", "/rest/api/3/myself", stream="test")
        history = api.api.request("GET", f"/rest/api/3/issue/{issue['id']}/changelog", stream="test")["values"][-1]
        assert history["author"]["accountId"] == me["accountId"]
        return me["displayName"], history["created"]

    def refuse(epic_id: str) -> None:  # the epic's read passes, the create is refused
        control.add_fault("error", status=400, path="/rest/api/3/issue", after=1, times=1,
                          message="Field 'summary' cannot be set.")

    return Tool("jira", control, api, projects, with_key, lambda i: str((i["fields"].get("parent") or {}).get("id")),
                close, refuse)


def zoho_projects_tool(sandbox: Any, conn: Any, tmp_path: Path) -> Tool:
    control = quiet(sandbox, "zoho_projects")
    api = connector_api(sandbox, "zoho_projects", max_requests_per_window=10_000)
    projects = _projects(conn, tmp_path, "zoho_projects", api)

    def close(task: dict[str, Any]) -> tuple[str, str]:
        when = "2026-03-02T16:45:00.000Z"
        control.update("tasks", task["id"], {"status": CLOSED, "percent_complete": 100, "completed_time": when,
                                             "last_modified_by": {"name": "Camille Durand",
                                                                  "email": "camille.durand@example.fr"}})
        return "Camille Durand", when

    def refuse(project_id: str) -> None:  # the lookup's listing passes, the create is refused
        control.add_fault("error", status=400, path=f"/projects/{project_id}/tasks", after=1, times=1,
                          message="Given input is invalid")

    return Tool("zoho_projects", control, api, projects,
                lambda t: [x for x in control.records("tasks") if key_line(t) in (x.get("description") or "")],
                lambda task: str(task["project"]["id"]), close, refuse)


def planner_tool(sandbox: Any, conn: Any, tmp_path: Path) -> Tool:
    control = sandbox.vendors["planner"].control
    control.config(enforce_throttling=False)
    api = connector_api(sandbox, "planner")
    group = control.records("groups")[0]["id"]
    projects = _projects(conn, tmp_path, "planner", api, container=group, deal_url=DEAL_URL)

    def with_key(ticket_id: str) -> list[dict[str, Any]]:
        stamped = {d["id"] for d in control.records("details")
                   if key_line(ticket_id) in (d.get("description") or "").splitlines()}
        return [t for t in control.records("tasks") if t["id"] in stamped]

    def close(task: dict[str, Any]) -> tuple[str, str]:
        user = control.records("users")[-1]
        done = control.update("tasks", task["id"], {"percentComplete": 100,
                                                    "completedBy": {"user": {"id": user["id"], "displayName": None}}})
        return user["displayName"], done["record"]["completedDateTime"]

    def refuse(plan_id: str) -> None:
        control.add_fault("error", status=400, path="/v1.0/planner/tasks", times=1,
                          message="Schema validation has failed.")

    return Tool("planner", control, api, projects, with_key, lambda task: task["planId"], close, refuse)


def monday_tool(sandbox: Any, conn: Any, tmp_path: Path) -> Tool:
    control = sandbox.vendors["monday"].control
    control.config(enforce_complexity=False)
    api = connector_api(sandbox, "monday")
    workspace = control.records("boards")[0]["workspace_id"]
    projects = _projects(conn, tmp_path, "monday", api, container=workspace)

    def with_key(ticket_id: str) -> list[dict[str, Any]]:
        return [i for i in control.records("items")
                if (i.get("column_values") or {}).get("crm_request") == key_line(ticket_id)]

    def close(item: dict[str, Any]) -> tuple[str, str]:
        done = control.update("items", item["id"], {"status": "Terminé"})
        me = api.query("query { me { name } }", {}, stream="test")["me"]["name"]
        return me, done["record"]["updated_at"]

    def refuse(board_id: str) -> None:  # a board people deleted: monday refuses any change to it
        control.update("boards", board_id, {"state": "deleted"})

    def accept(board_id: str) -> None:
        control.update("boards", board_id, {"state": "active"})

    return Tool("monday", control, api, projects, with_key, lambda item: str(item["board_id"]), close, refuse,
                accept)


TOOLS = {"jira": jira_tool, "zoho_projects": zoho_projects_tool, "planner": planner_tool, "monday": monday_tool}


@pytest.fixture(params=sorted(TOOLS))
def tool(request, sandbox, staged_conn, tmp_path, hubspot) -> Tool:
    return TOOLS[request.param](sandbox, staged_conn, tmp_path)


def made(conn: Any, run_id: str) -> int:
    return tuples(conn, "SELECT count(*) FROM sync.writes WHERE run_id = %s AND operation = 'create_request_task' "
                        "AND outcome = 'succeeded'", run_id)[0][0]


def test_a_request_makes_one_task_in_its_deals_project_and_a_rerun_makes_none(staged_conn, tool, hubspot,
                                                                               hubspot_api) -> None:
    deals = sorted(tool.projects)[:2]
    requests = {ticket(hubspot, deal, f"Demande {n}"): deal for n, deal in enumerate(deals, 1)}
    apis = {tool.name: tool.api}

    counts, first, _ = cycle(staged_conn, hubspot_api, apis, "req-1")
    assert counts["create"] == 2 and counts["skip"] == 0
    assert (first.created, first.rejected, first.unknown) == (2, [], [])
    for ticket_id, deal in requests.items():
        [task] = tool.with_key(ticket_id)
        assert tool.project_of(task) == str(tool.projects[deal])
    assert made(staged_conn, "req-1") == 2
    assert {(t, s) for t, s in tuples(staged_conn, "SELECT crm_id, state FROM sync.links "
                                                   "WHERE link_kind = 'request_task'")} == \
        {(t, "active") for t in requests}

    for run in ("req-2", "req-3"):
        counts, again, _ = cycle(staged_conn, hubspot_api, apis, run)
        assert (again.created, again.adopted, counts["create"], counts["open"]) == (0, 0, 0, 2)
        assert made(staged_conn, run) == 0
    assert all(len(tool.with_key(t)) == 1 for t in requests)


def test_a_task_whose_link_was_lost_is_adopted_by_its_key_not_made_twice(staged_conn, tool, hubspot,
                                                                         hubspot_api) -> None:
    ticket_id = ticket(hubspot, sorted(tool.projects)[0], "Demande perdue")
    apis = {tool.name: tool.api}
    cycle(staged_conn, hubspot_api, apis, "lost-1")
    with staged_conn.cursor() as cur:  # the run died after the create, before the link was settled
        cur.execute("UPDATE sync.links SET state = 'pending_create', pm_id = NULL WHERE link_kind = 'request_task'")
    staged_conn.commit()
    _, again, _ = cycle(staged_conn, hubspot_api, apis, "lost-2")
    assert (again.created, again.adopted) == (0, 1)
    assert len(tool.with_key(ticket_id)) == 1


def test_closing_the_task_closes_the_request_once_with_a_note_of_who_and_when(staged_conn, tool, hubspot,
                                                                            hubspot_api) -> None:
    ticket_id = ticket(hubspot, sorted(tool.projects)[0], "Export CSV des factures")
    apis = {tool.name: tool.api}
    cycle(staged_conn, hubspot_api, apis, "close-0")
    [task] = tool.with_key(ticket_id)
    counts, _, _ = cycle(staged_conn, hubspot_api, apis, "close-open")
    assert counts["open"] == 1 and counts["close"] == 0
    who, when = tool.close(task)

    for run in range(1, 4):
        counts, _, closed = cycle(staged_conn, hubspot_api, apis, f"close-{run}")
        assert closed.rejected == [] and closed.unknown == []
        assert counts["close"] == (1 if run == 1 else 0)
    assert hubspot.record("tickets", ticket_id)["properties"]["hs_pipeline_stage"] == "4"
    [note] = [n for n in hubspot.records("notes") if "Passerelle" in (n["properties"].get("hs_note_body") or "")]
    body = note["properties"]["hs_note_body"]
    assert f"par {who} le {as_utc(when)}" in body
    assert note["properties"]["hs_timestamp"][:19] == as_utc(when)[:19]
    assert tuples(staged_conn, "SELECT operation, count(*) FROM sync.writes "
                               "WHERE operation IN ('close_request', 'note_request') GROUP BY 1 ORDER BY 1") == [
        ("close_request", 1), ("note_request", 1)]

    # a person reopens the ticket: the sync closed it once and leaves it open
    hubspot.update("tickets", ticket_id, {"hs_pipeline_stage": "3"})
    cycle(staged_conn, hubspot_api, apis, "close-reopened")
    assert hubspot.record("tickets", ticket_id)["properties"]["hs_pipeline_stage"] == "3"
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'close_request'") == [(1,)]


def test_a_refused_task_is_recorded_and_the_other_requests_go_on(staged_conn, tool, hubspot, hubspot_api) -> None:
    deals = sorted(tool.projects)[:3]
    tickets = [ticket(hubspot, deal, f"Demande {n}") for n, deal in enumerate(deals, 1)]
    apis = {tool.name: tool.api}
    tool.refuse(str(tool.projects[deals[0]]))
    _, first, _ = cycle(staged_conn, hubspot_api, apis, "refused-1")
    assert first.created == 2 and len(first.rejected) == 1 and tickets[0] in first.rejected[0]
    assert [len(tool.with_key(t)) for t in tickets] == [0, 1, 1]
    assert tuples(staged_conn, "SELECT outcome FROM sync.plan_items WHERE run_id = 'refused-1' "
                               "AND crm_id = %s", tickets[0]) == [("rejected",)]
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE run_id = 'refused-1' "
                               "AND outcome = 'rejected'") == [(1,)]

    tool.accept(str(tool.projects[deals[0]]))
    _, later, _ = cycle(staged_conn, hubspot_api, apis, "refused-2")
    assert later.created == 1 and later.rejected == []
    assert [len(tool.with_key(t)) for t in tickets] == [1, 1, 1]
