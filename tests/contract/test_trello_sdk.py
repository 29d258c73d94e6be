"""Contract test: py-trello, a Trello Python SDK, reads and writes the emulator.

The SDK builds its own paths, signs calls with OAuth 1 (``Authorization: OAuth oauth_consumer_key,
oauth_token``) or sends ``key``/``token``, sends JSON bodies with ``null``s and the string
``"null"`` for "no due date", and parses answers with ``json['key']``: a missing field
(``shortUrl``, ``badges``, ``email``) or an unrouted path fails here. It always calls
``https://api.trello.com/1``; its ``http_service`` hook sends those calls to the emulator, and it
verifies TLS through ``REQUESTS_CA_BUNDLE``, pointed at the sandbox CA.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
import requests
from trello import TrelloClient
from trello.exceptions import ResourceUnavailable, Unauthorized

TRELLO = "https://api.trello.com"


class SandboxHttp:
    """``requests`` as py-trello calls it, with Trello's host replaced by the emulator's."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        assert url.startswith(TRELLO), url
        self.calls.append((method, url[len(TRELLO):]))
        return self.session.request(method, self.base_url + url[len(TRELLO):], **kwargs)


@pytest.fixture
def http(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> SandboxHttp:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_path))
    return SandboxHttp(sandbox.vendors["trello"].base_url)


@pytest.fixture
def client(sandbox: Any, http: SandboxHttp) -> TrelloClient:
    creds = sandbox.vendors["trello"].credentials
    return TrelloClient(api_key=creds["key"], token=creds["token"], http_service=http)


def control(sandbox: Any) -> Any:
    return sandbox.vendors["trello"].control


def test_sdk_reads_boards_lists_cards_and_members(client: TrelloClient, sandbox: Any, http: SandboxHttp) -> None:
    held = control(sandbox)
    boards = client.list_boards()
    assert {b.id for b in boards} == {b["id"] for b in held.records("boards")}
    board = client.get_board(boards[0].id)
    assert board.name == boards[0].name and board.url.startswith("https://trello.com/b/")
    lists = board.list_lists("all")
    assert {lst.id for lst in lists} == {r["id"] for r in held.records("lists") if r["idBoard"] == board.id}
    cards = board.all_cards()
    assert {c.id for c in cards} == {r["id"] for r in held.records("cards") if r["idBoard"] == board.id}
    for card in cards:
        assert card.shortUrl.startswith("https://trello.com/c/") and card.badges["checkItems"] >= 0
    by_list = {lst.id: lst.list_cards(card_filter="all") for lst in lists}
    assert sorted(c.id for cs in by_list.values() for c in cs) == sorted(c.id for c in cards)
    assert client.get_list(lists[0].id).name == lists[0].name
    me = client.get_member("me")
    assert me.username == "passerelle_integration" and me.email and me.full_name
    other = next(m for m in held.records("members") if m["id"] != me.id)
    assert client.get_member(other["id"]).email is None
    assert ("GET", "/1/members/me/boards/") in [(m, p.split("?")[0]) for m, p in http.calls]
    creds = sandbox.vendors["trello"].credentials  # the SDK's other mode: key and token as query parameters
    by_query = TrelloClient(api_key=creds["key"], api_secret=creds["token"], http_service=http)
    assert [b.id for b in by_query.list_boards()] == [b.id for b in boards]


def test_sdk_reads_card_details_checklists_and_history(client: TrelloClient, sandbox: Any) -> None:
    held = control(sandbox)
    checklist = held.records("checklists")[0]
    labelled = next(c for c in held.records("cards") if c["labels"])
    card = client.get_card(checklist["idCard"])
    assert card.id == checklist["idCard"] and card.get_list().id == card.list_id
    lists = card.fetch_checklists()
    assert checklist["id"] in {c.id for c in lists}
    items = next(c for c in lists if c.id == checklist["id"]).items
    assert card.badges["checkItems"] >= len(items) and {i["name"] for i in items} == {i["name"] for i in checklist["checkItems"]}
    assert [label.name for label in client.get_card(labelled["id"]).labels] == [label["name"] for label in labelled["labels"]]
    created = card.fetch_actions("createCard")
    assert [a["data"]["card"]["id"] for a in created] == [card.id]
    board = client.get_board(card.board_id)
    history = board.fetch_actions("all", action_limit=1000)
    assert len(history) == len([a for a in held.records("actions") if a["data"]["board"]["id"] == board.id])
    assert all(history[i]["id"] > history[i + 1]["id"] for i in range(len(history) - 1))
    assert card.fetch_custom_fields() is not None


def test_sdk_searches_cards_boards_and_members(client: TrelloClient, sandbox: Any) -> None:
    held = control(sandbox)
    card = held.records("cards")[0]
    word = card["name"].split()[0]
    found = client.search(word, models=["cards"], cards_limit=1000)
    assert card["id"] in {c.id for c in found} and all(word.lower() in c.name.lower() for c in found)
    board = held.records("boards")[0]
    assert board["id"] in {b.id for b in client.search(board["name"].split()[0], models=["boards"])}
    assert client.search("zzzqqqxxnothing") == []


def test_sdk_writes_cards_comments_and_lists(client: TrelloClient, sandbox: Any) -> None:
    held = control(sandbox)
    held.set_clock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    board = client.get_board(held.records("boards")[0]["id"])
    todo, other = board.list_lists("open")[:2]
    card = todo.add_card("Intégration SDK", desc="créée par le SDK")
    stored = next(c for c in held.records("cards") if c["id"] == card.id)
    assert stored["name"] == "Intégration SDK" and stored["due"] is None and stored["idList"] == todo.id
    assert card.dateLastActivity.isoformat().startswith("2026-03-02T09:00")
    held.set_clock(datetime(2026, 3, 2, 10, tzinfo=timezone.utc))
    card.set_name("Intégration SDK v2")
    card.set_description("mise à jour")
    card.set_due(datetime(2026, 4, 1, 17, tzinfo=timezone.utc))
    card.set_due_complete()
    card.change_list(other.id)
    card.comment("Commentaire du SDK")
    card.fetch()
    assert (card.name, card.desc, card.idList, card.badges["comments"]) == ("Intégration SDK v2", "mise à jour", other.id, 1)
    assert card.due_date == datetime(2026, 4, 1, 17, tzinfo=timezone.utc) and card.badges["dueComplete"] is True
    assert card.dateLastActivity.isoformat().startswith("2026-03-02T10:00")
    assert [c["data"]["text"] for c in card.get_comments()] == ["Commentaire du SDK"]
    updates = card.fetch_actions("updateCard")
    assert {k for a in updates for k in a["data"]["old"]} >= {"name", "desc", "due", "dueComplete", "idList"}
    me = client.get_member("me")
    assert all(a["idMemberCreator"] == me.id for a in updates)
    since_ten = board.fetch_actions("all", since="2026-03-02T09:30:00Z", action_limit=1000)
    assert {a["type"] for a in since_ten} == {"updateCard", "commentCard"} and len(since_ten) == 6
    card.set_closed(True)
    assert next(c for c in held.records("cards") if c["id"] == card.id)["closed"] is True
    assert card.id not in {c.id for c in other.list_cards()}
    assert card.id in {c.id for c in other.list_cards(card_filter="closed")}
    card.remove_due()
    assert next(c for c in held.records("cards") if c["id"] == card.id)["due"] is None
    added = board.add_list("Recette", pos=99_999_999)
    assert added.name == "Recette" and board.list_lists("open")[-1].id == added.id
    added.close()
    assert next(r for r in held.records("lists") if r["id"] == added.id)["closed"] is True
    card.delete()
    assert card.id in {c["id"] for c in held.records("cards", include_deleted=True) if c.get("deleted")}
    assert board.fetch_actions("deleteCard")[0]["data"]["card"]["id"] == card.id


def test_sdk_writes_custom_field_values(client: TrelloClient, sandbox: Any) -> None:
    held = control(sandbox)
    board = client.get_board(held.records("boards")[0]["id"])
    card = board.list_lists("open")[0].add_card("Temps SDK")
    definitions = {d.name: d for d in board.get_custom_field_definitions()}
    assert set(definitions) >= {"CRM deal", "Billable", "Hours", "Date worked"}
    card.get_custom_field_by_name("Hours").value = 7.25
    card.get_custom_field_by_name("Billable").value = True
    card.get_custom_field_by_name("CRM deal").value = "hubspot:12345"
    card.set_custom_field("2026-03-02T00:00:00.000Z", definitions["Date worked"])
    stored = next(c for c in held.records("cards") if c["id"] == card.id)["customFieldItems"]
    by_field = {i["idCustomField"]: i["value"] for i in stored}
    assert by_field == {definitions["Hours"].id: {"number": "7.25"}, definitions["Billable"].id: {"checked": "true"},
                        definitions["CRM deal"].id: {"text": "hubspot:12345"},
                        definitions["Date worked"].id: {"date": "2026-03-02T00:00:00.000Z"}}
    read = {f.name: f.value for f in client.get_card(card.id).custom_fields}
    assert read["Hours"] == 7.25 and read["Billable"] is True and read["CRM deal"] == "hubspot:12345"
    card.set_custom_field("", definitions["Hours"])
    assert definitions["Hours"].id not in {i["idCustomField"] for i in
                                           next(c for c in held.records("cards") if c["id"] == card.id)["customFieldItems"]}
    with pytest.raises(ResourceUnavailable, match="invalid value for value"):
        client.fetch_json(f"/cards/{card.id}/customField/{definitions['Hours'].id}/item", http_method="PUT",
                          post_args={"value": {"number": "sept"}})
    with pytest.raises(ResourceUnavailable, match="invalid value for value"):
        client.fetch_json(f"/cards/{card.id}/customField/{definitions['Hours'].id}/item", http_method="PUT",
                          post_args={"value": {"text": "7"}})
    kinds = [a["type"] for a in board.fetch_actions("updateCustomFieldItem", action_limit=5)]
    assert kinds == ["updateCustomFieldItem"] * 5


def test_sdk_duplicate_create_makes_two_cards(client: TrelloClient, sandbox: Any) -> None:
    todo = client.get_board(control(sandbox).records("boards")[0]["id"]).list_lists("open")[0]
    first, second = todo.add_card("Doublon"), todo.add_card("Doublon")
    assert first.id != second.id and [c.name for c in todo.list_cards()].count("Doublon") == 2


def test_sdk_maps_the_emulator_errors(client: TrelloClient, sandbox: Any, http: SandboxHttp) -> None:
    held = control(sandbox)
    missing = "0" * 24
    with pytest.raises(ResourceUnavailable, match="The requested resource was not found"):
        client.get_card(missing)
    with pytest.raises(ResourceUnavailable, match="invalid id"):
        client.get_board("nope")
    todo = client.get_board(held.records("boards")[0]["id"]).list_lists("open")[0]
    card = todo.add_card("Erreurs")
    with pytest.raises(ResourceUnavailable, match="invalid value for value") as caught:
        card._set_remote_attribute("due", "pas une date")
    assert caught.value._status == 400
    with pytest.raises(ResourceUnavailable, match="invalid value for text"):
        card.comment("")
    with pytest.raises(ResourceUnavailable, match="invalid value for idList"):
        client.fetch_json("/cards", http_method="POST", post_args={"name": "sans liste"})
    with pytest.raises(ResourceUnavailable, match="Cannot GET /1/boards/x/nothing"):
        client.fetch_json("/boards/x/nothing")
    held.config(token_limit=0)
    with pytest.raises(ResourceUnavailable, match="API_TOKEN_LIMIT_EXCEEDED"):
        client.list_boards()
    held.config(token_limit=100)
    creds = sandbox.vendors["trello"].credentials
    wrong = TrelloClient(api_key=creds["key"], token="wrong", http_service=http)
    with pytest.raises(Unauthorized, match="invalid token"):
        wrong.list_boards()


def test_sdk_creates_boards_plain_and_copied_with_custom_field_definitions(client: TrelloClient, sandbox: Any,
                                                                           http: SandboxHttp) -> None:
    plain = client.add_board("Projet sans modèle")
    assert [lst.name for lst in plain.list_lists("all")] == ["To Do", "Doing", "Done"]
    bare = client.add_board("Projet vide", default_lists=False)
    assert bare.list_lists("all") == []
    definition = bare.add_custom_field_definition("CRM deal", "text", display_on_card=True, pos="top")
    assert (definition.name, definition.field_type) == ("CRM deal", "text")
    assert [d.id for d in bare.get_custom_field_definitions()] == [definition.id]

    held = control(sandbox)
    template = held.create("boards", {"name": "Modèle"})
    first_list = next(lst for lst in held.records("lists") if lst["idBoard"] == template["id"])
    held.create("cards", {"idList": first_list["id"], "name": "Lancement", "desc": "Réunion avec le client"})
    copy = client.add_board("Projet copié", source_board=client.get_board(template["id"]))
    source_lists = [lst["name"] for lst in held.records("lists") if lst["idBoard"] == template["id"]]
    assert [lst.name for lst in copy.list_lists("all")] == source_lists
    assert {d.name for d in copy.get_custom_field_definitions()} == {
        f["name"] for f in held.records("customFields") if f["idModel"] == template["id"]}
    cards = copy.all_cards()
    assert [(c.name, c.description) for c in cards] == [("Lancement", "Réunion avec le client")]
    assert ("POST", "/1/boards") in http.calls and ("POST", "/1/customFields") in http.calls
    with pytest.raises(ResourceUnavailable):
        client.add_board("")  # a board needs a name: Trello's 400
