"""Zoho Projects v3 writes over HTTPS (no SDK exists): tasks, subtasks, projects from templates, time logs,
Zoho's strict-date and closed-parent rules, modification stamps, the request budget."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from passerelle_sandbox.server import Sandbox
from passerelle_sandbox.zoho_projects_writes import TEMPLATES
from tests.fixtures.sandbox import single_vendor_sandbox

zoho_projects_writes = single_vendor_sandbox("zoho_projects", "zoho_projects_writes")
BASE = "/api/v3/portal/{portal}"


class Client:
    """Raw v3 calls with one access token."""

    def __init__(self, zp: Any) -> None:
        c = zp.credentials
        self.zp, self.portal = zp, c["portal_id"]
        self.access = requests.post(f"{c['accounts_url']}/oauth/v2/token", verify=zp.ca, data={
            "grant_type": "refresh_token", "client_id": c["client_id"], "client_secret": c["client_secret"],
            "refresh_token": c["refresh_token"]}).json()["access_token"]

    def __call__(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        url = f"{self.zp.base_url}{(BASE + path).replace('{portal}', self.portal)}"
        return requests.request(method, url, json=body, params=params, verify=self.zp.ca,
                                headers={"Authorization": f"Zoho-oauthtoken {self.access}"})


@pytest.fixture
def api(zoho_projects_writes: Sandbox) -> Client:
    endpoint = zoho_projects_writes.vendors["zoho_projects"]
    endpoint.control.reset()
    endpoint.ca = str(zoho_projects_writes.ca_path)
    return Client(endpoint)


def _project(api: Client, strict: bool = False) -> dict[str, Any]:
    project = next(p for p in api.zp.control.records("projects") if p["crm"])
    if strict:
        api.zp.control.update("projects", project["id"], {"is_strict": True})
    return project


def _api_user(api: Client) -> str:
    return min(api.zp.control.records("users"), key=lambda u: int(u["id"]))["zpuid"]


def test_create_task_and_subtask_are_seen_by_the_next_read(api: Client) -> None:
    project = _project(api)
    before = {t["id"] for t in api("GET", f"/projects/{project['id']}/tasks", per_page=200).json()["tasks"]}
    owner = api.zp.control.records("users")[2]["zpuid"]
    created = api("POST", f"/projects/{project['id']}/tasks", {
        "name": "Reprise des contacts", "description": "Depuis le CRM", "priority": "high",
        "start_date": "2026-01-20", "end_date": "2026-01-25", "owners": [{"zpuid": owner}]})
    assert created.status_code == 201
    task = created.json()["tasks"][0]
    assert task["priority"] == "High" and task["owners"][0]["zpuid"] == owner and task["status"]["name"] == "Open"
    assert task["tasklist"]["id"] and task["parent_task"] is None and task["created_time"].endswith("+01:00")
    assert task["last_modified_by"]["zpuid"] == task["created_by"]["zpuid"] == _api_user(api)
    listed = api("GET", f"/projects/{project['id']}/tasks", per_page=200).json()["tasks"]
    assert {t["id"] for t in listed} - before == {task["id"]}
    sub = api("POST", f"/projects/{project['id']}/tasks/{task['id']}/subtasks", {"name": "Dédoublonnage"})
    assert sub.status_code == 201
    child = sub.json()["tasks"][0]
    assert child["parent_task"]["id"] == task["id"] and child["depth"] == 1
    assert child["tasklist"] == task["tasklist"]
    children = api("GET", f"/projects/{project['id']}/tasks/{task['id']}/subtasks").json()["tasks"]
    assert [c["id"] for c in children] == [child["id"]]
    assert api("GET", f"/projects/{project['id']}/tasks/{task['id']}").json()["tasks"][0]["has_subtasks"] is True
    again = api("POST", f"/projects/{project['id']}/tasks", {"name": "Reprise des contacts"})
    assert again.status_code == 201 and again.json()["tasks"][0]["id"] != task["id"]  # no idempotent create


def test_create_task_validation_errors(api: Client) -> None:
    project = _project(api)
    path = f"/projects/{project['id']}/tasks"
    cases = [({"description": "sans nom"}, "name is mandatory"), ({"name": "x", "priority": "Urgent"}, "priority"),
             ({"name": "x", "end_date": "31/01/2026"}, "end_date"),
             ({"name": "x", "start_date": "2026-02-10", "end_date": "2026-02-01"}, "earlier"),
             ({"name": "x", "owners": [{"zpuid": "1"}]}, "zpuid 1"), ({"name": "x", "tasklist": {"id": "9"}}, "task list")]
    for body, words in cases:
        answer = api("POST", path, body)
        assert answer.status_code == 400, body
        error = answer.json()["error"]
        assert error["title"] == "INVALID_INPUT" and words in error["details"][0]["message"]
    assert api("POST", "/projects/123/tasks", {"name": "x"}).json()["error"]["title"] == "RESOURCE_NOT_FOUND"
    bad_json = requests.post(f"{api.zp.base_url}/api/v3/portal/{api.portal}{path}", data="{", verify=api.zp.ca,
                             headers={"Authorization": f"Zoho-oauthtoken {api.access}",
                                      "Content-Type": "application/json"})
    assert bad_json.status_code == 400


def test_patch_changes_only_the_sent_fields_and_bumps_the_modification(api: Client) -> None:
    project = _project(api)
    task = next(t for t in api.zp.control.records("tasks")
                if t["project"]["id"] == project["id"] and not t["parent_task"] and not t["status"]["is_closed"])
    api.zp.control.set_clock(task["last_modified_time"])  # a frozen clock: the stamp must still move on
    path = f"/projects/{project['id']}/tasks/{task['id']}"
    before = api("GET", path).json()["tasks"][0]
    new_owner = api.zp.control.records("users")[-1]["zpuid"]
    changed = api("PATCH", path, {"name": "Cadrage (v2)", "end_date": task["end_date"], "priority": "Low",
                                  "owners": [{"zpuid": new_owner}], "description": "Revu avec le client"})
    assert changed.status_code == 200
    after = changed.json()["tasks"][0]
    assert (after["name"], after["priority"], after["description"]) == ("Cadrage (v2)", "Low", "Revu avec le client")
    assert after["owners"] == [{k: v for k, v in u.items() if k in ("zpuid", "name", "email")}
                               for u in api.zp.control.records("users") if u["zpuid"] == new_owner]
    assert after["start_date"] == before["start_date"] and after["tasklist"] == before["tasklist"]
    assert after["last_modified_time"] > before["last_modified_time"]
    assert after["last_modified_by"]["zpuid"] == _api_user(api)
    second = api("PATCH", path, {"priority": "Medium"}).json()["tasks"][0]
    assert second["last_modified_time"] > after["last_modified_time"]  # monotonic per record
    listed = api("GET", f"/projects/{project['id']}/tasks", per_page=200).json()["tasks"]
    assert next(t for t in listed if t["id"] == task["id"])["last_modified_time"] == second["last_modified_time"]
    assert api("PATCH", path, {}).status_code == 400
    assert api("PATCH", f"/projects/{project['id']}/tasks/42", {"name": "x"}).status_code == 404
    assert api("PUT", path, {"name": "x"}).json()["error"]["title"] == "METHOD_NOT_ALLOWED"


def test_close_and_reopen_a_task(api: Client) -> None:
    project = _project(api)
    task = next(t for t in api.zp.control.records("tasks")
                if t["project"]["id"] == project["id"] and not t["status"]["is_closed"])
    path = f"/projects/{project['id']}/tasks/{task['id']}"
    closed = api("PATCH", path, {"status": {"name": "Closed"}}).json()["tasks"][0]
    assert closed["status"]["is_closed"] and closed["percent_complete"] == 100 and closed["completed_time"]
    reopened = api("PATCH", path, {"status": {"id": "2298000000000040"}}).json()["tasks"][0]
    assert reopened["status"]["name"] == "Open" and reopened["completed_time"] is None
    assert api("PATCH", path, {"status": {"name": "Blocked"}}).status_code == 400


def test_a_subtask_cannot_reopen_under_a_closed_parent(api: Client) -> None:
    project = _project(api)
    parent = api("POST", f"/projects/{project['id']}/tasks", {"name": "Recette"}).json()["tasks"][0]
    child = api("POST", f"/projects/{project['id']}/tasks/{parent['id']}/subtasks",
                {"name": "Recette — lot 1", "status": {"name": "Closed"}}).json()["tasks"][0]
    parent_path, child_path = (f"/projects/{project['id']}/tasks/{parent['id']}",
                               f"/projects/{project['id']}/tasks/{child['id']}")
    assert api("PATCH", parent_path, {"status": {"name": "Closed"}}).status_code == 200
    refused = api("PATCH", child_path, {"status": {"name": "Open"}})
    assert refused.status_code == 400 and "parent task is closed" in refused.json()["error"]["details"][0]["message"]
    assert api("GET", child_path).json()["tasks"][0]["status"]["is_closed"] is True  # nothing was written
    assert api("PATCH", child_path, {"name": "Recette — lot 1 bis"}).status_code == 200  # other edits still pass
    assert api("PATCH", parent_path, {"status": {"name": "Open"}}).status_code == 200  # parent first (R5)
    assert api("PATCH", child_path, {"status": {"name": "In Progress"}}).json()["tasks"][0]["status"]["is_closed"] is False


def test_a_strict_project_refuses_task_dates_outside_its_plan(api: Client) -> None:
    project = _project(api, strict=True)
    task = next(t for t in api.zp.control.records("tasks") if t["project"]["id"] == project["id"])
    path = f"/projects/{project['id']}/tasks/{task['id']}"
    refused = api("PATCH", path, {"end_date": "2099-01-01"})
    assert refused.status_code == 400 and "strict" in refused.json()["error"]["details"][0]["message"]
    assert api("GET", path).json()["tasks"][0]["end_date"] == task["end_date"]
    created = api("POST", f"/projects/{project['id']}/tasks", {"name": "Hors plan", "start_date": "2000-01-01"})
    assert created.status_code == 400
    assert api("PATCH", path, {"end_date": project["end_date"]}).status_code == 200  # the last day is inside
    loose = next(p for p in api.zp.control.records("projects") if not p["is_strict"])
    other = next(t for t in api.zp.control.records("tasks") if t["project"]["id"] == loose["id"])
    assert api("PATCH", f"/projects/{loose['id']}/tasks/{other['id']}", {"end_date": "2099-01-01"}).status_code == 200


def test_delete_a_task_takes_its_subtasks(api: Client) -> None:
    parent = next(t for t in api.zp.control.records("tasks") if not t["parent_task"] and t["has_subtasks"])
    project = parent["project"]["id"]
    gone = {t["id"] for t in api.zp.control.records("tasks") if (t["parent_task"] or {}).get("id") == parent["id"]}
    answer = api("DELETE", f"/projects/{project}/tasks/{parent['id']}")
    assert answer.status_code == 204 and not answer.content
    left = {t["id"] for t in api.zp.control.records("tasks")}
    assert parent["id"] not in left and not gone & left and len(gone) >= 1
    assert api("DELETE", f"/projects/{project}/tasks/{parent['id']}").status_code == 404
    assert api("PATCH", f"/projects/{project}/tasks/{parent['id']}", {"name": "x"}).status_code == 404


def test_create_a_project_from_a_template_with_strict_dates(api: Client) -> None:
    template_id = next(iter(TEMPLATES))
    owner = api.zp.control.records("users")[1]["zpuid"]
    created = api("POST", "/projects", {"name": "Intégration ACME", "template_id": template_id, "is_strict": True,
                                        "start_date": "2026-03-02", "end_date": "2026-03-20", "owner_zpuid": owner,
                                        "client_company": {"id": "4876876000000123", "name": "ACME"}})
    assert created.status_code == 201
    project = created.json()["projects"][0]
    assert project["is_strict"] is True and project["owner"]["zpuid"] == owner and project["template"]["id"] == template_id
    assert project["created_by"]["zpuid"] == _api_user(api) and project["billing_status"] == "Billable"
    listed = api("GET", "/projects", per_page=200).json()["projects"]
    assert project["id"] in {p["id"] for p in listed}
    tasks = api("GET", f"/projects/{project['id']}/tasks").json()["tasks"]
    assert [t["name"] for t in tasks] == [t[0] for t in TEMPLATES[template_id]["tasks"]]
    assert all("2026-03-02" <= t["start_date"] <= t["end_date"] <= "2026-03-20" for t in tasks)  # kept in the plan
    lists = api("GET", f"/projects/{project['id']}/tasklists").json()["tasklists"]
    assert [t["name"] for t in lists] == list(TEMPLATES[template_id]["tasklists"])
    refused = api("PATCH", f"/projects/{project['id']}/tasks/{tasks[0]['id']}", {"end_date": "2026-03-21"})
    assert refused.status_code == 400
    assert api("GET", f"/projects/{project['id']}").json()["projects"][0]["name"] == "Intégration ACME"


def test_create_project_validation(api: Client) -> None:
    cases = [({"description": "x"}, "name"), ({"name": "P", "is_strict": True, "start_date": "2026-03-02"}, "strict"),
             ({"name": "P", "start_date": "2026-03-10", "end_date": "2026-03-02"}, "earlier"),
             ({"name": "P", "template_id": "1"}, "template"), ({"name": "P", "is_strict": "yes"}, "is_strict")]
    for body, words in cases:
        answer = api("POST", "/projects", body)
        assert answer.status_code == 400 and words in answer.json()["error"]["details"][0]["message"], body
    same_day = {"name": "Jour J", "start_date": "2026-03-02", "end_date": "2026-03-02"}
    assert api("POST", "/projects", same_day).status_code == 201
    api.zp.control.config(refuse_equal_project_dates=True)
    refused = api("POST", "/projects", same_day)
    assert refused.status_code == 400
    assert refused.json()["error"]["details"][0]["message"] == "End date cannot be greater than Start date"


def test_log_time_and_delete_it(api: Client) -> None:
    project = _project(api)
    task = next(t for t in api.zp.control.records("tasks") if t["project"]["id"] == project["id"])
    owner = api.zp.control.records("users")[-1]["zpuid"]
    created = api("POST", f"/projects/{project['id']}/log", {
        "date": "2026-02-10", "hours": "01.30", "bill_status": "Billable", "owner_zpuid": owner,
        "module": {"id": task["id"], "type": "task"}, "notes": "Atelier", "log_name": "Atelier"})
    assert created.status_code == 201
    log = created.json()["timelogs"][0]
    assert (log["hours"], log["total_minutes"], log["approval_status"]) == ("01:30", 90, "Pending")
    assert log["module"]["id"] == task["id"] and log["owner"]["zpuid"] == owner
    window = {"view_type": "customdate", "start_date": "02-10-2026", "end_date": "02-10-2026", "per_page": 200}
    assert log["id"] in {t["id"] for t in api("GET", "/timelogs", **window).json()["timelogs"]}
    for body, words in [({"date": "2026-02-10", "hours": "25:00", "module": {"id": task["id"]}}, "24:00"),
                        ({"date": "2026-02-10", "hours": "01:75", "module": {"id": task["id"]}}, "HH:MM"),
                        ({"hours": "01:00", "module": {"id": task["id"]}}, "date"),
                        ({"date": "2026-02-10", "hours": "01:00", "module": {"id": "1"}}, "No task"),
                        ({"date": "2026-02-10", "hours": "01:00", "bill_status": "Maybe", "module": {"id": task["id"]}},
                         "bill_status")]:
        answer = api("POST", f"/projects/{project['id']}/log", body)
        assert answer.status_code in (400, 404) and words in answer.json()["error"]["details"][0]["message"], body
    full = {"date": "2027-01-15", "hours": "23:00", "owner_zpuid": owner, "module": {"id": task["id"]}}
    assert api("POST", f"/projects/{project['id']}/log", full).status_code == 201
    over = api("POST", f"/projects/{project['id']}/log", {**full, "hours": "01:30"})
    assert over.status_code == 400 and "24 hours" in over.json()["error"]["details"][0]["message"]
    assert api("DELETE", f"/projects/{project['id']}/timelogs/{log['id']}").status_code == 204
    assert log["id"] not in {t["id"] for t in api("GET", "/timelogs", **window).json()["timelogs"]}
    assert api("DELETE", f"/projects/{project['id']}/timelogs/{log['id']}").status_code == 404


def test_writes_spend_the_request_budget_and_unknown_paths_answer_zoho_404(api: Client) -> None:
    project = _project(api)
    api.zp.control.config(requests_per_window=3, request_window_seconds=60.0)
    path = f"/projects/{project['id']}/tasks"
    assert [api("POST", path, {"name": f"T{i}"}).status_code for i in range(3)] == [201] * 3
    locked = api("POST", path, {"name": "T4"})
    assert locked.status_code == 429 and locked.json()["error"]["title"] == "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED"
    assert sum(t["name"] == "T4" for t in api.zp.control.records("tasks")) == 0  # refused before any write
    api.zp.control.config(requests_per_window=100)
    assert api("GET", "/projects").status_code == 429  # the lock holds for 30 minutes
    api.zp.control.reset()
    missing = api("POST", f"/projects/{project['id']}/milestones/1/tasks", {"name": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["title"] == "INVALID_URL"


def test_a_project_without_a_template_gets_its_task_list_before_its_tasks(api: Client) -> None:
    made = api("POST", "/projects", {"name": "Livraison", "start_date": "2026-03-02"}).json()["projects"][0]
    refused = api("POST", f"/projects/{made['id']}/tasks", {"name": "Recette"})
    assert refused.status_code == 400 and "tasklist is mandatory" in refused.text
    assert api("POST", f"/projects/{made['id']}/tasklists", {"name": ""}).status_code == 400
    tasklist = api("POST", f"/projects/{made['id']}/tasklists", {"name": "Lignes", "flag": "internal"})
    assert tasklist.status_code == 201
    listed = api("GET", f"/projects/{made['id']}/tasklists").json()["tasklists"]
    assert [t["name"] for t in listed] == ["Lignes"]
    task = api("POST", f"/projects/{made['id']}/tasks", {"name": "Recette"})
    assert task.status_code == 201 and task.json()["tasks"][0]["tasklist"]["id"] == listed[0]["id"]
