"""Trello list- and card-scoped reads and ``GET /1/search``, mixed into the Trello emulator.

Trello SDKs reach cards through their list (``/1/lists/{id}``, ``/1/lists/{id}/cards``) and read
a card's own history and checklists (``/1/cards/{id}/actions``, ``/1/cards/{id}/checklists``);
search answers ``{"options", "boards", "cards", "members", "organizations"}`` matched on words of
names and descriptions (``partial=true``: word prefixes).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.store import Collection
from passerelle_sandbox.trello_auth import text_error

Record = dict[str, Any]
LIST_CARD_FILTERS = ("all", "closed", "none", "open")
SEARCH_MODELS = ("actions", "boards", "cards", "members", "organizations")
_WORD = re.compile(r"\w+", re.UNICODE)


def _words(text: str | None) -> set[str]:
    return {w.lower() for w in _WORD.findall(text or "")}


class TrelloReadRoutes:
    """``on_*`` handlers for list and card sub-resources and search; state lives on the app."""

    lists: Collection
    cards: Collection
    boards: Collection
    members: Collection
    checklists: Collection
    board_actions: dict[str, list[Record]]
    me_id: str

    def _list(self, list_id: str) -> Record:
        self._check_id(list_id)  # type: ignore[attr-defined]
        lst = self.lists.get(list_id)
        if lst is None:
            raise text_error(404, "The requested resource was not found.")
        return lst

    def _card_or_404(self, card_id: str) -> Record:
        self._check_id(card_id)  # type: ignore[attr-defined]
        card = self.cards.get(card_id)
        if card is None:
            raise text_error(404, "The requested resource was not found.")
        return card

    def on_list(self, call: Call, list_id: str) -> Response:
        return json_response(self._pick(call, self._list(list_id)))  # type: ignore[attr-defined]

    def on_list_cards(self, call: Call, list_id: str) -> Response:
        self._list(list_id)
        wanted = call.request.args.get("filter", "open")
        if wanted not in LIST_CARD_FILTERS:
            raise text_error(400, "invalid value for filter")
        cards = [c for c in self.cards.values() if c["idList"] == list_id]
        if wanted in ("open", "closed"):
            cards = [c for c in cards if c["closed"] == (wanted == "closed")]
        if wanted == "none":
            cards = []
        before, since = call.request.args.get("before"), call.request.args.get("since")
        if before:
            cards = [c for c in cards if c["id"] < before]
        if since:
            cards = [c for c in cards if c["id"] > since]
        cards.sort(key=lambda c: c["pos"])
        limit = self._int_arg(call, "limit", 0, 1000)  # type: ignore[attr-defined]
        if limit:
            cards = sorted(cards, key=lambda c: c["id"], reverse=True)[:limit]
        return json_response([self._render_card(call, c) for c in cards])  # type: ignore[attr-defined]

    def on_card_actions(self, call: Call, card_id: str) -> Response:
        card = self._card_or_404(card_id)
        log_ = [a for a in self.board_actions.get(card["idBoard"], []) if (a["data"].get("card") or {}).get("id") == card_id]
        return self._action_page(call, log_, "commentCard,updateCard:idList")  # type: ignore[attr-defined]

    def on_card_checklists(self, call: Call, card_id: str) -> Response:
        card = self._card_or_404(card_id)
        return json_response([copy.deepcopy(self.checklists[c]) for c in card.get("idChecklists", []) if c in self.checklists])

    def on_card_empty(self, call: Call, card_id: str) -> Response:
        """``pluginData`` and ``attachments``: the sandbox keeps no Power-Up data nor files."""
        self._card_or_404(card_id)
        return json_response([])

    # ------------------------------------------------------------------------------ search

    def on_search(self, call: Call) -> Response:
        args = call.request.args
        query = args.get("query", "")
        if not query.strip() or len(query) > 16384:
            raise text_error(400, "invalid value for query")
        partial = args.get("partial", "false").lower() == "true"
        models = [m.strip() for m in args.get("modelTypes", "all").split(",") if m.strip()]
        if any(m not in (*SEARCH_MODELS, "all") for m in models):
            raise text_error(400, "invalid value for modelTypes")
        wanted = set(SEARCH_MODELS) if "all" in models else set(models)
        boards = [b for b in self.boards.values() if self.me_id in b.get("idMembers", [])]
        board_ids = {b.strip() for b in args.get("idBoards", "").split(",") if b.strip() and b.strip() != "mine"}
        if board_ids:
            boards = [b for b in boards if b["id"] in board_ids]
        visible = {b["id"] for b in boards}
        terms = _words(query)

        def hit(*texts: str | None) -> bool:
            words = set().union(*(_words(t) for t in texts))
            return all(any(w.startswith(t) for w in words) if partial else t in words for t in terms)

        cards_limit = self._int_arg(call, "cards_limit", 10, 1000)  # type: ignore[attr-defined]
        card_ids = {c.strip() for c in args.get("idCards", "").split(",") if c.strip()}
        cards = [c for c in sorted(self.cards.values(), key=lambda c: c["dateLastActivity"], reverse=True)
                 if c["idBoard"] in visible and (not card_ids or c["id"] in card_ids) and hit(c["name"], c.get("desc"))]
        board_fields = args.get("board_fields", "name,idOrganization")
        member_fields = args.get("member_fields", "avatarHash,fullName,initials,username,confirmed")
        out: Record = {
            "options": {"terms": [{"text": t} for t in sorted(terms)], "modelTypes": sorted(wanted),
                        "partial": partial},
            "boards": [self._search_fields(b, board_fields) for b in boards if hit(b["name"], b.get("desc"))][:10]
            if "boards" in wanted else [],
            "cards": [self._render_card(call, c) for c in cards[:cards_limit]]  # type: ignore[attr-defined]
            if "cards" in wanted else [],
            "members": [self._search_fields(m, member_fields) for m in self.members.values()
                        if hit(m["fullName"], m["username"])][:8] if "members" in wanted else [],
            "organizations": [],
        }
        if "actions" in wanted:
            out["actions"] = []
        return json_response(out)

    @staticmethod
    def _search_fields(record: Record, names: str) -> Record:
        return {k: copy.deepcopy(record.get(k)) for k in dict.fromkeys(("id", *[n.strip() for n in names.split(",") if n.strip()]))}
