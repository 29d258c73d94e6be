"""The Microsoft Graph (Planner) emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.dataset_planner import graph_key
from passerelle_sandbox.server import Sandbox

V1 = "/v1.0"
SCOPE = "https://graph.microsoft.com/.default"


class Graph:
    """A minimal Graph client: client-credentials token from the emulator's Entra endpoints, the sandbox CA."""

    def __init__(self, sandbox: Sandbox) -> None:
        endpoint = sandbox.vendors["planner"]
        self.base, self.credentials, self.control = endpoint.base_url, endpoint.credentials, endpoint.control
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False
        self.token = self.request_token().json()["access_token"]

    def request_token(self, **changes: str) -> requests.Response:
        form = {"client_id": self.credentials["client_id"], "client_secret": self.credentials["client_secret"],
                "grant_type": "client_credentials", "scope": SCOPE}
        return self.session.post(f"{self.base}/{self.credentials['tenant_id']}/oauth2/v2.0/token",
                                 data={**form, **changes})

    def call(self, method: str, url: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}", **kwargs.pop("headers", {})}
        target = url if url.startswith("https:") else f"{self.base}{V1}{url}"
        return self.session.request(method, target, headers=headers, **kwargs)

    def body(self, url: str, **params: Any) -> dict[str, Any]:
        response = self.call("GET", url, params=params or None)
        assert response.status_code == 200, response.text
        return exact_json.loads(response.content)

    def walk(self, url: str, **params: Any) -> list[dict[str, Any]]:
        body = self.body(url, **params)
        rows = list(body["value"])
        while "@odata.nextLink" in body:
            body = self.body(body["@odata.nextLink"])
            rows += body["value"]
        return rows


@pytest.fixture
def graph(sandbox: Sandbox) -> Graph:
    return Graph(sandbox)


def test_token_needs_the_graph_scope_and_the_app_secret(graph: Graph) -> None:
    assert graph.request_token().json()["token_type"] == "Bearer"
    wrong_scope = graph.request_token(scope="https://contoso.crm4.dynamics.com/.default")
    assert wrong_scope.status_code == 400 and wrong_scope.json()["error"] == "invalid_scope"
    wrong_secret = graph.request_token(client_secret="nope")
    assert wrong_secret.status_code == 401 and "AADSTS7000215" in wrong_secret.json()["error_description"]
    unknown = graph.call("GET", "/groups", token="not-a-token")
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert set(unknown.json()["error"]["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_a_dataverse_token_is_not_a_graph_token(sandbox: Sandbox, graph: Graph) -> None:
    dynamics = sandbox.vendors["dynamics"]
    creds = dynamics.credentials
    token = graph.session.post(f"{dynamics.base_url}/{creds['tenant_id']}/oauth2/v2.0/token", data={
        "client_id": creds["client_id"], "client_secret": creds["client_secret"], "grant_type": "client_credentials",
        "scope": f"{dynamics.base_url}/.default"}).json()["access_token"]
    assert graph.call("GET", "/groups", token=token).status_code == 401


def test_groups_plans_buckets_tasks_and_details_page_with_next_links(graph: Graph) -> None:
    groups = graph.walk("/groups", **{"$top": "4", "$filter": "groupTypes/any(c:c eq 'Unified')"})
    assert len(groups) == len(graph.control.records("groups")) > 4
    assert len({g["id"] for g in groups}) == len(groups)
    graph.control.config(planner_page_size=3)
    plan = graph.walk(f"/groups/{groups[0]['id']}/planner/plans")[0]
    assert plan["@odata.etag"].startswith('W/"') and plan["owner"] == groups[0]["id"]
    assert [b["name"] for b in graph.walk(f"/planner/plans/{plan['id']}/buckets")] == [
        "À faire", "En cours", "Terminé", "Jalons"]
    first = graph.body(f"/planner/plans/{plan['id']}/tasks")
    tasks = graph.walk(f"/planner/plans/{plan['id']}/tasks")
    assert "@odata.nextLink" in first and len(first["value"]) == 3 < len(tasks)
    assert {t["id"] for t in tasks} == {t["id"] for t in graph.control.records("tasks") if t["planId"] == plan["id"]}
    task = tasks[0]
    assert set(task) >= {"@odata.etag", "percentComplete", "priority", "dueDateTime", "completedDateTime",
                         "assignments", "bucketId", "planId"}
    details = graph.body(f"/planner/tasks/{task['id']}/details")
    assert details["id"] == task["id"] and details["@odata.etag"] != task["@odata.etag"]


def test_the_crm_link_is_a_reference_on_the_fiche_affaire_task(sandbox: Sandbox, graph: Graph) -> None:
    link = next(x for x in sandbox.vendors["planner"].app.links if x["kind"] == "explicit")
    task = next(t for t in graph.control.records("tasks") if t["planId"] == link["project_id"]
                and t["title"] == "Fiche affaire")
    references = graph.body(f"/planner/tasks/{task['id']}/details")["references"]
    (key, reference), = references.items()
    assert link["deal_id"] in key and "%2E" in key and "%3A" in key and "." not in key
    assert reference["@odata.type"] == "#microsoft.graph.plannerExternalReference"
    assert graph_key("https://a.b/c") == "https%3A//a%2Eb/c"


def test_patch_needs_the_current_etag(graph: Graph) -> None:
    task = graph.control.records("tasks")[0]
    url = f"/planner/tasks/{task['id']}"
    assert graph.call("PATCH", url, json={"percentComplete": 100}).status_code == 400  # no If-Match
    done = graph.call("PATCH", url, json={"percentComplete": 100}, headers={
        "If-Match": task["@odata.etag"], "Prefer": "return=representation"})
    assert done.status_code == 200 and done.json()["completedDateTime"] and done.json()["@odata.etag"] != task["@odata.etag"]
    stale = graph.call("PATCH", url, json={"priority": 1}, headers={"If-Match": task["@odata.etag"]})
    assert stale.status_code == 412
    unknown = graph.call("PATCH", url, json={"planId": "x"}, headers={"If-Match": done.json()["@odata.etag"]})
    assert unknown.status_code == 400


def test_planner_lists_refuse_query_options_and_a_foreign_skiptoken(graph: Graph) -> None:
    plan = graph.control.records("plans")[0]
    refused = graph.call("GET", f"/planner/plans/{plan['id']}/tasks", params={"$filter": "percentComplete eq 100"})
    assert refused.status_code == 400 and "Filter" in refused.json()["error"]["message"]
    link = graph.body("/groups", **{"$top": "2"})["@odata.nextLink"]
    token = link.split("$skiptoken=")[1]
    forged = graph.call("GET", "/users", params={"$top": "2", "$skiptoken": token})
    assert forged.status_code == 400
    assert graph.call("GET", "/groups", params={"$top": "5000"}).status_code == 400


def test_throttling_answers_429_with_retry_after(graph: Graph) -> None:
    graph.control.config(request_limit=3, window_seconds=30)
    statuses = [graph.call("GET", "/users").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = graph.call("GET", "/users")
    assert int(throttled.headers["Retry-After"]) >= 1 and throttled.json()["error"]["code"] == "TooManyRequests"


def test_control_deletes_cascade_from_plan_to_tasks_and_details(graph: Graph) -> None:
    plan = graph.control.records("plans")[0]
    tasks = [t["id"] for t in graph.control.records("tasks") if t["planId"] == plan["id"]]
    graph.control.delete("plans", plan["id"])
    assert not any(t["planId"] == plan["id"] for t in graph.control.records("tasks"))
    assert not {d["id"] for d in graph.control.records("details")} & set(tasks)
    missing = graph.call("GET", f"/planner/plans/{plan['id']}/tasks")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "The requested item is not found."
    created = graph.control.create("tasks", {"planId": graph.control.records("plans")[0]["id"], "title": "Nouvelle"})
    assert graph.body(f"/planner/tasks/{created['id']}")["title"] == "Nouvelle"


def test_a_plans_tasks_expand_their_details_and_nothing_else(graph: Graph) -> None:
    plan = graph.control.records("plans")[0]
    task_id = next(t["id"] for t in graph.control.records("tasks") if t["planId"] == plan["id"])
    graph.control.update("details", task_id, {"description": "Passerelle: hubspot:ticket:1:task"})
    tasks = graph.walk(f"/planner/plans/{plan['id']}/tasks", **{"$expand": "details"})
    assert tasks and all(t["details"]["id"] == t["id"] and "@odata.etag" in t["details"] for t in tasks)
    assert next(t for t in tasks if t["id"] == task_id)["details"]["description"] == "Passerelle: hubspot:ticket:1:task"
    refused = graph.call("GET", f"/planner/plans/{plan['id']}/tasks", params={"$expand": "bucket"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "BadRequest"


def test_a_user_is_read_by_id_or_by_principal_name_and_an_unknown_one_is_404(graph: Graph) -> None:
    user = graph.walk("/users")[0]
    assert graph.body(f"/users/{user['id']}")["userPrincipalName"] == user["userPrincipalName"]
    assert graph.body(f"/users/{user['userPrincipalName'].upper()}")["id"] == user["id"]
    missing = graph.call("GET", "/users/personne@example.com")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"
    assert "'personne@example.com' does not exist" in missing.json()["error"]["message"]
