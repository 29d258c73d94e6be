"""The Asana emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import requests

from passerelle_sandbox.asana import API, AsanaApp
from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle_sandbox.dataset_asana import build_asana_dataset
from passerelle_sandbox.server import Sandbox, VendorEndpoint
from tests.fixtures.sandbox import single_vendor_sandbox


asana_sandbox = single_vendor_sandbox("asana", "asana_sandbox")


@pytest.fixture
def asana(asana_sandbox: Sandbox) -> VendorEndpoint:
    endpoint = asana_sandbox.vendors["asana"]
    endpoint.control.reset()
    return endpoint


class Client:
    def __init__(self, endpoint: VendorEndpoint, ca_path: Any, token: str | None = None) -> None:
        self.base = endpoint.base_url + API
        self.session = requests.Session()
        self.session.verify = str(ca_path)
        self.session.trust_env = False
        self.token = endpoint.credentials["personal_access_token"] if token is None else token

    def get(self, path: str, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return self.session.get(f"{self.base}{path}", params=params, headers=headers)

    def walk(self, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
        items, pages, offset = [], 0, None
        while True:
            body = self.get(path, **params, **({"offset": offset} if offset else {})).json()
            pages += 1
            items += body["data"]
            if body["next_page"] is None:
                return items, pages
            offset = body["next_page"]["offset"]


@pytest.fixture
def api(asana: VendorEndpoint, asana_sandbox: Sandbox) -> Client:
    return Client(asana, asana_sandbox.ca_path)


def first_project(asana: VendorEndpoint) -> dict[str, Any]:
    return sorted(asana.control.records("projects"), key=lambda p: p["gid"])[0]


def test_dataset_is_deterministic_and_records_link_truth() -> None:
    crm = load(default_dataset_path())
    first, second = build_asana_dataset(crm), build_asana_dataset(crm)
    assert json.dumps(first) == json.dumps(second)
    kinds = Counter(link["kind"] for link in first["links"])
    assert kinds["explicit"] > kinds["name"] > 0 and kinds["missing"] > 0 and kinds["ambiguous"] > 0
    by_gid = {p["gid"]: p for p in first["projects"]}
    for link in first["links"]:
        field = next(f for f in by_gid[link["project_id"]]["custom_fields"] if f["name"] == "CRM deal")
        assert field["text_value"] == (link["deal_id"] if link["kind"] == "explicit" else None)
    assert any(t["resource_subtype"] == "milestone" for t in first["tasks"])
    assert all(t["completed_at"] for t in first["tasks"] if t["completed"])
    assert {e["billable_status"] for e in first["time_entries"]} >= {"billable", "nonBillable"}


def test_served_dataset_comes_from_the_asana_key_when_present() -> None:
    crm = load(default_dataset_path())
    custom = build_asana_dataset(crm)
    custom["projects"] = custom["projects"][:1]
    app = AsanaApp({**crm, "asana": custom})
    assert list(app.projects) == [custom["projects"][0]["gid"]]


def test_bearer_token_required_and_errors_are_wrapped(asana: VendorEndpoint, asana_sandbox: Sandbox) -> None:
    anonymous = Client(asana, asana_sandbox.ca_path, token="")
    refused = anonymous.get("/workspaces")
    assert refused.status_code == 401 and refused.json()["errors"][0]["message"] == "Not Authorized"
    body = Client(asana, asana_sandbox.ca_path).get("/workspaces").json()
    assert body["data"] == [{"gid": asana.credentials["workspace_gid"], "resource_type": "workspace",
                             "name": body["data"][0]["name"]}]


def test_oauth_refresh_grant_issues_a_working_token(asana: VendorEndpoint, asana_sandbox: Sandbox) -> None:
    creds = asana.credentials
    session = requests.Session()
    session.trust_env = False
    form = {"grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"]}
    answer = session.post(f"{asana.base_url}/-/oauth_token", data=form, verify=str(asana_sandbox.ca_path)).json()
    assert answer["expires_in"] == 3600 and answer["token_type"] == "bearer"
    assert Client(asana, asana_sandbox.ca_path, token=answer["access_token"]).get("/users/me").status_code == 200
    bad = session.post(f"{asana.base_url}/-/oauth_token", data={**form, "refresh_token": "nope"},
                       verify=str(asana_sandbox.ca_path))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"


def test_offset_paging_is_complete_and_limit_bounded(asana: VendorEndpoint, api: Client) -> None:
    params = {"workspace": asana.credentials["workspace_gid"], "entered_on_start_date": "2025-01-01", "limit": 37}
    items, pages = api.walk("/time_tracking_entries", **params)
    gids = [e["gid"] for e in items]
    assert len(gids) == len(set(gids)) == len(asana.control.records("time_entries"))
    assert pages == -(-len(gids) // 37)
    assert set(items[0]) == {"gid", "resource_type", "duration_minutes", "entered_on", "attributable_to", "created_by"}
    for limit in (0, 101):
        refused = api.get("/time_tracking_entries", **{**params, "limit": limit})
        assert refused.status_code == 400 and "between 1 and 100" in refused.json()["errors"][0]["message"]
    assert api.get("/time_tracking_entries", **params, offset="eyJforged.0000").status_code == 400
    assert "next_page" not in api.get("/projects", workspace=asana.credentials["workspace_gid"]).json()
    no_start = api.get("/time_tracking_entries", workspace=asana.credentials["workspace_gid"])
    assert no_start.status_code == 400


def test_offset_is_bound_to_its_query(asana: VendorEndpoint, api: Client) -> None:
    project = first_project(asana)
    offset = api.get("/tasks", project=project["gid"], limit=1).json()["next_page"]["offset"]
    assert api.get("/tasks", project=project["gid"], limit=1, offset=offset).status_code == 200
    other = sorted(asana.control.records("projects"), key=lambda p: p["gid"])[1]
    assert api.get("/tasks", project=other["gid"], limit=1, offset=offset).status_code == 400


def test_tasks_need_a_container_and_filter_on_modified_since(asana: VendorEndpoint, api: Client) -> None:
    missing = api.get("/tasks")
    assert missing.status_code == 400 and "project" in missing.json()["errors"][0]["message"]
    project = first_project(asana)
    tasks = api.get("/tasks", project=project["gid"], limit=100).json()["data"]
    asana.control.advance(3600)
    now = asana.control.now().isoformat().replace("+00:00", "Z")
    asana.control.update("tasks", tasks[0]["gid"], {"completed": True})
    fields = "name,completed,completed_at,modified_at,resource_subtype,memberships.project.name,actual_time_minutes"
    changed = api.get("/tasks", project=project["gid"], modified_since=now, opt_fields=fields, limit=100).json()
    assert [t["gid"] for t in changed["data"]] == [tasks[0]["gid"]]
    task = changed["data"][0]
    assert task["completed"] is True and task["completed_at"] == task["modified_at"]
    assert task["memberships"][0]["project"]["gid"] == project["gid"] and isinstance(task["actual_time_minutes"], int)


def test_deleted_task_vanishes_and_is_announced_by_events(asana: VendorEndpoint, api: Client) -> None:
    project = first_project(asana)
    first = api.get("/events", resource=project["gid"])
    assert first.status_code == 412 and first.json()["errors"][0]["message"].startswith("Sync token invalid")
    sync = first.json()["sync"]
    quiet = api.get("/events", resource=project["gid"], sync=sync).json()
    assert (quiet["data"], quiet["has_more"]) == ([], False) and quiet["sync"]
    task = api.get("/tasks", project=project["gid"], limit=1).json()["data"][0]
    asana.control.delete("tasks", task["gid"])
    assert api.get(f"/tasks/{task['gid']}").status_code == 404
    assert task["gid"] not in {t["gid"] for t in api.get("/tasks", project=project["gid"], limit=100).json()["data"]}
    body = api.get("/events", resource=project["gid"], sync=sync).json()
    assert [(e["action"], e["resource"]["gid"]) for e in body["data"]] == [("deleted", task["gid"])]
    assert body["data"][0]["created_at"] == asana.control.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    again = api.get("/events", resource=project["gid"], sync=sync).json()
    assert again["data"] == body["data"]  # re-asking with the same token is safe
    assert api.get("/events", resource=project["gid"], sync=body["sync"]).json()["data"] == []


def test_events_come_100_at_a_time_and_tokens_expire(asana: VendorEndpoint, api: Client) -> None:
    project = first_project(asana)
    sync = api.get("/events", resource=project["gid"]).json()["sync"]
    asana.control.bulk("tasks", create=130, fields={"project": project["gid"]})
    page = api.get("/events", resource=project["gid"], sync=sync).json()
    assert len(page["data"]) == 100 and page["has_more"] is True
    rest = api.get("/events", resource=project["gid"], sync=page["sync"]).json()
    assert len(rest["data"]) == 30 and rest["has_more"] is False
    asana.control.config(sync_token_ttl_seconds=60)
    asana.control.advance(61)
    expired = api.get("/events", resource=project["gid"], sync=rest["sync"])
    assert expired.status_code == 412 and expired.json()["sync"] != rest["sync"]


def test_rate_limit_answers_429_with_retry_after(asana: VendorEndpoint, api: Client) -> None:
    asana.control.config(requests_per_minute=3)
    statuses = [api.get("/workspaces").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = api.get("/workspaces")
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["errors"][0]["message"].startswith("You've made too many requests")


def test_faults_use_asana_error_bodies(asana: VendorEndpoint, api: Client) -> None:
    asana.control.add_fault("rate_limit", retry_after=7)
    asana.control.add_fault("error", status=503, after=1)
    limited = api.get("/workspaces")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    failed = api.get("/workspaces")
    assert failed.status_code == 503 and "phrase" in failed.json()["errors"][0]
    asana.control.add_fault("missing_id", path="/users")
    assert "gid" not in api.get("/users", workspace=asana.credentials["workspace_gid"]).json()["data"][0]


def test_control_time_entry_is_stamped_at_the_clock(asana: VendorEndpoint, api: Client) -> None:
    task = next(t for t in asana.control.records("tasks") if t["resource_subtype"] == "default_task")
    asana.control.advance(120)
    created = asana.control.create("time_entries", {"task": task["gid"], "duration_minutes": 45,
                                                    "entered_on": "2026-02-27"})
    entry = api.get(f"/time_tracking_entries/{created['id']}").json()["data"]
    assert entry["duration_minutes"] == 45 and entry["task"]["gid"] == task["gid"]
    assert entry["created_at"] == asana.control.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    listed = api.get(f"/tasks/{task['gid']}/time_tracking_entries", limit=100).json()["data"]
    assert created["id"] in {e["gid"] for e in listed}
