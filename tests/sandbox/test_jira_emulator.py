"""The Jira Cloud emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import requests

from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle_sandbox.dataset_jira import build_jira_dataset
from passerelle_sandbox.jira import jira_factory
from passerelle_sandbox.server import Sandbox
from tests.fixtures.sandbox import single_vendor_sandbox


jira_session = single_vendor_sandbox("jira", "jira_session")


@pytest.fixture
def jira(jira_session: Sandbox) -> Sandbox:
    jira_session.vendors["jira"].control.reset()
    return jira_session


class Jira:
    def __init__(self, sandbox: Sandbox, token: str | None = None) -> None:
        endpoint = sandbox.vendors["jira"]
        self.base, self.control = endpoint.base_url, endpoint.control
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False
        self.session.auth = (endpoint.credentials["email"], token or endpoint.credentials["api_token"])

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}/rest/api/3{path}", params=params)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.post(f"{self.base}/rest/api/3{path}", json=body, params=params)

    def search(self, jql: str, **body: Any) -> requests.Response:
        return self.post("/search/jql", {"jql": jql, **body})

    def all_ids(self, jql: str, **body: Any) -> list[str]:
        ids: list[str] = []
        while True:
            page = self.search(jql, **body).json()
            ids += [i["id"] for i in page["issues"]]
            if page["isLast"]:
                assert "nextPageToken" not in page
                return ids
            body["nextPageToken"] = page["nextPageToken"]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def test_basic_auth_is_required_and_errors_have_jira_shape(jira: Sandbox) -> None:
    api = Jira(jira)
    assert api.get("/myself").status_code == 200
    for response in (Jira(jira, token="wrong").get("/myself"),
                     requests.get(f"{api.base}/rest/api/3/myself", verify=str(jira.ca_path))):
        assert response.status_code == 401
        body = response.json()
        assert body["errors"] == {} and "not authenticated" in body["errorMessages"][0]


def test_retired_search_answers_410(jira: Sandbox) -> None:
    response = Jira(jira).get("/search", jql="project = TBS")
    assert response.status_code == 410
    assert "/rest/api/3/search/jql" in response.json()["errorMessages"][0]


def test_search_pages_ids_only_with_tokens_and_no_total(jira: Sandbox) -> None:
    api = Jira(jira)
    first = api.search("created >= 0 ORDER BY id ASC", maxResults=20).json()
    assert "total" not in first and first["isLast"] is False
    assert set(first["issues"][0]) == {"id"}
    ids = api.all_ids("created >= 0 ORDER BY id ASC", maxResults=20)
    live = sorted(r["id"] for r in jira.vendors["jira"].control.records("issues"))
    assert ids == sorted(ids, key=int) and sorted(ids) == live
    with_fields = api.search("created >= 0", fields=["summary", "updated", "status"], maxResults=1000).json()
    assert len(with_fields["issues"]) == 100  # silently capped when fields are asked
    assert set(with_fields["issues"][0]["fields"]) == {"summary", "updated", "status"}
    assert api.search("ORDER BY updated").status_code == 400  # unbounded
    bad = api.search("nosuchfield = 1").json()
    assert "does not exist" in bad["errorMessages"][0]


def test_jql_bare_dates_use_the_account_time_zone(jira: Sandbox) -> None:
    api, control = Jira(jira), jira.vendors["jira"].control
    control.set_clock("2026-03-01T09:30:00Z")
    key = control.create("issues", {"project": "TBS", "summary": "fuseau"})["record"]["key"]
    assert api.get("/myself").json()["timeZone"] == "Europe/Paris"
    jql = f'key = {key} AND updated >= "2026-03-01 10:00"'
    assert len(api.search(jql).json()["issues"]) == 1  # 10:00 Paris = 09:00Z
    control.config(time_zone="UTC")
    assert api.get("/myself").json()["timeZone"] == "UTC"
    assert api.search(jql).json()["issues"] == []  # 10:00Z is after the update
    absolute = f"key = {key} AND updated >= {ms('2026-03-01T09:30:00Z')}"
    assert len(api.search(absolute).json()["issues"]) == 1
    issue = api.search(f"key = {key}", fields=["updated"]).json()["issues"][0]
    assert issue["fields"]["updated"] == "2026-03-01T09:30:00.000+0000"


def test_worklog_feed_pages_with_until_and_hides_the_last_minute(jira: Sandbox) -> None:
    api, control = Jira(jira), jira.vendors["jira"].control
    control.config(worklog_page_size=50)
    seen, since, pages = [], 0, 0
    while True:
        body = api.get("/worklog/updated", since=since).json()
        pages += 1
        assert all(v["updatedTime"] > since for v in body["values"])
        seen += [v["worklogId"] for v in body["values"]]
        if body["lastPage"]:
            break
        assert body["nextPage"].endswith(f"since={body['until']}")
        since = body["until"]
    live = {int(w["id"]) for w in control.records("worklogs")}
    assert set(seen) == live and pages > 1
    control.set_clock("2026-03-02T12:00:00Z")
    issue = control.records("issues")[0]["id"]
    worklog = control.create("worklogs", {"issueId": issue, "timeSpentSeconds": 1800, "billable": False})["id"]
    feed = lambda: [v["worklogId"] for v in api.get("/worklog/updated", since=ms("2026-03-02T00:00:00Z")).json()["values"]]  # noqa: E731
    assert feed() == []  # updated during the minute preceding the request
    control.advance(61)
    assert feed() == [int(worklog)]
    listed = api.post("/worklog/list", {"ids": [int(worklog)]}, expand="properties").json()
    assert listed[0]["properties"] == [{"key": "passerelle.billing", "value": {"billable": False}}]
    assert listed[0]["timeSpent"] == "30m" and listed[0]["issueId"] == issue
    assert api.post("/worklog/list", {"ids": list(range(1001))}).status_code == 400


def test_deleting_an_issue_removes_it_and_feeds_its_worklogs_as_deleted(jira: Sandbox) -> None:
    api, control = Jira(jira), jira.vendors["jira"].control
    worklogs = control.records("worklogs")
    issue = worklogs[0]["issueId"]
    mine = {int(w["id"]) for w in worklogs if w["issueId"] == issue}
    control.set_clock("2026-03-02T08:00:00Z")
    control.delete("issues", issue)
    control.advance(120)
    assert api.search(f"id = {issue}").json()["issues"] == []
    deleted = api.get("/worklog/deleted", since=ms("2026-03-02T00:00:00Z")).json()
    assert {v["worklogId"] for v in deleted["values"]} == mine
    assert all(v["updatedTime"] == ms("2026-03-02T08:00:00Z") for v in deleted["values"])
    assert not mine & {v["worklogId"] for v in api.get("/worklog/updated", since=0).json()["values"]}


def test_burst_limit_answers_429_with_rate_limit_headers(jira: Sandbox) -> None:
    api, control = Jira(jira), jira.vendors["jira"].control
    control.config(burst_limit=3, burst_window_seconds=30.0, retry_after_seconds=7)
    statuses = [api.get("/myself").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = api.get("/myself")
    assert throttled.headers["Retry-After"] == "7" and throttled.headers["RateLimit-Reason"] == "jira-burst-based"
    assert throttled.headers["X-RateLimit-Remaining"] == "0" and throttled.headers["X-RateLimit-Reset"].endswith("Z")
    assert throttled.json()["errorMessages"]


def test_projects_versions_and_users_page_with_start_at(jira: Sandbox) -> None:
    api = Jira(jira)
    body = api.get("/project/search", maxResults=10, properties="passerelle.crm").json()
    assert body["total"] == 23 and len(body["values"]) == 10 and body["isLast"] is False and "nextPage" in body
    explicit = [p for p in body["values"] if p["properties"]]
    assert all(set(p["properties"]["passerelle.crm"]) == {"crm", "dealId", "customerId"} for p in explicit)
    versions = api.get(f"/project/{body['values'][0]['key']}/version").json()["values"]
    assert {"name", "released", "releaseDate", "projectId"} <= set(versions[0])
    users = api.get("/users/search", maxResults=4).json()
    assert isinstance(users, list) and len(users) == 4 and "accountId" in users[0]


def test_dataset_is_stable_links_every_kind_and_can_be_supplied(tmp_path) -> None:
    crm = load(default_dataset_path())
    built = build_jira_dataset(crm)
    assert json.dumps(built) == json.dumps(build_jira_dataset(crm))
    assert {link["kind"] for link in built["links"]} == {"explicit", "name", "missing", "ambiguous"}
    assert {link["crm"] for link in built["links"] if link["kind"] == "explicit"} == {"salesforce", "hubspot"}
    started = [datetime.fromisoformat(w["started"]) for w in built["worklogs"]]
    clock = datetime.fromisoformat(crm["clock"].replace("Z", "+00:00"))
    assert all(0 < (clock - s).days < 61 for s in started)
    custom = {**crm, "jira": {**built, "projects": built["projects"][:2]}}
    app = jira_factory(custom)
    assert len(app.projects) == 2 and app.now_ms() == ms(crm["clock"])


def test_jql_parent_matches_the_children_of_an_issue_by_id_or_key(jira: Sandbox) -> None:
    api = Jira(jira)
    control = jira.vendors["jira"].control
    project = next(p for p in control.records("projects") if not p.get("deleted"))
    epic = api.post("/issue", {"fields": {"project": {"key": project["key"]}, "issuetype": {"name": "Epic"},
                                          "summary": "Épopée"}}).json()
    child = api.post("/issue", {"fields": {"project": {"key": project["key"]}, "issuetype": {"name": "Task"},
                                           "summary": "Tâche", "parent": {"key": epic["key"]}}}).json()
    assert api.all_ids(f"parent = {epic['id']}") == [child["id"]]
    assert api.all_ids(f"parent in ({epic['key']})") == [child["id"]]
    assert child["id"] not in api.all_ids(f"parent != {epic['id']} AND created >= 0")


def test_a_deleted_issue_keeps_its_key_used_and_is_listed_as_deleted(jira: Sandbox) -> None:
    control = jira.vendors["jira"].control
    project = next(p for p in control.records("projects") if not p.get("deleted"))
    created = control.create("issues", {"project": project["id"], "summary": "à supprimer"})
    key = created["record"]["key"]
    control.set_clock("2026-03-02T08:00:00Z")
    control.delete("issues", created["id"])
    gone = [r for r in control.records("issues", include_deleted=True) if r.get("deleted")]
    assert {"id": created["id"], "key": key, "deleted": True, "deletedAt": ms("2026-03-02T08:00:00Z")} in gone
    number = int(key.rsplit("-", 1)[1])
    after = control.create("issues", {"project": project["id"], "summary": "suivante"})["record"]["key"]
    assert after == f"{project['key']}-{number + 1}"
