"""A won deal's project as a Trello board, made so that the extract and staging recognise it.

The board is copied from the route's template board when there is one (Trello's ``idBoardSource``: its lists,
custom fields and cards), else made with the lists the staging model reads (``À faire``, ``En cours``,
``Terminé``, ``Jalons``) and a ``CRM deal`` text field. A ``Fiche affaire`` card carries the deal's link
(``<crm>:<deal id>``, what ``staging.projects`` reads to link a board to its deal) and the deal's terms; each
deal line becomes a card in ``À faire``.

Trello has no idempotency key, so the link's key is stamped as a line of the board's description
(``Passerelle: <key>``) and looked up among the member's boards before any create. Furnishing (lists, field,
cards) checks what the board already has by name, so a run that stopped halfway completes the board on the
next run instead of duplicating its cards.

The ``Fiche affaire`` card starts on the won date and is due on the route's due date when it has one. Trello's
API shows a member's email only to that member, so the deal owner can be matched only to the token's own
member: then the card is assigned to it (the board's creator, already a member); any other owner is named in
the card's description, as the summary does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from passerelle.sync.keys import carries_key, stamped
from passerelle.sync.links import Link
from passerelle.sync.project_owners import OwnerMatch
from passerelle.sync.vendor_calls import VendorWriter

LISTS = ("À faire", "En cours", "Terminé", "Jalons")
DEAL_FIELD = "CRM deal"
DEAL_CARD = "Fiche affaire"


@dataclass
class TrelloProjects:
    """Find, create and furnish the board of a deal through the Trello REST API."""

    writer: VendorWriter
    owners: OwnerMatch = field(init=False)

    def __post_init__(self) -> None:
        self.owners = OwnerMatch(self.writer, "/1/members/me", self._user_of)

    def _user_of(self, email: str, link_id: int) -> str | None:
        """The token's own member when its email is ``email`` (no other member's email is readable)."""
        me = self.writer.read("/1/members/me", operation="read_users", link_id=link_id, fields="id,email")
        return str(me["id"]) if (me.get("email") or "").lower() == email else None

    def _deal_card_terms(self, project: dict[str, Any], link_id: int) -> dict[str, Any]:
        terms: dict[str, Any] = {"start": project["start_date"]}
        if project.get("due_date"):
            terms["due"] = project["due_date"]
        owner = self.owners.user(project.get("owner"), link_id)
        if owner:
            terms["idMembers"] = owner
        return terms

    def find(self, idem_key: str, link_id: int) -> list[dict[str, Any]]:
        """Every board of the member (archived ones included) whose description carries the key."""
        boards = self.writer.read("/1/members/me/boards", link_id=link_id, filter="all", fields="id,name,desc,url,closed")
        return [b for b in boards if isinstance(b, dict) and carries_key(b.get("desc"), idem_key)]

    def create(self, project: dict[str, Any], link: Link) -> dict[str, Any]:
        params: dict[str, Any] = {"name": project["name"], "desc": stamped(project["summary"], project["idem_key"]),
                                  "defaultLists": "false"}
        if project.get("template"):
            params.update(idBoardSource=project["template"], keepFromSource="cards")
        return self.writer.write("POST", "/1/boards", operation="create_project", link_id=link.link_id, params=params)

    def furnish(self, board: dict[str, Any], project: dict[str, Any], link_id: int) -> int:
        """Add what the board lacks (lists, the deal field, the deal card, one card per line); returns cards made."""
        board_id = board["id"]
        lists = {item["name"]: item["id"] for item in self.writer.read(f"/1/boards/{board_id}/lists", link_id=link_id)}
        for pos, name in enumerate(LISTS, 1):
            if name not in lists:
                made = self.writer.write("POST", "/1/lists", operation="create_list", link_id=link_id,
                                         params={"idBoard": board_id, "name": name, "pos": pos * 16384})
                lists[name] = made["id"]
        fields = {f["name"]: f["id"] for f in self.writer.read(f"/1/boards/{board_id}/customFields", link_id=link_id)}
        if DEAL_FIELD not in fields:
            made = self.writer.write("POST", "/1/customFields", operation="create_field", link_id=link_id,
                                     json={"idModel": board_id, "modelType": "board", "name": DEAL_FIELD,
                                           "type": "text", "pos": "top", "display_cardFront": True})
            fields[DEAL_FIELD] = made["id"]
        listed = self.writer.read(f"/1/boards/{board_id}/cards/all", link_id=link_id, fields="name",
                                  customFieldItems="true")
        cards = {c["name"] for c in listed}
        made_cards = 0
        deal_card = next((c for c in listed if c["name"] == DEAL_CARD), None)
        if deal_card is None:
            deal_card = self.writer.write("POST", "/1/cards", operation="create_task", link_id=link_id,
                                          params={"idList": lists["À faire"], "name": DEAL_CARD,
                                                  "desc": project["summary"], "pos": "top",
                                                  **self._deal_card_terms(project, link_id)})
            made_cards += 1
        linked = {i.get("idCustomField"): (i.get("value") or {}).get("text") for i in deal_card.get("customFieldItems") or []}
        if linked.get(fields[DEAL_FIELD]) != project["deal_link"]:
            card_id = deal_card["id"]
            self.writer.write("PUT", f"/1/cards/{card_id}/customField/{fields[DEAL_FIELD]}/item",
                              operation="set_deal_link", link_id=link_id,
                              json={"value": {"text": project["deal_link"]}}, object_id=lambda _: card_id)
        for line in project["lines"]:
            if line["title"] in cards:
                continue
            self.writer.write("POST", "/1/cards", operation="create_task", link_id=link_id,
                              params={"idList": lists["À faire"], "name": line["title"], "desc": line["detail"]})
            cards.add(line["title"])
            made_cards += 1
        return made_cards

    @staticmethod
    def url(board: dict[str, Any]) -> str | None:
        return board.get("url") or board.get("shortUrl")
