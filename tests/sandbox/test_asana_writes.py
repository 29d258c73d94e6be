"""The Asana emulator's writes, batch, template jobs and search, driven over HTTPS with requests."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from passerelle_sandbox.asana import API
from passerelle_sandbox.server import Sandbox, VendorEndpoint
from tests.fixtures.sandbox import single_vendor_sandbox

asana_sandbox = single_vendor_sandbox("asana", "asana_sandbox")


@pytest.fixture
def asana(asana_sandbox: Sandbox) -> VendorEndpoint:
    endpoint = asana_sandbox.vendors["asana"]
    endpoint.control.reset()
    return endpoint


class Api:
    def __init__(self, endpoint: VendorEndpoint, ca_path: Any) -> None:
        self.base = endpoint.base_url + API
        self.session = requests.Session()
        self.session.verify = str(ca_path)
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {endpoint.credentials['personal_access_token']}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params)

    def send(self, method: str, path: str, data: Any = None, raw: bytes | None = None) -> requests.Response:
        if raw is not None:
            return self.session.request(method, self.base + path, data=raw,
                                        headers={"Content-Type": "application/json"})
        return self.session.request(method, self.base + path, json=None if data is None else {"data": data})


@pytest.fixture
def api(asana: VendorEndpoint, asana_sandbox: Sandbox) -> Api:
    return Api(asana, asana_sandbox.ca_path)


def projects(asana: VendorEndpoint) -> list[dict[str, Any]]:
    return sorted(asana.control.records("projects"), key=lambda p: p["gid"])


def message(response: requests.Response) -> str:
    body = response.json()
    assert set(body) == {"errors"} and set(body["errors"][0]) == {"message", "help"}
    return str(body["errors"][0]["message"])


def test_task_bodies_are_validated_before_anything_is_written(api: Api, asana: VendorEndpoint) -> None:
    project = projects(asana)[0]
    before = len(asana.control.records("tasks"))
    assert message(api.send("POST", "/tasks", raw=b"{not json")) == "Could not parse request data, invalid JSON"
    assert message(api.send("POST", "/tasks", raw=b'{"name": "sans data"}')) == "data: Missing input"
    field = asana.control.records("tasks")[0]["custom_fields"][1]
    assert field["type"] == "enum"
    refused = api.send("POST", "/tasks", {"name": "x", "projects": [project["gid"]],
                                          "custom_fields": {field["gid"]: "999"}})
    assert refused.status_code == 400 and message(refused).startswith("custom_fields: Enum option 999 not found")
    both = api.send("POST", "/tasks", {"name": "x", "projects": [project["gid"]], "due_on": "2026-03-01",
                                       "due_at": "2026-03-01T10:00:00Z"})
    assert message(both) == "You may only provide one of due_on or due_at"
    assert len(asana.control.records("tasks")) == before
    task = next(t for t in asana.control.records("tasks") if t["memberships"])
    deal = task["custom_fields"][0]
    partial = api.send("PUT", f"/tasks/{task['gid']}", {"custom_fields": {deal["gid"]: "006X", field["gid"]: "999"}})
    assert partial.status_code == 400
    assert asana.control.record("tasks", task["gid"])["custom_fields"][0]["text_value"] is None
    assert message(api.send("PUT", f"/tasks/{task['gid']}", {"projects": []})) == "projects: Cannot write this property"


def test_writes_reach_the_events_api_and_deletes_vanish(api: Api, asana: VendorEndpoint) -> None:
    project = projects(asana)[0]
    sync = api.get("/events", resource=project["gid"]).json()["sync"]
    created = api.send("POST", "/tasks", {"name": "Suivi", "projects": [project["gid"]]}).json()["data"]
    task_sync = api.get("/events", resource=created["gid"]).json()["sync"]
    child = api.send("POST", f"/tasks/{created['gid']}/subtasks", {"name": "Enfant"}).json()["data"]
    on_parent = api.get("/events", resource=created["gid"], sync=task_sync).json()["data"]
    assert [(e["action"], e["resource"]["gid"], e["parent"]["gid"]) for e in on_parent] == [
        ("added", child["gid"], created["gid"])]
    assert api.get(f"/tasks/{created['gid']}").json()["data"]["num_subtasks"] == 1
    assert api.send("DELETE", f"/tasks/{created['gid']}").json() == {"data": {}}
    body = api.get("/events", resource=project["gid"], sync=sync).json()
    assert [(e["type"], e["action"], e["resource"]["gid"]) for e in body["data"]] == [
        ("task", "added", created["gid"]), ("task", "deleted", created["gid"])]
    for gid in (created["gid"], child["gid"]):
        assert message(api.get(f"/tasks/{gid}")) == f"task: Unknown object: {gid}"
    assert created["gid"] not in {t["gid"] for t in api.get(f"/projects/{project['gid']}/tasks").json()["data"]}
    parent_events = api.get("/events", resource=created["gid"])
    assert parent_events.status_code == 404  # a deleted task can no longer be watched


def test_dependencies_refuse_self_links_and_more_than_thirty(api: Api, asana: VendorEndpoint) -> None:
    tasks = sorted(asana.control.records("tasks"), key=lambda t: t["gid"])
    task = tasks[0]
    assert message(api.send("POST", f"/tasks/{task['gid']}/addDependencies", {"dependencies": [task["gid"]]})) \
        == "A task cannot depend on itself"
    assert message(api.send("POST", f"/tasks/{task['gid']}/addDependencies", {"dependencies": ["12"]})) \
        == "dependencies: [0]: Not a recognized ID: 12"
    too_many = [t["gid"] for t in tasks[1:32]]
    refused = api.send("POST", f"/tasks/{task['gid']}/addDependencies", {"dependencies": too_many})
    assert message(refused) == "Tasks can have at most 30 dependencies"
    assert api.get(f"/tasks/{task['gid']}/dependencies").json()["data"] == []
    api.send("POST", f"/tasks/{tasks[1]['gid']}/addDependents", {"dependents": [task["gid"]]})
    assert [t["gid"] for t in api.get(f"/tasks/{task['gid']}/dependencies").json()["data"]] == [tasks[1]["gid"]]


def test_search_filters_sorts_and_bounds_its_limit(api: Api, asana: VendorEndpoint) -> None:
    workspace = asana.credentials["workspace_gid"]
    project = projects(asana)[0]
    path = f"/workspaces/{workspace}/tasks/search"
    found = api.get(path, **{"projects.any": project["gid"], "limit": 100, "opt_fields": "modified_at"}).json()
    stamps = [t["modified_at"] for t in found["data"]]
    assert stamps == sorted(stamps, reverse=True) and "next_page" not in found
    held = [t for t in asana.control.records("tasks") if t["memberships"][0]["project"]["gid"] == project["gid"]]
    assert len(stamps) == len(held)
    ascending = api.get(path, **{"projects.any": project["gid"], "sort_ascending": "true",
                                 "opt_fields": "modified_at"}).json()["data"]
    assert [t["modified_at"] for t in ascending] == sorted(stamps)[:20]
    assert len(api.get(path).json()["data"]) == 20
    assert message(api.get(path, limit=101)) == "limit: Must be between 1 and 100, got: 101"
    parent = held[0]
    api.send("POST", f"/tasks/{parent['gid']}/subtasks", {"name": "Contrôle qualité unique"})
    subtasks = api.get(path, is_subtask="true", text="qualité unique").json()["data"]
    assert [t["name"] for t in subtasks] == ["Contrôle qualité unique"]


def test_batch_runs_actions_through_the_rate_limit(api: Api, asana: VendorEndpoint) -> None:
    asana.control.config(requests_per_minute=3, retry_after_seconds=7)
    actions = [{"relative_path": "/users/me", "method": "get"} for _ in range(3)]
    answers = api.send("POST", "/batch", {"actions": actions}).json()["data"]
    assert [a["status_code"] for a in answers] == [200, 200, 429]
    assert answers[2]["headers"] == {"Retry-After": "7"}
    assert answers[2]["body"]["errors"][0]["message"].startswith("You've made too many requests")
    asana.control.config(enforce_rate_limits=False)
    nested = api.send("POST", "/batch", {"actions": [{"relative_path": "/batch", "method": "post"}]})
    assert message(nested) == "actions: [0]: relative_path: Batch requests cannot be nested"
    assert message(api.send("POST", "/batch", {"actions": [{"relative_path": "/users/me", "method": "patch"}]})) \
        == "actions: [0]: method: Not a valid enum value: patch"


def test_template_jobs_are_limited_to_five_at_once(api: Api, asana: VendorEndpoint) -> None:
    workspace = asana.credentials["workspace_gid"]
    template = api.get("/project_templates", workspace=workspace).json()["data"][0]
    path = f"/project_templates/{template['gid']}/instantiateProject"
    assert message(api.send("POST", path, {"team": "1"})) == "name: Missing input"
    assert message(api.send("POST", "/project_templates/1/instantiateProject", {"name": "x"})) \
        == "project_template: Unknown object: 1"
    asana.control.config(retry_after_seconds=30)
    jobs = [api.send("POST", path, {"name": f"Projet {n}"}) for n in range(6)]
    assert [j.status_code for j in jobs] == [201] * 5 + [429]
    assert jobs[5].headers["Retry-After"] == "30"
    assert jobs[0].headers["Location"].endswith(f"{API}/jobs/{jobs[0].json()['data']['gid']}")
    before = {p["gid"] for p in asana.control.records("projects")}
    first = jobs[0].json()["data"]["gid"]
    assert [api.get(f"/jobs/{first}").json()["data"]["status"] for _ in range(3)] == [
        "in_progress", "succeeded", "succeeded"]
    assert len({p["gid"] for p in asana.control.records("projects")} - before) == 1
    assert api.send("POST", path, {"name": "Projet 7"}).status_code == 201


def test_a_project_update_sets_its_owner_to_a_known_user_only(api: Api, asana: VendorEndpoint) -> None:
    project = projects(asana)[0]
    user = sorted(asana.control.records("users"), key=lambda u: u["gid"])[-1]
    changed = api.send("PUT", f"/projects/{project['gid']}", {"owner": user["gid"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["owner"] == {"gid": user["gid"], "resource_type": "user", "name": user["name"]}
    refused = api.send("PUT", f"/projects/{project['gid']}", {"owner": "1"})
    assert refused.status_code == 400 and message(refused) == "owner: Not a recognized ID: 1"
    assert next(p for p in projects(asana) if p["gid"] == project["gid"])["owner"]["gid"] == user["gid"]
    assert api.send("PUT", f"/projects/{project['gid']}", {"owner": None}).json()["data"]["owner"] is None
