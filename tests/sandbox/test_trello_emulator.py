"""The Trello emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from passerelle_sandbox import dataset as datasets
from passerelle_sandbox.dataset_trello import build_trello_dataset
from passerelle_sandbox.server import Sandbox
from passerelle_sandbox.trello_ids import object_id_seconds
from tests.fixtures.sandbox import single_vendor_sandbox


trello_sandbox = single_vendor_sandbox("trello", "trello_sandbox")


@pytest.fixture
def trello(trello_sandbox: Sandbox) -> "Trello":
    trello_sandbox.vendors["trello"].control.reset()
    return Trello(trello_sandbox)


class Trello:
    """Minimal Trello client: base URL, key + token and the sandbox CA."""

    def __init__(self, sandbox: Sandbox) -> None:
        endpoint = sandbox.vendors["trello"]
        self.base, self.control = endpoint.base_url, endpoint.control
        self.key, self.token = endpoint.credentials["key"], endpoint.credentials["token"]
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False

    def get(self, path: str, *, auth: bool = True, **params: Any) -> requests.Response:
        if auth:
            params = {"key": self.key, "token": self.token, **params}
        return self.session.get(f"{self.base}{path}", params=params)

    def boards(self) -> list[dict[str, Any]]:
        return self.get("/1/members/me/boards").json()

    def all_actions(self, board_id: str, limit: int = 1000, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.get(f"/1/boards/{board_id}/actions", limit=limit, **params).json()
            found += page
            if len(page) < limit:
                return found
            params["before"] = page[-1]["id"]


def test_dataset_is_deterministic_and_lists_every_link_kind() -> None:
    crm = datasets.load(datasets.default_dataset_path())
    first, second = build_trello_dataset(crm), build_trello_dataset(crm)
    assert json.dumps(first) == json.dumps(second)
    kinds = {link["kind"] for link in first["links"]}
    assert kinds == {"explicit", "name", "missing", "ambiguous"}
    assert {link["project_id"] for link in first["links"]} == {board["id"] for board in first["boards"]}
    explicit = next(link for link in first["links"] if link["kind"] == "explicit")
    board_cards = [c for c in first["cards"] if c["idBoard"] == explicit["project_id"]]
    texts = {i["value"].get("text") for c in board_cards for i in c["customFieldItems"]}
    assert f"{explicit['crm']}:{explicit['deal_id']}" in texts
    clock = datetime.fromisoformat(crm["clock"].replace("Z", "+00:00")).timestamp()
    assert all(object_id_seconds(a["id"]) <= clock and a["date"] < crm["clock"] for a in first["actions"])


def test_query_and_oauth_header_auth_and_plain_text_refusals(trello: Trello) -> None:
    assert trello.get("/1/members/me").json()["username"] == "passerelle_integration"
    header = f'OAuth oauth_consumer_key="{trello.key}", oauth_token="{trello.token}"'
    by_header = trello.session.get(f"{trello.base}/1/members/me/boards", headers={"Authorization": header})
    assert by_header.status_code == 200 and len(by_header.json()) == len(trello.boards())
    cases = [({"key": "nope", "token": trello.token}, "invalid key"),
             ({"key": trello.key, "token": "nope"}, "invalid token"),
             ({"key": trello.key}, "unauthorized permission requested")]
    for params, text in cases:
        response = trello.get("/1/members/me/boards", auth=False, **params)
        assert (response.status_code, response.text) == (401, text)
        assert response.headers["Content-Type"].startswith("text/plain")


def test_ids_are_object_ids_stamped_with_creation_time(trello: Trello) -> None:
    board = trello.boards()[0]
    cards = trello.get(f"/1/boards/{board['id']}/cards/all", customFieldItems="true").json()
    actions = trello.all_actions(board["id"], filter="createCard")
    created = {a["data"]["card"]["id"]: a["date"] for a in actions}
    for card in cards:
        stamp = datetime.fromtimestamp(object_id_seconds(card["id"]), tz=timezone.utc)
        assert stamp.strftime("%Y-%m-%dT%H:%M:%S") == created[card["id"]][:19]
    assert any(card["customFieldItems"] for card in cards)
    assert "customFieldItems" not in trello.get(f"/1/boards/{board['id']}/cards").json()[0]


def test_actions_are_newest_first_capped_at_1000_and_paged_by_before(trello: Trello) -> None:
    board = trello.boards()[0]["id"]
    control = trello.control
    control.bulk("cards", create=1200, fields={"idBoard": board})
    default = trello.get(f"/1/boards/{board}/actions").json()
    assert len(default) == 50
    assert [a["id"] for a in default] == sorted((a["id"] for a in default), reverse=True)
    assert trello.get(f"/1/boards/{board}/actions", limit=1001).status_code == 400
    walked = trello.all_actions(board)
    stored = [a for a in control.records("actions") if a["data"]["board"]["id"] == board]
    assert len(walked) == len({a["id"] for a in walked}) == len(stored) > 1200
    assert sum(a["type"] == "createCard" for a in trello.all_actions(board, filter="createCard")) == (
        sum(a["type"] == "createCard" for a in stored))


def test_since_and_before_take_dates_or_object_ids(trello: Trello) -> None:
    board = trello.boards()[0]["id"]
    actions = trello.all_actions(board)
    middle = actions[len(actions) // 2]
    by_id = trello.all_actions(board, since=middle["id"])
    assert [a["id"] for a in by_id] == [a["id"] for a in actions if a["id"] > middle["id"]]
    before = trello.all_actions(board, before=middle["id"])
    assert len(by_id) + len(before) + 1 == len(actions)
    second = middle["date"][:19] + "Z"
    by_date = trello.all_actions(board, since=second)
    assert middle["id"] in {a["id"] for a in by_date}
    assert all(a["date"][:19] >= second[:19] for a in by_date)
    assert trello.get(f"/1/boards/{board}/actions", since="yesterday").status_code == 400


def test_control_changes_are_stamped_and_logged_as_actions(trello: Trello) -> None:
    control = trello.control
    now = control.set_clock("2026-03-02T09:30:00.000Z")
    board = trello.boards()[0]
    card = control.create("cards", {"idBoard": board["id"], "list": "Temps", "name": "2026-03-02 · Test · 2 h",
                                    "customFields": {"Hours": 2, "Billable": True, "Date worked": "2026-03-02"}})
    assert card["record"]["dateLastActivity"] == "2026-03-02T09:30:00.000Z"
    assert object_id_seconds(card["id"]) == int(now.timestamp())
    control.advance(60)
    control.update("cards", card["id"], {"idList": "Terminé", "customFields": {"Hours": 2.5}})
    newest = trello.get(f"/1/boards/{board['id']}/actions", limit=3).json()
    assert [a["type"] for a in newest] == ["updateCustomFieldItem", "updateCard", "updateCustomFieldItem"]
    assert newest[1]["data"]["listAfter"]["name"] == "Terminé" and newest[1]["data"]["old"]["idList"]
    assert newest[0]["data"]["customFieldItem"]["value"] == {"number": "2.5"}
    assert newest[0]["date"] == "2026-03-02T09:31:00.000Z"
    control.advance(60)
    control.delete("cards", card["id"])
    assert trello.get(f"/1/cards/{card['id']}").status_code == 404
    deleted = trello.get(f"/1/boards/{board['id']}/actions", filter="deleteCard", limit=1).json()[0]
    assert deleted["data"]["card"]["id"] == card["id"] and deleted["date"] == "2026-03-02T09:32:00.000Z"


def test_closed_means_archived_not_deleted(trello: Trello) -> None:
    board = trello.boards()[0]["id"]
    card = trello.get(f"/1/boards/{board}/cards").json()[0]
    trello.control.update("cards", card["id"], {"closed": True})
    assert card["id"] not in {c["id"] for c in trello.get(f"/1/boards/{board}/cards").json()}
    archived = {c["id"]: c for c in trello.get(f"/1/boards/{board}/cards/closed").json()}
    assert archived[card["id"]]["closed"] is True
    assert trello.get(f"/1/cards/{card['id']}").json()["closed"] is True


def test_rate_limit_answers_trello_429_without_retry_after(trello: Trello) -> None:
    trello.control.config(token_limit=3)
    statuses = [trello.get("/1/members/me/boards", fields="name") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[0].headers["x-rate-limit-api-token-max"] == "3"
    assert statuses[3].json() == {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
    assert "Retry-After" not in statuses[3].headers


def test_faults_use_trello_bodies(trello: Trello) -> None:
    control = trello.control
    board = trello.boards()[0]["id"]
    control.add_fault("rate_limit", times=1)
    control.add_fault("error", status=503, after=1, times=1)
    throttled, failed = trello.get(f"/1/boards/{board}/lists"), trello.get(f"/1/boards/{board}/lists")
    assert throttled.status_code == 429 and throttled.json()["error"] == "API_TOKEN_LIMIT_EXCEEDED"
    assert failed.status_code == 503
    control.add_fault("missing_id", path="/lists")
    assert "id" not in trello.get(f"/1/boards/{board}/lists").json()[0]
    control.add_fault("expire_tokens")
    assert trello.get(f"/1/boards/{board}/lists").text == "invalid token"


def test_unknown_and_malformed_ids(trello: Trello) -> None:
    assert (trello.get("/1/boards/nope").status_code, trello.get("/1/boards/nope").text) == (400, "invalid id")
    assert trello.get("/1/boards/" + "0" * 24).status_code == 404
    assert trello.get("/1/nothing").status_code == 404


def test_writes_take_query_or_form_parameters_and_answer_plain_text_errors(trello: Trello) -> None:
    auth = {"key": trello.key, "token": trello.token}
    board = trello.boards()[0]["id"]
    todo = trello.get(f"/1/boards/{board}/lists").json()[0]
    created = trello.session.post(f"{trello.base}/1/cards", params={**auth, "idList": todo["id"], "name": "Par formulaire"},
                                  data={"desc": "corps", "due": "2026-05-04T10:00:00.000Z"})
    card = created.json()
    assert created.status_code == 200 and (card["desc"], card["due"]) == ("corps", "2026-05-04T10:00:00.000Z")
    assert card["badges"]["due"] == card["due"] and card["shortUrl"].startswith("https://trello.com/c/")
    refusals = [
        trello.session.post(f"{trello.base}/1/cards", params=auth, data={"name": "sans liste"}),
        trello.session.put(f"{trello.base}/1/cards/{card['id']}", params=auth, data={"closed": "peut-être"}),
        trello.session.put(f"{trello.base}/1/cards/{card['id']}", params=auth, json={"name": " "}),
        trello.session.put(f"{trello.base}/1/cards/{card['id']}", params=auth, json={"idList": "0" * 24}),
        trello.session.post(f"{trello.base}/1/lists", params=auth, json={"name": "Liste", "idBoard": "nope"}),
    ]
    assert [(r.status_code, r.text) for r in refusals] == [
        (400, "invalid value for idList"), (400, "invalid value for closed"), (400, "invalid value for name"),
        (400, "invalid value for idList"), (400, "invalid value for idBoard")]
    assert all(r.headers["Content-Type"].startswith("text/plain") for r in refusals)
    missing = trello.session.put(f"{trello.base}/1/cards/{'0' * 24}", params=auth, json={"name": "x"})
    assert (missing.status_code, missing.text) == (404, "The requested resource was not found.")
    unknown = trello.session.put(f"{trello.base}/1/cards/{card['id']}/nothing", params=auth, json={"value": 1})
    assert (unknown.status_code, unknown.text) == (404, f"Cannot PUT /1/cards/{card['id']}/nothing")


def test_a_write_is_an_action_seen_by_the_next_incremental_read(trello: Trello) -> None:
    auth = {"key": trello.key, "token": trello.token}
    board = trello.boards()[0]["id"]
    card = trello.get(f"/1/boards/{board}/cards").json()[0]
    trello.control.set_clock(datetime(2026, 6, 1, 8, tzinfo=timezone.utc))
    unchanged = trello.session.put(f"{trello.base}/1/cards/{card['id']}", params=auth, json={"name": card["name"]})
    assert unchanged.status_code == 200 and trello.get(f"/1/boards/{board}/actions", since="2026-06-01T07:00:00Z").json() == []
    trello.control.set_clock(datetime(2026, 6, 1, 9, tzinfo=timezone.utc))
    archived = trello.session.put(f"{trello.base}/1/cards/{card['id']}", params=auth, json={"closed": True}).json()
    assert archived["closed"] is True and archived["dateLastActivity"].startswith("2026-06-01T09:00")
    recent = trello.get(f"/1/boards/{board}/actions", since="2026-06-01T08:30:00Z").json()
    assert [(a["type"], a["data"]["old"]) for a in recent] == [("updateCard", {"closed": False})]
    assert recent[0]["idMemberCreator"] == trello.get("/1/members/me").json()["id"]
