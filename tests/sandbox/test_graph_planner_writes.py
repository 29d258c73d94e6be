"""The Graph (Planner) emulator's writes: plans, buckets, tasks, and task details guarded by their ETag."""

from __future__ import annotations

from typing import Any

import pytest

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox
from tests.sandbox.test_graph_planner_emulator import Graph


@pytest.fixture
def graph(sandbox: Sandbox) -> Graph:
    return Graph(sandbox)


def created(graph: Graph, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = graph.call("POST", path, json=body)
    assert response.status_code == 201, response.text
    return exact_json.loads(response.content)


@pytest.fixture
def plan(graph: Graph) -> dict[str, Any]:
    group = graph.walk("/groups")[0]["id"]
    return created(graph, "/planner/plans", {"container": {"url": f"https://graph.microsoft.com/v1.0/groups/{group}"},
                                             "title": "Livraison"})


def test_a_plan_bucket_and_task_are_made_in_their_group_and_listed(graph: Graph, plan: dict[str, Any]) -> None:
    bucket = created(graph, "/planner/buckets", {"name": "À faire", "planId": plan["id"], "orderHint": " !"})
    task = created(graph, "/planner/tasks", {"planId": plan["id"], "bucketId": bucket["id"], "title": "Recette",
                                             "startDateTime": "2026-03-02T00:00:00Z"})
    assert plan["@odata.etag"].startswith('W/"') and plan["owner"] == plan["container"]["containerId"]
    assert [p["id"] for p in graph.walk(f"/groups/{plan['owner']}/planner/plans")].count(plan["id"]) == 1
    assert [t["id"] for t in graph.walk(f"/planner/plans/{plan['id']}/tasks")] == [task["id"]]
    assert task["bucketId"] == bucket["id"] and task["startDateTime"] == "2026-03-02T00:00:00Z"


@pytest.mark.parametrize("path, body, status, code", [
    ("/planner/plans", {"title": "Sans groupe"}, 400, "BadRequest"),
    ("/planner/plans", {"container": {"url": "https://graph.microsoft.com/v1.0/groups/"
                                             "00000000-0000-4000-8000-000000000000"}, "title": "x"},
     404, "Request_ResourceNotFound"),
    ("/planner/tasks", {"planId": "nope", "title": "x"}, 404, ""),
    ("/planner/tasks", {"planId": "nope", "title": "x", "notes": "y"}, 400, "BadRequest"),
    ("/planner/buckets", {"planId": "nope"}, 400, "BadRequest"),
])
def test_a_bad_create_is_refused_with_graphs_error_body(graph: Graph, path: str, body: dict[str, Any], status: int,
                                                        code: str) -> None:
    response = graph.call("POST", path, json=body)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_details_are_patched_only_with_their_current_etag(graph: Graph, plan: dict[str, Any]) -> None:
    task = created(graph, "/planner/tasks", {"planId": plan["id"], "title": "Fiche affaire"})
    path = f"/planner/tasks/{task['id']}/details"
    etag = graph.body(path)["@odata.etag"]
    key = "https%3A//app%2Ehubspot%2Ecom/contacts/1/record/0-3/42"
    change = {"description": "Passerelle: k", "references": {key: {"@odata.type": "#microsoft.graph."
                                                                  "plannerExternalReference", "alias": "Affaire"}}}
    assert graph.call("PATCH", path, json=change).status_code == 400  # no If-Match
    assert graph.call("PATCH", path, json=change, headers={"If-Match": 'W/"stale"'}).status_code == 412
    unencoded = {"references": {"https://app.hubspot.com/x": {"alias": "x"}}}
    assert graph.call("PATCH", path, json=unencoded, headers={"If-Match": etag}).status_code == 400
    assert graph.call("PATCH", path, json=change, headers={"If-Match": etag}).status_code == 204
    details = graph.body(path)
    assert details["@odata.etag"] != etag and details["description"] == "Passerelle: k"
    assert details["references"][key]["alias"] == "Affaire"
    assert graph.call("PATCH", path, json=change, headers={"If-Match": etag}).status_code == 412  # now stale
    task = graph.body(f"/planner/tasks/{task['id']}")
    assert task["referenceCount"] == 1 and task["hasDescription"] is True
