"""The monday.com emulator, driven over HTTPS with GraphQL queries as a connector would."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from passerelle_sandbox import dataset as datasets
from passerelle_sandbox.dataset_monday import build_monday_dataset
from passerelle_sandbox.server import Sandbox
from tests.fixtures.sandbox import single_vendor_sandbox

ITEMS_QUERY = """query ($board: [ID!], $limit: Int!, $params: ItemsQuery) { boards(ids: $board) {
  items_page(limit: $limit, query_params: $params) { cursor items { id updated_at state } } } }"""
NEXT_QUERY = "query ($c: String!, $l: Int!) { next_items_page(cursor: $c, limit: $l) { cursor items { id } } }"


monday_sandbox = single_vendor_sandbox("monday", "monday_sandbox")


class Monday:
    """Minimal monday client: one GraphQL endpoint, raw token, the sandbox CA."""

    def __init__(self, sandbox: Sandbox) -> None:
        endpoint = sandbox.vendors["monday"]
        self.url, self.control = f"{endpoint.base_url}/v2", endpoint.control
        self.token = endpoint.credentials["api_token"]
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False

    def post(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None,
             version: str = "2025-07") -> requests.Response:
        headers = {"Authorization": self.token if token is None else token, "API-Version": version}
        return self.session.post(self.url, json={"query": query, "variables": variables or {}}, headers=headers)

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.post(query, variables).json()
        assert "errors" not in body, body
        return body["data"]

    def board_ids(self, state: str = "active") -> list[str]:
        return [b["id"] for b in self.data(f"{{ boards(state: {state}, limit: 500) {{ id }} }}")["boards"]]

    def all_items(self, board: str, limit: int, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        page = self.data(ITEMS_QUERY, {"board": [board], "limit": limit, "params": params or {}})["boards"][0]["items_page"]
        found = list(page["items"])
        while page["cursor"]:
            page = self.data(NEXT_QUERY, {"c": page["cursor"], "l": limit})["next_items_page"]
            found += page["items"]
        return found


@pytest.fixture
def monday(monday_sandbox: Sandbox) -> Monday:
    monday_sandbox.vendors["monday"].control.reset()
    return Monday(monday_sandbox)


def test_dataset_is_byte_stable_and_links_every_board() -> None:
    crm = datasets.load(datasets.default_dataset_path())
    first, second = build_monday_dataset(crm), build_monday_dataset(json.loads(json.dumps(crm)))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    kinds = {link["kind"] for link in first["links"]}
    assert kinds == {"explicit", "name", "missing", "ambiguous"}
    assert {link["project_id"] for link in first["links"]} == {b["id"] for b in first["boards"]}
    explicit = {l["project_id"]: f"{l['crm']}:{l['deal_id']}" for l in first["links"] if l["kind"] == "explicit"}
    for item in first["items"]:
        if item["board_id"] in explicit:
            assert item["column_values"]["crm_deal"] == explicit[item["board_id"]]
    sf_ids = {o["Id"] for o in crm["salesforce"]["objects"]["Opportunity"]}
    assert any(l["deal_id"] in sf_ids for l in first["links"] if l["crm"] == "salesforce")
    assert any(s for i in first["items"] for s in i["column_values"].get("time_tracking", {}).get("sessions", []))


def test_token_raw_or_bearer_and_errors_for_bad_ones(monday: Monday) -> None:
    assert monday.post("{ me { id } }").json()["data"]["me"]["id"]
    assert monday.post("{ me { id } }", token=f"Bearer {monday.token}").status_code == 200
    refused = monday.post("{ me { id } }", token="nope")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UserUnauthorizedException"
    assert monday.post("{ me { id } }", version="latest").status_code == 400
    assert monday.data("{ version { value } }")["version"]["value"] == "2025-07"


def test_graphql_validation_is_real(monday: Monday) -> None:
    body = monday.post("{ boards { id nope } }").json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "nope" in body["errors"][0]["message"]
    body = monday.post("{ boards(limit: \"x\") { id } }").json()
    assert body["errors"] and "data" not in body
    fragment = monday.data("query Q { boards(limit: 1) { ...B } } fragment B on Board { id name columns(types: [time_tracking]) { id } }")
    assert fragment["boards"][0]["columns"] == [{"id": "time_tracking"}]


def test_board_states_and_column_values(monday: Monday) -> None:
    active, everything = monday.board_ids(), monday.board_ids("all")
    archived = monday.board_ids("archived")
    assert archived and set(active) | set(archived) == set(everything) and not set(active) & set(archived)
    query = """query ($b: [ID!]) { boards(ids: $b) { items_page(limit: 50) { items { id column_values { id type text value
      ... on TimeTrackingValue { duration running history { id started_at ended_at started_user_id } }
      ... on StatusValue { index label is_done } ... on CheckboxValue { checked } } } } } }"""
    items = monday.data(query, {"b": active[:1]})["boards"][0]["items_page"]["items"]
    tracked = [v for i in items for v in i["column_values"] if v["type"] == "time_tracking" and v["value"]]
    assert tracked
    value = tracked[0]
    raw = json.loads(value["value"])
    assert raw["duration"] == value["duration"] == sum(
        int((_ts(h["ended_at"]) - _ts(h["started_at"]))) for h in value["history"])
    assert {"running", "startDate", "duration", "additional_value"} <= set(raw)
    deal = [v for i in items for v in i["column_values"] if v["id"] == "crm_deal"]
    assert all(v["text"].startswith(("salesforce:", "hubspot:")) for v in deal if v["text"])
    status = [v for i in items for v in i["column_values"] if v["type"] == "status"]
    assert all(v["is_done"] == (v["label"] == "Terminé") for v in status)


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_cursor_paging_loses_and_repeats_nothing_even_when_items_change(monday: Monday) -> None:
    board = monday.board_ids()[0]
    expected = monday.all_items(board, 500)
    page = monday.data(ITEMS_QUERY, {"board": [board], "limit": 2, "params": {}})["boards"][0]["items_page"]
    seen = [i["id"] for i in page["items"]]
    monday.control.create("items", {"board_id": board, "name": "Arrivée pendant la pagination"})
    while page["cursor"]:
        page = monday.data(NEXT_QUERY, {"c": page["cursor"], "l": 2})["next_items_page"]
        seen += [i["id"] for i in page["items"]]
    assert seen == [i["id"] for i in expected]
    assert len(monday.all_items(board, 500)) == len(expected) + 1
    too_big = monday.post(ITEMS_QUERY, {"board": [board], "limit": 501, "params": {}}).json()
    assert too_big["errors"][0]["extensions"]["code"] == "InvalidArgumentException"


def test_cursor_expires_after_sixty_virtual_minutes(monday: Monday) -> None:
    board = monday.board_ids()[0]
    page = monday.data(ITEMS_QUERY, {"board": [board], "limit": 1, "params": {}})["boards"][0]["items_page"]
    monday.control.advance(59 * 60)
    page = monday.data(NEXT_QUERY, {"c": page["cursor"], "l": 1})["next_items_page"]
    monday.control.advance(2 * 60)
    expired = monday.post(NEXT_QUERY, {"c": page["cursor"], "l": 1})
    assert expired.status_code == 200
    error = expired.json()["errors"][0]
    assert error["extensions"]["code"] == "CursorException" and "expired" in error["message"]
    bogus = monday.post(NEXT_QUERY, {"c": "bm90IGEgY3Vyc29y", "l": 1}).json()
    assert bogus["errors"][0]["extensions"]["code"] == "CursorException"


def test_last_updated_rule_has_day_granularity(monday: Monday) -> None:
    board = monday.board_ids()[0]
    monday.control.set_clock("2026-03-03T08:00:00Z")
    early = monday.control.create("items", {"board_id": board, "name": "tôt"})["id"]
    monday.control.set_clock("2026-03-03T20:00:00Z")
    late = monday.control.create("items", {"board_id": board, "name": "tard"})["id"]
    rule = {"column_id": "__last_updated__", "compare_value": ["EXACT", "2026-03-03T19:00:00Z"],
            "operator": "greater_than_or_equals", "compare_attribute": "UPDATED_AT"}
    found = {i["id"] for i in monday.all_items(board, 50, {"rules": [rule]})}
    assert found == {early, late}  # 08:00 matches a 19:00 bound: only the day is compared
    before = dict(rule, operator="lower_than_or_equal", compare_value=["EXACT", "2026-03-02T23:59:59Z"])
    older = {i["id"] for i in monday.all_items(board, 50, {"rules": [before]})}
    assert early not in older and older
    ordered = monday.all_items(board, 50, {"order_by": [{"column_id": "__last_updated__", "direction": "desc"}]})
    assert [i["id"] for i in ordered[:2]] == [late, early]


def test_deletions_show_in_state_and_activity_logs(monday: Monday) -> None:
    board = monday.board_ids()[0]
    victim = monday.all_items(board, 500)[0]["id"]
    monday.control.set_clock("2026-03-04T10:00:00Z")
    monday.control.delete("items", victim)
    assert victim not in {i["id"] for i in monday.all_items(board, 500)}
    items = monday.data("query ($i: [ID!]) { items(ids: $i, exclude_nonactive: false) { id state updated_at } }",
                        {"i": [victim]})["items"]
    assert items == [{"id": victim, "state": "deleted", "updated_at": "2026-03-04T10:00:00Z"}]
    logs = monday.data("""query ($b: [ID!]) { boards(ids: $b) { activity_logs(from: "2026-03-04T00:00:00Z",
        to: "2026-03-05T00:00:00Z") { event data created_at } } }""", {"b": [board]})["boards"][0]["activity_logs"]
    assert [(l["event"], json.loads(l["data"])["pulse_id"]) for l in logs] == [("delete_pulse", int(victim))]
    assert len(logs[0]["created_at"]) == 17
    monday.control.update("boards", board, {"state": "archived"})
    assert board in monday.board_ids("archived")
    too_many = monday.post("{ items(limit: 101) { id } }").json()
    assert too_many["errors"][0]["extensions"]["code"] == "InvalidArgumentException"


def test_complexity_budget_is_enforced_with_retry_in_seconds(monday: Monday) -> None:
    cost = monday.data("{ complexity { query } boards(limit: 5) { id } }")["complexity"]["query"]
    monday.control.config(complexity_budget_per_minute=cost * 3)
    monday.post("{ boards(limit: 5) { id } }")
    monday.post("{ boards(limit: 5) { id } }")
    refused = monday.post("{ boards(limit: 5) { id } }")
    assert refused.status_code == 200
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "COMPLEXITY_BUDGET_EXHAUSTED"
    assert 1 <= error["extensions"]["retry_in_seconds"] <= 60 and refused.headers["Retry-After"]
    monday.control.config(max_query_complexity=100)
    big = monday.post("{ boards(limit: 100) { items_page(limit: 500) { items { id } } } }").json()
    assert big["errors"][0]["extensions"]["code"] == "maxComplexityExceeded"


def test_faults_throttle_fail_and_corrupt(monday: Monday) -> None:
    monday.control.add_fault("rate_limit", retry_after=7)
    throttled = monday.post("{ me { id } }")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert throttled.json()["errors"][0]["extensions"]["retry_in_seconds"] == 7
    monday.control.add_fault("rate_limit", error_code="COMPLEXITY_BUDGET_EXHAUSTED", retry_after=3)
    budget = monday.post("{ me { id } }")
    assert budget.status_code == 200 and budget.json()["errors"][0]["extensions"]["code"] == "COMPLEXITY_BUDGET_EXHAUSTED"
    monday.control.add_fault("error", status=502)
    assert monday.post("{ me { id } }").status_code == 502
    monday.control.add_fault("missing_id")
    stripped = monday.post("{ boards(limit: 3) { id name } }").json()["data"]["boards"]
    assert "id" not in stripped[0] and "id" in stripped[1]
    monday.control.add_fault("malformed_json")
    with pytest.raises(ValueError):
        monday.post("{ boards(limit: 3) { id } }").json()
    monday.control.add_fault("expire_tokens")
    assert monday.post("{ me { id } }").status_code == 401
    monday.control.clear_faults()
    assert monday.post("{ me { id } }").status_code == 200


def test_control_api_stamps_changes_at_the_sandbox_clock(monday: Monday) -> None:
    board = monday.board_ids()[0]
    users = monday.data("{ users { id } }")["users"]
    monday.control.set_clock("2026-03-06T09:30:00Z")
    made = monday.control.create("items", {
        "board_id": board, "name": "Atelier", "status": "Terminé", "person": users[1]["id"], "billable": True,
        "crm_deal": "hubspot:123", "time_tracking": [{"user_id": users[1]["id"], "started_at": "2026-03-05T09:00:00Z",
                                                       "ended_at": "2026-03-05T10:30:00Z"}],
    })
    item = monday.data("""query ($i: [ID!]) { items(ids: $i) { updated_at created_at board { id updated_at }
        column_values(ids: ["time_tracking", "status"]) { id text ... on TimeTrackingValue { duration } } } }""",
                       {"i": [made["id"]]})["items"][0]
    assert item["updated_at"] == item["created_at"] == item["board"]["updated_at"] == "2026-03-06T09:30:00Z"
    assert {v["id"]: v["text"] for v in item["column_values"]} == {"status": "Terminé", "time_tracking": "01:30:00"}
    assert [v.get("duration") for v in item["column_values"] if v["id"] == "time_tracking"] == [5400]
    bulk = monday.control.bulk("items", create=30, touch=5, fields={"board_id": board})
    assert bulk["created"] == 30 and len(bulk["touched_ids"]) == 5
    with pytest.raises(Exception, match="no column"):
        monday.control.update("items", made["id"], {"nope": 1})


def test_numbers_column_keeps_the_digits_typed_in_text_and_value(monday: Monday) -> None:
    """``value`` is the JSON text of a string number; ``number`` is a GraphQL Float, as lossy as monday's."""
    board = monday.board_ids()[0]
    made = monday.control.create("items", {"board_id": board, "name": "Saisie", "hours": "99999999999999.99"})
    response = monday.post("""query ($i: [ID!]) { items(ids: $i) { column_values(ids: ["hours"]) { id type text
        value ... on NumbersValue { number direction } } } }""", {"i": [made["id"]]})
    assert b'"value":"\\"99999999999999.99\\""' in response.content
    [hours] = response.json()["data"]["items"][0]["column_values"]
    assert (hours["type"], hours["text"], json.loads(hours["value"])) == ("numbers", "99999999999999.99",
                                                                          "99999999999999.99")
    assert hours["number"] == 99999999999999.98 and hours["direction"] == "right"
    columns = monday.data('{ boards(limit: 1) { columns { id title type } } }')["boards"][0]["columns"]
    assert {"id": "hours", "title": "Heures", "type": "numbers"} in columns
    with pytest.raises(Exception, match="not a number"):
        monday.control.update("items", made["id"], {"hours": "douze"})


def test_a_board_updated_at_moves_with_its_items_but_never_back(monday: Monday) -> None:
    """Items are stamped at the clock even when it is set back; their board keeps its latest change."""
    board = monday.board_ids()[0]
    first, second = (monday.control.create("items", {"board_id": board, "name": n})["id"] for n in ("un", "deux"))
    monday.control.set_clock("2026-03-05T10:00:00.750Z")
    monday.control.update("items", first, {"name": "un, renommé"})
    monday.control.set_clock("2026-03-04T09:00:00Z")
    monday.control.update("items", second, {"name": "deux, renommé"})
    query = "query ($b: [ID!], $i: [ID!]) { boards(ids: $b) { updated_at } items(ids: $i) { id updated_at } }"
    data = monday.data(query, {"b": [board], "i": [first, second]})
    assert data["boards"][0]["updated_at"] == "2026-03-05T10:00:00Z"
    assert {i["id"]: i["updated_at"] for i in data["items"]} == {first: "2026-03-05T10:00:00Z",
                                                                  second: "2026-03-04T09:00:00Z"}
