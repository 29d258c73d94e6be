"""Contract test: monday.com's own Python SDK (monday-api-python-sdk) reads and writes the emulator.

The SDK writes its GraphQL by hand (fragments on ``MirrorValue`` / ``BoardRelationValue`` /
``DependencyValue``, ``subitems``, ``updates``, ``permissions``, ``tags``...) and loads the answers
into dataclasses with dacite: a type, field or argument the emulator's schema lacks fails GraphQL
validation here, and a wrong shape fails deserialisation. The SDK always posts to
``https://api.monday.com/v2``: its GraphQL client's ``endpoint`` is pointed at the emulator, and
``requests`` verifies TLS through ``REQUESTS_CA_BUNDLE``, set to the sandbox CA. Reads the SDK has
no method for (users and teams, workspaces, tags, ``create_board``, ``create_column``) go through
its ``custom.execute_custom_query``.
"""

from __future__ import annotations

import json
from datetime import datetime
from collections.abc import Callable
from typing import Any

import pytest
from graphql import parse
from monday_sdk import MondayClient
from monday_sdk.query_templates import get_complexity_query, get_items_by_group_query
from monday_sdk.types import BoardState
from monday_sdk.utils import extract_column_value_by_id

ME = "55500001"


class Recorder:
    """The root fields of every query the SDK sends, in order; ``before`` runs ahead of each one."""

    def __init__(self, client: MondayClient) -> None:
        self.fields: list[str] = []
        self.before: Callable[[list[str]], None] | None = None
        graphql = client._graphql_client
        send = graphql._send

        def recording_send(query: str) -> Any:
            operation = parse(query).definitions[0]
            fields = [s.name.value for s in operation.selection_set.selections if s.name.value != "complexity"]
            if self.before is not None:
                self.before(fields)
            self.fields += fields
            return send(query)

        graphql._send = recording_send


def sdk(sandbox: Any, token: str | None = None, retries: int = 1) -> MondayClient:
    endpoint = sandbox.vendors["monday"]
    client = MondayClient(token or endpoint.credentials["api_token"], max_retry_attempts=retries)
    client._graphql_client.endpoint = f"{endpoint.base_url}/v2"
    return client


@pytest.fixture
def client(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> MondayClient:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_path))
    return sdk(sandbox)


@pytest.fixture
def calls(client: MondayClient) -> Recorder:
    return Recorder(client)


def control(sandbox: Any) -> Any:
    return sandbox.vendors["monday"].control


def active_board(sandbox: Any, index: int = 0) -> dict[str, Any]:
    boards = [b for b in control(sandbox).records("boards") if b["state"] == "active"]
    return sorted(boards, key=lambda b: int(b["id"]))[index]


def board_items(sandbox: Any, board_id: str) -> list[dict[str, Any]]:
    return [i for i in control(sandbox).records("items") if i["board_id"] == board_id]


def custom(client: MondayClient, query: str) -> dict[str, Any]:
    return client.custom.execute_custom_query(query).response_data["data"]


def raw(client: MondayClient, query: str) -> Any:
    """The HTTP answer itself, sent by the SDK's own transport, for the error body and headers."""
    return client._graphql_client._send(query)


def value_of(item: Any, column_id: str) -> Any:
    return next(v for v in item.column_values if v.column.id == column_id)


# -------------------------------------------------------------------------------------- reads

def test_sdk_reads_boards_with_columns_groups_permissions_and_tags(client: MondayClient, sandbox: Any,
                                                                    calls: Recorder) -> None:
    held = control(sandbox).records("boards", include_deleted=True)
    response = client.boards.fetch_boards()
    boards = response.data.boards
    assert [b.id for b in boards] == sorted((b["id"] for b in held if b["state"] == "active"), key=int)
    first = boards[0]
    assert [c.id for c in first.columns] == [c["id"] for c in held[0]["columns"]] and first.columns[1].type == "status"
    assert [(g.id, g.title) for g in first.groups] == [("topics", "Tâches"), ("milestones", "Jalons")]
    answered = response.response_data["data"]["boards"]
    assert {b["permissions"] for b in answered} == {"everyone"}
    assert {t["name"] for b in answered for t in b["tags"]} == {"facturable", "client"}
    archived = client.boards.fetch_boards(state=BoardState.ARCHIVED).data.boards
    assert [b.id for b in archived] == [b["id"] for b in held if b["state"] == "archived"] != []
    by_id = client.boards.fetch_boards_by_id(first.id).response_data["data"]["boards"][0]
    assert by_id["id"] == first.id and json.loads(by_id["columns"][0]["settings_str"]) == {}
    columns = client.boards.fetch_columns_by_board_id(first.id).data.boards[0].columns
    assert [c.title for c in columns] == [c.title for c in first.columns]
    assert calls.fields == ["boards"] * 4


def test_sdk_pages_board_items_with_next_items_page(client: MondayClient, sandbox: Any, calls: Recorder) -> None:
    board = active_board(sandbox)
    expected = [i for i in board_items(sandbox, board["id"]) if i["state"] == "active"]
    items = client.boards.fetch_all_items_by_board_id(board["id"], limit=3)
    assert [i.id for i in items] == [i["id"] for i in expected] and len(items) > 3
    pages = -(-len(expected) // 3)
    assert calls.fields == ["boards"] + ["next_items_page"] * (pages - 1)
    held = {i["id"]: i for i in expected}
    for item in items:
        assert item.name == held[item.id]["name"] and item.updated_at == held[item.id]["updated_at"]
        assert item.group.id == held[item.id]["group_id"] and item.subitems == []
        status = value_of(item, "status")
        assert status.text == held[item.id]["column_values"]["status"]["label"] and status.display_value is None
        assert json.loads(status.value)["index"] == held[item.id]["column_values"]["status"]["index"]
        if "billable" in held[item.id]["column_values"]:
            assert extract_column_value_by_id(item, "billable") == "true"
    group = custom(client, get_items_by_group_query(board["id"], "milestones", limit=100))["boards"][0]["groups"][0]
    milestones = [i["id"] for i in expected if i["group_id"] == "milestones"]
    assert [i["id"] for i in group["items_page"]["items"]] == milestones != []
    large = client.boards.fetch_all_items_by_board_id(board["id"], limit=4, is_large_board=True)
    assert sorted(i.id for i in large) == sorted(held)


def test_sdk_recovers_from_an_expired_cursor_on_a_large_board(client: MondayClient, sandbox: Any,
                                                              calls: Recorder) -> None:
    """monday expires a query's cursors 60 minutes after its first page: the SDK's large-board mode
    restarts from the last ``updated_at`` it saw, ordered by ``__last_updated__``."""
    held = control(sandbox)
    board = active_board(sandbox)
    expected = {i["id"] for i in board_items(sandbox, board["id"]) if i["state"] == "active"}
    expired: list[bool] = []

    def expire_once(fields: list[str]) -> None:
        if fields == ["next_items_page"] and not expired:
            held.advance(3601)
            expired.append(True)

    calls.before = expire_once
    items = client.boards.fetch_all_items_by_board_id(board["id"], limit=2, is_large_board=True)
    assert {i.id for i in items} == expected and len(items) == len(expected)
    assert calls.fields[:3] == ["boards", "next_items_page", "boards"] and expired == [True]
    updated = [i.updated_at for i in items]
    assert updated == sorted(updated)


def test_sdk_reads_items_by_column_values_and_by_ids(client: MondayClient, sandbox: Any, calls: Recorder) -> None:
    board = active_board(sandbox)
    held = board_items(sandbox, board["id"])
    done = [i["id"] for i in held if i["state"] == "active" and i["column_values"]["status"]["label"] == "Terminé"]
    found = client.items.fetch_items_by_column_value(board["id"], "status", "Terminé").data.items_page_by_column_values
    assert [i.id for i in found.items] == done != [] and found.cursor is None
    first = client.items.fetch_items_by_column_value(board["id"], "status", "Terminé", limit=1)
    page = first.data.items_page_by_column_values
    assert [i.id for i in page.items] == done[:1] and page.cursor
    answered = first.response_data["data"]["items_page_by_column_values"]["items"][0]
    assert answered["updates"] == [] and {v["id"] for v in answered["column_values"]} >= {"status", "crm_deal"}
    rest = client.items.fetch_items_by_column_value(board["id"], "status", "Terminé", limit=100, cursor=page.cursor)
    assert [i.id for i in rest.data.items_page_by_column_values.items] == done[1:]
    removed = [i for i in control(sandbox).records("items", include_deleted=True) if i["state"] != "active"]
    wanted = [held[0]["id"], removed[0]["id"]]
    items = client.items.fetch_items_by_id(wanted)
    assert {i.id: i.state for i in items} == {held[0]["id"]: "active", removed[0]["id"]: removed[0]["state"]}
    assert calls.fields == ["items_page_by_column_values"] * 3 + ["items"]


def test_sdk_reads_relation_dependency_and_mirror_values(client: MondayClient, sandbox: Any) -> None:
    board, other = active_board(sandbox), active_board(sandbox, 1)
    mine, theirs = board_items(sandbox, board["id"]), board_items(sandbox, other["id"])
    for column_id, kind, defaults in (
        ("deals", "board_relation", {"boardIds": [int(other["id"])]}),
        ("after", "dependency", {"boardIds": [int(board["id"])]}),
        ("deal_status", "mirror", {"relation_column": {"deals": True},
                                   "displayed_linked_columns": {other["id"]: ["status"]}}),
    ):
        created = custom(client, 'mutation { create_column(board_id: %s, id: "%s", title: "%s", column_type: %s, '
                                 'defaults: %s) { id type } }' % (board["id"], column_id, column_id, kind,
                                                                  json.dumps(json.dumps(defaults))))
        assert created["create_column"] == {"id": column_id, "type": kind}
    linked = theirs[:2]
    links = {"item_ids": [int(i["id"]) for i in linked]}
    client.items.change_custom_column_value(board["id"], mine[0]["id"], "deals", links)
    client.items.change_custom_column_value(board["id"], mine[0]["id"], "after", {"item_ids": [int(mine[1]["id"])]})
    item = client.items.fetch_items_by_id([mine[0]["id"]])[0]
    relation, dependency, mirror = value_of(item, "deals"), value_of(item, "after"), value_of(item, "deal_status")
    assert relation.type == "board_relation" and relation.text is None
    assert relation.display_value == ", ".join(i["name"] for i in linked)
    assert json.loads(relation.value) == {"linkedPulseIds": [{"linkedPulseId": int(i["id"])} for i in linked]}
    assert dependency.display_value == mine[1]["name"]
    assert mirror.display_value == ", ".join(i["column_values"]["status"]["label"] for i in linked)
    assert mirror.type == "mirror" and mirror.value is None
    assert extract_column_value_by_id(item, "deals") == relation.display_value
    empty = client.items.fetch_items_by_id([mine[2]["id"]])[0]
    assert value_of(empty, "deals").display_value == "" and value_of(empty, "deal_status").display_value == ""
    by_link = client.items.fetch_items_by_column_value(board["id"], "deals", relation.display_value)
    assert [i.id for i in by_link.data.items_page_by_column_values.items] == [mine[0]["id"]]


def test_sdk_reads_users_with_teams_workspaces_and_tags(client: MondayClient, sandbox: Any) -> None:
    users = custom(client, "{ users { id name email teams { id name } } }")["users"]
    assert [u["id"] for u in users] == sorted((u["id"] for u in control(sandbox).records("users")), key=int)
    me = next(u for u in users if u["id"] == ME)
    assert me["teams"] == [{"id": "6100002", "name": "Intégration"}]
    assert all(u["teams"] == [{"id": "6100001", "name": "Consultants"}] for u in users if u["id"] != ME)
    teams = custom(client, "{ teams { id name owners { id } users { id } } }")["teams"]
    assert [len(t["users"]) for t in teams] == [len(users) - 1, 1] and teams[0]["owners"] == [{"id": ME}]
    spaces = custom(client, "{ workspaces { id name kind state created_at } }")["workspaces"]
    board = active_board(sandbox)
    assert [w["id"] for w in spaces] == [board["workspace_id"]] and spaces[0]["kind"] == "open"
    workspace = custom(client, "{ boards(ids: %s) { workspace { id name } } }" % board["id"])["boards"][0]["workspace"]
    assert workspace == {"id": spaces[0]["id"], "name": spaces[0]["name"]}
    tags = custom(client, "{ tags { id name color } }")["tags"]
    assert [t["name"] for t in tags] == ["facturable", "client"] and all(t["color"].startswith("#") for t in tags)
    assert custom(client, '{ tags(ids: ["%s"]) { name } }' % tags[1]["id"])["tags"] == [{"name": "client"}]


# ------------------------------------------------------------------------------------- writes

def test_sdk_writes_items_and_the_next_incremental_read_sees_them(client: MondayClient, sandbox: Any,
                                                                  calls: Recorder) -> None:
    held = control(sandbox)
    board = active_board(sandbox)
    before = board_items(sandbox, board["id"])
    held.set_clock("2026-03-09T09:00:00Z")
    values = {"status": {"label": "En cours"}, "person": {"personsAndTeams": [{"id": 55500002, "kind": "person"}]},
              "date_done": {"date": "2026-03-20"}, "crm_deal": "hubspot:4242", "hours": "3.25"}
    created = client.items.create_item(board["id"], "milestones", "Reprise des écritures", values)
    item_id = created.data.create_item.id
    stored = held.record("items", item_id)
    assert stored["group_id"] == "milestones" and stored["created_at"] == "2026-03-09T09:00:00Z"
    assert stored["column_values"]["hours"] == "3.25" and stored["column_values"]["status"]["label"] == "En cours"
    held.set_clock("2026-03-09T10:30:00Z")
    done = {"status": {"label": "Terminé"}, "billable": {"checked": "true"}}
    changed = client.items.change_multiple_column_values(board["id"], before[0]["id"], done)
    after = changed.response_data["data"]["change_multiple_column_values"]
    assert {v["id"]: v["text"] for v in after["column_values"]}["status"] == "Terminé"
    client.items.change_status_column_value(board["id"], item_id, "status", "Terminé")
    client.items.change_simple_column_value(board["id"], item_id, "crm_deal", "hubspot:4243")
    client.items.change_date_column_value(board["id"], item_id, "date_done", datetime(2026, 3, 9, 10, 30))
    client.items.move_item_to_group(item_id, "topics")
    stored = held.record("items", item_id)
    assert stored["updated_at"] == "2026-03-09T10:30:00Z" and stored["group_id"] == "topics"
    assert stored["column_values"]["crm_deal"] == "hubspot:4243"
    assert stored["column_values"]["date_done"] == {"date": "2026-03-09", "time": "10:30:00"}
    fresh = client.boards.fetch_item_by_board_id_by_update_date(board["id"], "2026-03-09T00:00:00Z", None)
    assert sorted(i.id for i in fresh) == sorted([item_id, before[0]["id"]])
    assert value_of(next(i for i in fresh if i.id == item_id), "status").text == "Terminé"
    logs = client.activity_logs.fetch_all_activity_logs_from_board(board["id"], from_date="2026-03-09T00:00:00Z")
    assert {log.user_id for log in logs} == {ME}
    events = ["create_pulse"] + ["update_column_value"] * 5 + ["move_pulse_into_group"]
    assert [log.event for log in logs][::-1] == events
    change = json.loads(logs[-2].data)
    assert (change["pulse_id"], change["column_id"]) == (int(before[0]["id"]), "status")
    assert change["value"]["label"] == "Terminé"
    held.set_clock("2026-03-10T08:00:00Z")
    client.items.archive_item_by_id(before[1]["id"])
    client.items.delete_item_by_id(item_id)
    states = {i.id: i.state for i in client.items.fetch_items_by_id([before[1]["id"], item_id])}
    assert states == {before[1]["id"]: "archived", item_id: "deleted"}
    remaining = client.boards.fetch_all_items_by_board_id(board["id"])
    assert {before[1]["id"], item_id}.isdisjoint(i.id for i in remaining) and len(remaining) == len(before) - 1
    events = client.activity_logs.fetch_all_activity_logs_from_board(board["id"], from_date="2026-03-10T00:00:00Z")
    assert [log.event for log in events] == ["delete_pulse", "archive_pulse"]
    assert calls.fields.count("create_item") == 1 and "change_column_value" in calls.fields


def test_sdk_creates_and_reads_subitems(client: MondayClient, sandbox: Any) -> None:
    board = active_board(sandbox)
    parent = board_items(sandbox, board["id"])[0]
    made = client.items.create_subitem(parent["id"], "Contrôle des données", {"status": {"label": "En cours"}})
    subitem = made.response_data["data"]["create_subitem"]
    assert subitem["name"] == "Contrôle des données" and subitem["board"]["name"] == f"Subitems of {board['name']}"
    assert {v["id"]: v["text"] for v in subitem["column_values"]}["status"] == "En cours"
    client.items.create_subitem(parent["id"], "Validation client")
    item = client.items.fetch_items_by_id([parent["id"]])[0]
    assert [s.name for s in item.subitems] == ["Contrôle des données", "Validation client"]
    assert {s.parent_item.id for s in item.subitems} == {parent["id"]}
    assert value_of(item, "subitems").type == "subtasks"
    listed = client.boards.fetch_all_items_by_board_id(board["id"])
    assert [s.id for s in next(i for i in listed if i.id == parent["id"]).subitems] == [s.id for s in item.subitems]
    sub_board = subitem["board"]["id"]
    assert custom(client, "{ boards(ids: %s) { type } }" % sub_board)["boards"] == [{"type": "sub_items_board"}]


def test_sdk_posts_reads_and_deletes_updates(client: MondayClient, sandbox: Any, calls: Recorder) -> None:
    held = control(sandbox)
    board = active_board(sandbox)
    item = board_items(sandbox, board["id"])[0]
    held.set_clock("2026-03-09T09:00:00Z")
    first = client.updates.create_update(item["id"], "<p>Recette validée par le client</p>")
    first_id = first.response_data["data"]["create_update"]["id"]
    held.set_clock("2026-03-09T09:30:00Z")
    reply = custom(client, 'mutation { create_update(parent_id: %s, body: "Bien noté") { id } }' % first_id)
    held.set_clock("2026-03-09T11:00:00Z")
    second_id = client.updates.create_update(item["id"], "Mise en production le 12/03").response_data["data"][
        "create_update"]["id"]
    on_item = client.updates.fetch_updates_for_item(item["id"]).response_data["data"]["items"][0]["updates"]
    assert [u["id"] for u in on_item] == [second_id, first_id]
    assert on_item[1]["creator"]["id"] == ME and on_item[1]["created_at"] == "2026-03-09T09:00:00Z"
    assert [r["body"] for r in on_item[1]["replies"]] == ["Bien noté"] and on_item[1]["assets"] == []
    page = client.updates.fetch_board_updates_page(board["id"])
    assert [(u.id, u.item_id, u.text_body) for u in page] == [
        (second_id, item["id"], "Mise en production le 12/03"), (first_id, item["id"], "Recette validée par le client")]
    assert page[0].creator.id == ME
    # The published schema's Board.updates takes no from_date/to_date (the SDK sends them for 2026-01+).
    with pytest.raises(Exception, match="Unknown argument 'from_date' on field 'Board.updates'"):
        client.updates.fetch_board_updates(board["id"], updated_after="2026-03-09T12:00:00+02:00")
    everywhere = client.updates.fetch_updates(limit=10, page=1).response_data["data"]["updates"]
    assert [u["id"] for u in everywhere] == [second_id, first_id] and reply["create_update"]["id"]
    assert client.updates.delete_update(second_id).response_data["data"]["delete_update"] == {"id": second_id}
    assert [u.id for u in client.updates.fetch_board_updates_page(board["id"])] == [first_id]
    assert calls.fields.count("create_update") == 3 and calls.fields.count("delete_update") == 1


def test_sdk_creates_boards_from_a_template(client: MondayClient, sandbox: Any) -> None:
    template = active_board(sandbox)
    copied = custom(client, 'mutation { create_board(board_name: "Projet modèle", board_kind: private, '
                            'template_id: %s) { id name board_kind state columns { id } groups { id } items_count '
                            'owners { id } } }'
                    % template["id"])["create_board"]
    assert copied["name"] == "Projet modèle" and copied["board_kind"] == "private" and copied["state"] == "active"
    assert [c["id"] for c in copied["columns"]] == [c["id"] for c in template["columns"]]
    assert [g["id"] for g in copied["groups"]] == [g["id"] for g in template["groups"]]
    live = [i for i in board_items(sandbox, template["id"]) if i["state"] == "active"]
    assert copied["items_count"] == len(live) and copied["owners"] == [{"id": ME}]
    names = [i.name for i in client.boards.fetch_all_items_by_board_id(copied["id"])]
    assert names == [i["name"] for i in live]
    blank = custom(client, 'mutation { create_board(board_name: "Vierge", board_kind: public, template_id: %s, '
                           'empty: true) { id items_count } }' % template["id"])["create_board"]
    assert blank["items_count"] == 0
    plain = custom(client, 'mutation { create_board(board_name: "Interne", board_kind: public) '
                           '{ id columns { type } } }')
    assert "status" in [c["type"] for c in plain["create_board"]["columns"]]
    assert {b.id for b in client.boards.fetch_boards().data.boards} >= {copied["id"], blank["id"]}
    with pytest.raises(Exception, match="Template not found"):
        client.custom.execute_custom_query('mutation { create_board(board_name: "X", board_kind: public, '
                                           'template_id: 1) { id } }')


def test_board_creation_is_capped_per_minute(client: MondayClient, sandbox: Any) -> None:
    """``create_board`` has its own per-minute cap, answered with HTTP 429 (the SDK would sleep 30 s
    and retry, so the refusal is read from the SDK's transport)."""
    control(sandbox).config(create_board_per_minute=2)
    create = 'mutation { create_board(board_name: "Lot API %d", board_kind: public) { id } }'
    assert all(custom(client, create % n)["create_board"]["id"] for n in (1, 2))
    refused = raw(client, create % 3)
    error = refused.json()["errors"][0]
    assert refused.status_code == 429 and error["message"] == "Call limit exceeded for CreateBoard"
    assert error["extensions"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(refused.headers["Retry-After"]) == error["extensions"]["retry_in_seconds"] >= 1
    assert len([b for b in control(sandbox).records("boards") if b["name"].startswith("Lot API ")]) == 2
    assert custom(client, '{ boards(limit: 1) { id } }')["boards"]


# ------------------------------------------------------------------------------------- errors

def test_sdk_surfaces_monday_application_errors(client: MondayClient, sandbox: Any) -> None:
    board = active_board(sandbox)
    item = board_items(sandbox, board["id"])[0]
    with pytest.raises(Exception, match="This column ID doesn't exist for the board"):
        client.items.change_simple_column_value(board["id"], item["id"], "nope", "x")
    answer = raw(client, 'mutation { change_simple_column_value(board_id: %s, item_id: %s, column_id: "nope", '
                         'value: "x") { id } }' % (board["id"], item["id"]))
    body = answer.json()
    assert answer.status_code == 200 and body["data"] == {"change_simple_column_value": None}
    assert body["errors"][0]["extensions"]["code"] == "InvalidColumnIdException"
    assert body["errors"][0]["path"] == ["change_simple_column_value"] and body["extensions"]["request_id"]
    with pytest.raises(Exception, match="This status label doesn't exist"):
        client.items.change_multiple_column_values(board["id"], item["id"], {"status": {"label": "Bloqué"},
                                                                             "crm_deal": "jamais écrit"})
    stored = control(sandbox).record("items", item["id"])
    assert stored == next(i for i in board_items(sandbox, board["id"]) if i["id"] == item["id"])
    assert stored["column_values"].get("crm_deal") != "jamais écrit"
    client.items.change_multiple_column_values(board["id"], item["id"], {"status": {"label": "Bloqué"}},
                                               create_labels_if_missing=True)
    assert control(sandbox).record("items", item["id"])["column_values"]["status"]["label"] == "Bloqué"
    with pytest.raises(Exception, match="Item not found in board"):
        client.items.archive_item_by_id(1)
    with pytest.raises(Exception, match="Item name must be 255 characters or less"):
        client.items.create_item(board["id"], "topics", "x" * 256)
    too_long = raw(client, 'mutation { create_item(board_id: %s, item_name: "%s") { id } }' % (board["id"], "x" * 256))
    assert too_long.json()["errors"][0]["extensions"]["code"] == "ItemNameTooLongException"
    client.items.delete_item_by_id(item["id"])
    with pytest.raises(Exception, match="Item not found in board"):
        client.items.change_simple_column_value(board["id"], item["id"], "crm_deal", "après suppression")
    deleted = next(i for i in control(sandbox).records("items", include_deleted=True) if i["id"] == item["id"])
    assert deleted["state"] == "deleted" and deleted["column_values"].get("crm_deal") != "après suppression"
    with pytest.raises(Exception, match="Cannot query field"):
        client.custom.execute_custom_query("{ boards { no_such_field } }")
    invalid = raw(client, "{ boards { no_such_field } }").json()
    assert invalid["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_sdk_meets_the_complexity_budget_and_a_bad_token(client: MondayClient, sandbox: Any) -> None:
    control(sandbox).config(complexity_budget_per_minute=30)
    with pytest.raises(Exception, match="Complexity budget exhausted"):
        client.boards.fetch_boards()
    answer = raw(client, "{ boards { id } }")
    error = answer.json()["errors"][0]
    assert answer.status_code == 200 and error["extensions"]["code"] == "COMPLEXITY_BUDGET_EXHAUSTED"
    assert int(answer.headers["Retry-After"]) == error["extensions"]["retry_in_seconds"] >= 1
    control(sandbox).config(complexity_budget_per_minute=10_000_000)
    assert client.boards.fetch_boards().data.boards
    budget = custom(client, get_complexity_query())["complexity"]
    assert 0 < budget["after"] < 10_000_000 and budget["reset_in_x_seconds"] == 60
    with pytest.raises(Exception, match="HTTP 401"):
        sdk(sandbox, token="not-a-token").boards.fetch_boards()
