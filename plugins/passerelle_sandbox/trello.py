"""Trello REST v1 emulator: boards, lists, cards, custom fields, checklists, members and board actions.

Behaviour follows ``vendor-apis-pm.md`` §1: key + token auth (query or OAuth header, 401 plain-text
bodies); ObjectId ids whose first 4 bytes are the creation second; ``GET /1/boards/{id}/actions``
newest first with ``filter``, ``limit`` (default 50, at most 1000, else 400), ``page``, and
``since``/``before`` taking a date or an ObjectId (a date is compared as the ObjectId of its second,
as Mongo does); ``closed`` means archived while a deleted card vanishes and leaves a ``deleteCard``
action; 429 ``{"error": "API_TOKEN_LIMIT_EXCEEDED", ...}`` without ``Retry-After``, with the
``x-rate-limit-api-*`` headers Trello sends.

Every control-API change is stamped at the sandbox clock and written to the board's action log the
way Trello would (``createCard``, ``updateCard`` with ``old``, ``updateCustomFieldItem``,
``deleteCard``...), so connectors see changes only through the documented API. List- and card-scoped
reads and search live in ``trello_reads``, REST writes in ``trello_writes``; badges, ``shortUrl`` and a
member's ``email`` are derived when a record is rendered.
"""

from __future__ import annotations

import bisect
import copy
import logging
import random
from decimal import Decimal, InvalidOperation
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, json_response
from passerelle_sandbox.dataset_trello import FIELDS, LISTS, TODO, build_trello_dataset
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.rate_limits import SlidingWindow, take_together
from passerelle_sandbox.store import NO_STAMPS, Collection, Stamps
from passerelle_sandbox.trello_auth import LIMIT_ERRORS, TrelloCredentials, presented_credentials, text_error
from passerelle_sandbox.trello_reads import TrelloReadRoutes
from passerelle_sandbox.trello_writes import TrelloWriteRoutes
from passerelle_sandbox.trello_ids import ObjectIds, boundary_id, is_object_id

log = logging.getLogger(__name__)

Record = dict[str, Any]
ACTIONS_MAX_LIMIT = 1000
ACTIONS_DEFAULT_LIMIT = 50
CARD_FILTERS = ("all", "closed", "complete", "incomplete", "none", "open", "visible")
OBJECTS = ("boards", "lists", "cards", "checklists", "customFields", "members", "actions")
MEMBER_KEYS = ("id", "fullName", "username", "initials")
ACTIVITY_STAMPS = Stamps(modified="dateLastActivity")
"""A card's or board's ``dateLastActivity`` moves with every action on it; deleted cards stay as tombstones."""
ACTION_STAMPS = Stamps(created="date")
"""Actions are written once, dated by the store; each board also keeps its actions in id order for paging."""


def _rule(path: str, endpoint: str, method: str = "GET") -> Rule:
    return Rule(path, endpoint=endpoint, methods=[method])


class TrelloApp(TrelloReadRoutes, TrelloWriteRoutes, VendorApp):
    vendor = "trello"
    url_map = Map(
        [
            _rule("/1/members/me", "me"),
            _rule("/1/members/me/boards", "my_boards"),
            _rule("/1/members/<member_id>", "member"),
            _rule("/1/tokens/<token>", "token"),
            _rule("/1/boards/<board_id>", "board"),
            _rule("/1/boards/<board_id>/lists", "lists"),
            _rule("/1/boards/<board_id>/lists/<list_filter>", "lists"),
            _rule("/1/boards/<board_id>/cards", "cards"),
            _rule("/1/boards/<board_id>/cards/<card_filter>", "cards"),
            _rule("/1/boards/<board_id>/actions", "actions"),
            _rule("/1/boards/<board_id>/customFields", "custom_fields"),
            _rule("/1/boards/<board_id>/checklists", "checklists"),
            _rule("/1/boards/<board_id>/members", "board_members"),
            _rule("/1/boards/<board_id>/labels", "labels"),
            _rule("/1/cards/<card_id>", "card"),
            _rule("/1/cards/<card_id>/customFieldItems", "card_fields"),
            _rule("/1/cards/<card_id>/actions", "card_actions"),
            _rule("/1/cards/<card_id>/checklists", "card_checklists"),
            _rule("/1/cards/<card_id>/pluginData", "card_empty"),
            _rule("/1/cards/<card_id>/attachments", "card_empty"),
            _rule("/1/lists/<list_id>", "list"),
            _rule("/1/lists/<list_id>/cards", "list_cards"),
            _rule("/1/search", "search"),
            _rule("/1/cards", "create_card", "POST"),
            _rule("/1/cards/<card_id>", "update_card", "PUT"),
            _rule("/1/cards/<card_id>/<field>", "update_card_field", "PUT"),
            _rule("/1/cards/<card_id>", "delete_card", "DELETE"),
            _rule("/1/cards/<card_id>/customField/<field_id>/item", "set_field_item", "PUT"),
            _rule("/1/card/<card_id>/customField/<field_id>/item", "set_field_item", "PUT"),
            _rule("/1/cards/<card_id>/actions/comments", "add_comment", "POST"),
            _rule("/1/lists", "create_list", "POST"),
            _rule("/1/boards", "create_board", "POST"),
            _rule("/1/customFields", "create_custom_field", "POST"),
            _rule("/1/lists/<list_id>", "update_list", "PUT"),
            _rule("/1/lists/<list_id>/<field>", "update_list_field", "PUT"),
        ],
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any]) -> None:
        self.limits = {"token": SlidingWindow(self._interval, lambda: int(self.config["token_limit"])),
                       "key": SlidingWindow(self._interval, lambda: int(self.config["key_limit"])),
                       "members": SlidingWindow(lambda: self.config["members_interval_ms"] / 1000.0,
                                                lambda: int(self.config["members_limit"]))}
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {
            "enforce_rate_limits": True,
            "token_limit": 100,
            "key_limit": 300,
            "interval_ms": 10_000,
            "members_limit": 100,
            "members_interval_ms": 900_000,
        }

    def load(self) -> None:
        data = copy.deepcopy(self.dataset["trello"] if "trello" in self.dataset else build_trello_dataset(self.dataset))
        creds = data.get("credentials", {})
        self.trello_credentials = TrelloCredentials(creds["key"], creds["token"])
        self._token_revoked = False
        self.me_id: str = data["member_me"]
        self.members = self._collection(data["members"])
        self.boards = self._collection(data["boards"], ACTIVITY_STAMPS)
        self.lists = self._collection(data["lists"])
        self.custom_fields = self._collection(data["customFields"])
        self.labels = self._collection(data.get("labels", []))
        self.cards = self._collection(data["cards"], ACTIVITY_STAMPS)
        self.checklists = self._collection(data["checklists"])
        self.comment_counts: dict[str, int] = {}
        for action in data["actions"]:
            if action["type"] == "commentCard":
                card_id = action["data"]["card"]["id"]
                self.comment_counts[card_id] = self.comment_counts.get(card_id, 0) + 1
        self.actions = self._collection(data["actions"], ACTION_STAMPS)
        self.board_actions: dict[str, list[Record]] = {board_id: [] for board_id in self.boards}
        for action in sorted(self.actions.values(), key=lambda a: a["id"]):
            self.board_actions.setdefault(action["data"]["board"]["id"], []).append(action)
        self.ids = ObjectIds(f"{self.dataset.get('seed')}:trello:sandbox")
        self._rng = random.Random(f"{self.dataset.get('seed')}:trello:bulk")
        self._bulk = 0
        self._short = max((c.get("idShort") or 0 for c in data["cards"]), default=0) + 100

    def _collection(self, records: list[Record], stamps: Stamps = NO_STAMPS) -> Collection:
        collection = Collection(stamps, self.clock, lock=self.lock)
        collection.load(records)
        return collection

    def _interval(self) -> float:
        return self.config["interval_ms"] / 1000.0

    def on_reset(self) -> None:
        for window in self.limits.values():
            window.clear()

    def public_credentials(self) -> dict[str, str]:
        return self.trello_credentials.as_dict()

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        key, token = presented_credentials(call.request)
        if not key or key != self.trello_credentials.key:
            raise text_error(401, "invalid key")
        if not token:
            raise text_error(401, "unauthorized permission requested")
        if token != self.trello_credentials.token or self._token_revoked:
            raise text_error(401, "invalid token")
        return {"member": self.me_id}

    def expire_tokens(self) -> None:
        super().expire_tokens()
        self._token_revoked = True

    def on_faults_cleared(self) -> None:
        self._token_revoked = False

    def enforce_limits(self, call: Call) -> None:
        if not self.config["enforce_rate_limits"]:
            return
        names = ("members", "token", "key") if call.path.startswith("/1/members/") else ("token", "key")
        refused = take_together((name, self.limits[name], 1) for name in names)
        if refused is not None:
            raise VendorError(429, dict(LIMIT_ERRORS[refused]))

    def decorate(self, call: Call, response: Response) -> None:
        if call.principal is None:
            return
        cfg, remaining = self.config, {name: window.remaining() for name, window in self.limits.items()}
        response.headers.setdefault("x-rate-limit-api-token-interval-ms", str(cfg["interval_ms"]))
        response.headers.setdefault("x-rate-limit-api-token-max", str(cfg["token_limit"]))
        response.headers.setdefault("x-rate-limit-api-token-remaining", str(remaining["token"]))
        response.headers.setdefault("x-rate-limit-api-key-interval-ms", str(cfg["interval_ms"]))
        response.headers.setdefault("x-rate-limit-api-key-max", str(cfg["key_limit"]))
        response.headers.setdefault("x-rate-limit-api-key-remaining", str(remaining["key"]))

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            body = {"error": fault.error_code or "API_TOKEN_LIMIT_EXCEEDED", "message": fault.message or "Rate limit exceeded"}
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return json_response(body, 429, headers)
        status = fault.status or 500
        return text_error(status, fault.message or {502: "Bad Gateway", 503: "Service Unavailable",
                                                    504: "Gateway Timeout"}.get(status, "Internal Server Error")).response()

    def not_found(self, call: Call) -> Response:
        return text_error(404, f"Cannot {call.request.method} {call.path}").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return text_error(404, f"Cannot {call.request.method} {call.path}").response()

    def internal_error(self, call: Call) -> Response:
        return text_error(500, "Internal Server Error").response()

    def strip_id(self, payload: Any) -> bool:
        items = payload if isinstance(payload, list) else [payload]
        for item in items:
            if isinstance(item, dict) and "id" in item:
                del item["id"]
                return True
        return False

    # ----------------------------------------------------------------------------- helpers

    @staticmethod
    def _check_id(value: str) -> None:
        if not is_object_id(value):
            raise text_error(400, "invalid id")

    def _board(self, board_id: str) -> Record:
        self._check_id(board_id)
        board = self.boards.get(board_id)
        if board is None:
            raise text_error(404, "The requested resource was not found.")
        return board

    @staticmethod
    def _pick(call: Call, record: Record, default: tuple[str, ...] | None = None) -> Record:
        """The ``fields`` the caller asked for (``all`` or absent: the endpoint's default set)."""
        raw = call.request.args.get("fields")
        if raw == "all" or (raw is None and default is None):
            return copy.deepcopy(record)
        names = default if raw is None else [f.strip() for f in raw.split(",") if f.strip()]
        return {k: copy.deepcopy(record.get(k)) for k in dict.fromkeys(("id", *names))}

    def _badges(self, card: Record) -> Record:
        """Trello's ``badges``: counters derived from the card's checklists, comments and dates."""
        items = [i for c in card.get("idChecklists", []) for i in self.checklists.get(c, {}).get("checkItems", [])]
        return {"attachmentsByType": {"trello": {"board": 0, "card": 0}}, "location": False, "votes": 0,
                "viewingMemberVoted": False, "subscribed": False, "fogbugz": "", "checkItems": len(items),
                "checkItemsChecked": sum(1 for i in items if i.get("state") == "complete"), "checkItemsEarliestDue": None,
                "comments": self.comment_counts.get(card["id"], 0), "attachments": 0, "description": bool(card.get("desc")),
                "due": card.get("due"), "dueComplete": bool(card.get("dueComplete")), "start": card.get("start")}

    def _render_card(self, call: Call, card: Record) -> Record:
        full = {k: v for k, v in card.items() if k != "customFieldItems"}
        full.setdefault("shortUrl", f"https://trello.com/c/{card.get('shortLink')}")
        full["badges"] = self._badges(card)
        out = self._pick(call, full)
        if call.request.args.get("customFieldItems", "").lower() == "true":
            out["customFieldItems"] = copy.deepcopy(card.get("customFieldItems", []))
        return out

    @staticmethod
    def _id_bound(call: Call, name: str) -> str | None:
        """``since``/``before`` as an ObjectId bound: ids as given, dates as the id of their second."""
        raw = call.request.args.get(name)
        if raw is None or raw == "":
            return None
        if is_object_id(raw):
            return raw
        try:
            return boundary_id(int(parse_instant(raw).timestamp()))
        except ValueError:
            raise text_error(400, f"invalid value for {name}") from None

    @staticmethod
    def _int_arg(call: Call, name: str, default: int, maximum: int | None = None) -> int:
        raw = call.request.args.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or (maximum is not None and int(raw) > maximum):
            raise text_error(400, f"invalid value for {name}")
        return int(raw)

    # ------------------------------------------------------------------------------ routes

    def _render_member(self, member: Record) -> Record:
        """A member as ``/1/members/{id}`` shows it: the email only to its owner, as Trello does."""
        out = {"bio": "", "status": "disconnected", "url": f"https://trello.com/u/{member['username']}", **member}
        out["email"] = f"{member['username']}@example.com" if member["id"] == self.me_id else None
        out["idBoards"] = [b["id"] for b in self.boards.values() if member["id"] in b.get("idMembers", [])]
        return out

    def on_me(self, call: Call) -> Response:
        return json_response(self._pick(call, self._render_member(self.members[self.me_id])))

    def on_member(self, call: Call, member_id: str) -> Response:
        member = self.members.get(member_id) or next((m for m in self.members.values() if m["username"] == member_id), None)
        if member is None:
            raise text_error(404, "model not found")
        return json_response(self._pick(call, self._render_member(member)))

    def on_token(self, call: Call, token: str) -> Response:
        if token != self.trello_credentials.token:
            raise text_error(401, "invalid token")
        return json_response({"id": self.me_id[:8] + "0" * 16, "identifier": "Passerelle", "idMember": self.me_id,
                              "dateCreated": "2025-01-06T09:00:00.000Z", "dateExpires": None,
                              "permissions": [{"idModel": "*", "modelType": "Board", "read": True, "write": False}]})

    def on_my_boards(self, call: Call) -> Response:
        wanted = call.request.args.get("filter", "all")
        boards = [b for b in self.boards.values() if self.me_id in b.get("idMembers", [])]
        if wanted in ("open", "members", "organization", "public", "starred"):
            boards = [b for b in boards if not b["closed"]]
        elif wanted == "closed":
            boards = [b for b in boards if b["closed"]]
        elif wanted != "all":
            raise text_error(400, "invalid value for filter")
        return json_response([self._pick(call, b) for b in boards])

    def on_board(self, call: Call, board_id: str) -> Response:
        return json_response(self._pick(call, self._board(board_id)))

    def on_lists(self, call: Call, board_id: str, list_filter: str | None = None) -> Response:
        self._board(board_id)
        wanted = list_filter or call.request.args.get("filter", "open")
        if wanted not in ("all", "open", "closed", "none"):
            raise text_error(400, "invalid value for filter")
        lists = [item for item in self.lists.values() if item["idBoard"] == board_id]
        if wanted in ("open", "closed"):
            lists = [item for item in lists if item["closed"] == (wanted == "closed")]
        if wanted == "none":
            lists = []
        return json_response([self._pick(call, item) for item in sorted(lists, key=lambda i: i["pos"])])

    def on_cards(self, call: Call, board_id: str, card_filter: str | None = None) -> Response:
        self._board(board_id)
        if card_filter and is_object_id(card_filter):  # GET /1/boards/{id}/cards/{idCard}
            card = self.cards.get(card_filter)
            if card is None or card["idBoard"] != board_id:
                raise text_error(404, "The requested resource was not found.")
            return json_response(self._render_card(call, card))
        wanted = card_filter or call.request.args.get("filter", "visible")
        if wanted not in CARD_FILTERS:
            raise text_error(400, "invalid value for filter")
        cards = [c for c in self.cards.values() if c["idBoard"] == board_id]
        open_lists = {i for i, item in self.lists.items() if not item["closed"]}
        selectors = {
            "all": lambda c: True, "none": lambda c: False, "closed": lambda c: c["closed"],
            "open": lambda c: not c["closed"], "visible": lambda c: not c["closed"] and c["idList"] in open_lists,
            "complete": lambda c: c["dueComplete"], "incomplete": lambda c: not c["dueComplete"],
        }
        cards = [c for c in cards if selectors[wanted](c)]
        limit = self._int_arg(call, "limit", 0, ACTIONS_MAX_LIMIT)
        since, before = self._id_bound(call, "since"), self._id_bound(call, "before")
        if limit or since or before:  # paged reads walk backwards through ids, like actions
            cards = sorted((c for c in cards if (since is None or c["id"] > since) and (before is None or c["id"] < before)),
                           key=lambda c: c["id"], reverse=True)
            cards = cards[:limit] if limit else cards
        else:
            positions = {i: item["pos"] for i, item in self.lists.items()}
            cards.sort(key=lambda c: (positions.get(c["idList"], 0), c["pos"]))
        return json_response([self._render_card(call, c) for c in cards])

    def on_card(self, call: Call, card_id: str) -> Response:
        self._check_id(card_id)
        card = self.cards.get(card_id)
        if card is None:
            raise text_error(404, "The requested resource was not found.")
        return json_response(self._render_card(call, card))

    def on_card_fields(self, call: Call, card_id: str) -> Response:
        self._check_id(card_id)
        card = self.cards.get(card_id)
        if card is None:
            raise text_error(404, "The requested resource was not found.")
        return json_response(copy.deepcopy(card.get("customFieldItems", [])))

    def on_actions(self, call: Call, board_id: str) -> Response:
        self._board(board_id)
        return self._action_page(call, self.board_actions.get(board_id, []), "all")

    def _action_page(self, call: Call, log_: list[Record], default_filter: str) -> Response:
        """A page of an id-ordered action log, newest first, with Trello's filter/limit/page/since/before."""
        limit = self._int_arg(call, "limit", ACTIONS_DEFAULT_LIMIT, ACTIONS_MAX_LIMIT)
        page = self._int_arg(call, "page", 0)
        if page * limit + limit > ACTIONS_MAX_LIMIT and page:
            raise text_error(400, "invalid value for page")
        since, before = self._id_bound(call, "since"), self._id_bound(call, "before")
        raw_filter = call.request.args.get("filter", default_filter)
        types = {t.strip() for t in raw_filter.split(",") if t.strip()}
        ids = [a["id"] for a in log_]
        low = bisect.bisect_right(ids, since) if since else 0
        high = bisect.bisect_left(ids, before) if before else len(ids)
        chosen: list[Record] = []
        skip = page * limit
        for action in reversed(log_[low:high]):
            if "all" in types or action["type"] in types or (
                    "updateCard:idList" in types and action["type"] == "updateCard" and "listAfter" in action["data"]):
                if skip:
                    skip -= 1
                    continue
                if len(chosen) >= limit:
                    break
                chosen.append(action)
        if call.request.args.get("format") == "count":
            return json_response({"_value": len(chosen)})
        return json_response([self._pick(call, a) for a in chosen])

    def on_custom_fields(self, call: Call, board_id: str) -> Response:
        self._board(board_id)
        return json_response([dict(f) for f in self.custom_fields.values() if f["idModel"] == board_id])

    def on_checklists(self, call: Call, board_id: str) -> Response:
        self._board(board_id)
        return json_response([copy.deepcopy(c) for c in self.checklists.values()
                              if c["idBoard"] == board_id and c["idCard"] in self.cards])

    def on_board_members(self, call: Call, board_id: str) -> Response:
        board = self._board(board_id)
        return json_response([self._pick(call, self.members[m], ("fullName", "username"))
                              for m in board.get("idMembers", []) if m in self.members])

    def on_labels(self, call: Call, board_id: str) -> Response:
        self._board(board_id)
        return json_response([dict(label) for label in self.labels.values() if label["idBoard"] == board_id])

    # ------------------------------------------------------------------------- mutations

    def _new_id(self) -> str:
        return self.ids.at(self.clock.now())

    def _record_action(self, kind: str, board: Record, creator_id: str | None = None, **data: Any) -> Record:
        now = self.now_text()
        creator = self.members.get(creator_id or self.me_id) or self.members[self.me_id]
        action = {
            "id": self._new_id(), "idMemberCreator": creator["id"], "type": kind, "date": now,
            "data": {**data, "board": {"id": board["id"], "name": board["name"], "shortLink": board.get("shortLink")}},
            "appCreator": None, "limits": {}, "memberCreator": {k: creator.get(k) for k in MEMBER_KEYS},
        }
        self.actions.insert(action, at=now)
        log_ = self.board_actions.setdefault(board["id"], [])
        if log_ and log_[-1]["id"] > action["id"]:
            bisect.insort(log_, action, key=lambda a: a["id"])
        else:
            log_.append(action)
        self.boards.touch(board["id"], at=self._board_activity(board, now))
        card = data.get("card")
        if card and card.get("id") in self.cards:
            self.cards.touch(card["id"], at=now)
        return action

    @staticmethod
    def _board_activity(board: Record, now: str) -> str:
        """A board's ``dateLastActivity`` after an action now: it never moves back (the clock may)."""
        return max(board.get("dateLastActivity") or now, now)

    @staticmethod
    def _card_ref(card: Record) -> Record:
        return {"id": card["id"], "name": card["name"], "idShort": card.get("idShort"), "shortLink": card.get("shortLink")}

    def _find_list(self, board_id: str, name_or_id: str) -> Record:
        for item in self.lists.values():
            if item["idBoard"] == board_id and name_or_id in (item["id"], item["name"]):
                return item
        raise ControlError(400, f"board {board_id} has no list {name_or_id!r}")

    def _field_value(self, definition: Record, value: Any) -> Record:
        kind = definition["type"]
        if kind == "checkbox":
            return {"checked": "true" if value in (True, "true", 1) else "false"}
        if kind == "number":  # Trello keeps the digits as typed: never round through float
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise ControlError(400, f"{definition['name']}: not a number: {value!r}") from None
            if not number.is_finite():
                raise ControlError(400, f"{definition['name']}: not a finite number: {value!r}")
            return {"number": format(number, "f")}
        if kind == "date":
            return {"date": self._date_text(value)}
        return {"text": str(value)}

    def _date_text(self, value: Any) -> str:
        try:
            return canonical(parse_instant(str(value)))
        except ValueError as exc:
            raise ControlError(400, str(exc)) from None

    def _set_custom_fields(self, card: Record, values: dict[str, Any], creator: str | None) -> None:
        board = self.boards[card["idBoard"]]
        for name, value in values.items():
            definition = next((f for f in self.custom_fields.values()
                               if f["idModel"] == card["idBoard"] and name in (f["name"], f["id"])), None)
            if definition is None:
                raise ControlError(400, f"board {card['idBoard']} has no custom field {name!r}")
            items = card.setdefault("customFieldItems", [])
            item = next((i for i in items if i["idCustomField"] == definition["id"]), None)
            old = copy.deepcopy(item["value"]) if item else None
            if value is None:
                if item:
                    items.remove(item)
                new_item: Record = {"id": item["id"] if item else self._new_id(), "value": None,
                                    "idCustomField": definition["id"], "idModel": card["id"], "modelType": "card"}
            else:
                if item is None:
                    item = {"id": self._new_id(), "value": None, "idCustomField": definition["id"],
                            "idModel": card["id"], "modelType": "card"}
                    items.append(item)
                item["value"] = self._field_value(definition, value)
                new_item = dict(item)
            self._record_action("updateCustomFieldItem", board, creator, card=self._card_ref(card),
                                customField={"id": definition["id"], "name": definition["name"], "type": definition["type"]},
                                customFieldItem=copy.deepcopy(new_item), old={"value": old})

    CARD_FIELDS = ("name", "desc", "due", "dueComplete", "start", "closed", "idList", "idMembers", "pos")

    def _create_card(self, fields: dict[str, Any]) -> Record:
        board_id = fields.get("idBoard")
        if fields.get("idList") in self.lists:
            lst = self.lists[fields["idList"]]
        elif board_id in self.boards:
            lst = self._find_list(board_id, fields.get("list") or fields.get("idList") or TODO)
        else:
            raise ControlError(400, "cards need an existing idList, or idBoard (+ list name)")
        board = self.boards[lst["idBoard"]]
        creator = fields.get("idMemberCreator")
        self._short += 1
        short = self._short
        card: Record = {
            "id": self._new_id(), "idBoard": board["id"], "idList": lst["id"], "name": fields.get("name") or "Nouvelle carte",
            "desc": fields.get("desc", ""), "closed": False, "due": None, "dueComplete": bool(fields.get("dueComplete")),
            "start": None, "dateLastActivity": self.now_text(), "idMembers": [], "idLabels": [], "labels": [],
            "idChecklists": [], "idShort": short, "pos": short * 16384, "shortLink": f"s{short:07d}",
            "url": f"https://trello.com/c/s{short:07d}", "customFieldItems": [],
        }
        if fields.get("due"):
            card["due"] = self._date_text(fields["due"])
        self.cards.insert(card)
        self._record_action("createCard", board, creator, card=self._card_ref(card),
                            list={"id": lst["id"], "name": lst["name"]})
        for member_id in fields.get("idMembers") or []:
            if member_id not in self.members:
                raise ControlError(400, f"no member {member_id}")
            card["idMembers"].append(member_id)
            self._record_action("addMemberToCard", board, creator, card=self._card_ref(card), idMember=member_id,
                                member={"id": member_id, "name": self.members[member_id]["fullName"]})
        self._set_custom_fields(card, fields.get("customFields") or {}, creator)
        return card

    def _update_card(self, card: Record, fields: dict[str, Any]) -> None:
        board = self.boards[card["idBoard"]]
        creator = fields.get("idMemberCreator")
        changes: Record = {}
        for name in self.CARD_FIELDS:
            if name not in fields or name == "idMembers":
                continue
            value = fields[name]
            if name == "idList":
                value = self._find_list(card["idBoard"], value)["id"]
            elif name in ("due", "start") and value:
                value = self._date_text(value)
            if card.get(name) != value:
                changes[name] = value
        if changes:
            old = {k: card.get(k) for k in changes}
            extra: Record = {}
            if "idList" in changes:
                extra = {"listBefore": {"id": old["idList"], "name": self.lists[old["idList"]]["name"]},
                         "listAfter": {"id": changes["idList"], "name": self.lists[changes["idList"]]["name"]}}
            card.update(changes)
            self._record_action("updateCard", board, creator, card={**self._card_ref(card), **changes}, old=old, **extra)
        for member_id in fields.get("idMembers") or []:
            if member_id not in card["idMembers"] and member_id in self.members:
                card["idMembers"].append(member_id)
                self._record_action("addMemberToCard", board, creator, card=self._card_ref(card), idMember=member_id,
                                    member={"id": member_id, "name": self.members[member_id]["fullName"]})
        self._set_custom_fields(card, fields.get("customFields") or {}, creator)
        if not changes and not fields.get("customFields") and not fields.get("idMembers"):
            self._record_action("updateCard", board, creator, card=self._card_ref(card), old={})

    def _delete_card(self, card: Record) -> None:
        board = self.boards[card["idBoard"]]
        lst = self.lists[card["idList"]]
        self._record_action("deleteCard", board, None, card={"id": card["id"], "idShort": card.get("idShort")},
                            list={"id": lst["id"], "name": lst["name"]})
        self.cards.delete(card["id"])

    def _create_board(self, fields: dict[str, Any]) -> Record:
        short = f"b{len(self.boards) + 1:07d}"
        board: Record = {
            "id": self._new_id(), "name": fields.get("name") or "Nouveau tableau", "desc": fields.get("desc", ""),
            "closed": False, "idOrganization": None, "shortLink": short, "url": f"https://trello.com/b/{short}",
            "shortUrl": f"https://trello.com/b/{short}", "dateLastActivity": self.now_text(), "dateLastView": None,
            "idMemberCreator": self.me_id, "prefs": {"permissionLevel": "private", "background": "blue"},
            "idMembers": [self.me_id],
        }
        self.boards.insert(board)
        self._record_action("createBoard", board)
        if fields.get("bare"):  # the API's own creates: lists and fields come from the request or a source board
            return board
        for pos, name in enumerate(LISTS, 1):
            self._create_list({"idBoard": board["id"], "name": name, "pos": pos * 16384})
        for pos, (name, kind) in enumerate(FIELDS, 1):
            self._create_field({"idBoard": board["id"], "name": name, "type": kind, "pos": pos * 16384})
        return board

    def _create_list(self, fields: dict[str, Any]) -> Record:
        board = self.boards.get(fields.get("idBoard", ""))
        if board is None:
            raise ControlError(400, "lists need an existing idBoard")
        lst = {"id": self._new_id(), "name": fields.get("name") or "Liste", "closed": False, "idBoard": board["id"],
               "pos": fields.get("pos", 16384 * (1 + sum(1 for i in self.lists.values() if i["idBoard"] == board["id"]))),
               "subscribed": False}
        self.lists.insert(lst)
        self._record_action("createList", board, list={"id": lst["id"], "name": lst["name"]})
        return lst

    def _create_field(self, fields: dict[str, Any]) -> Record:
        board = self.boards.get(fields.get("idBoard", ""))
        if board is None or fields.get("type", "text") not in ("text", "number", "checkbox", "date", "list"):
            raise ControlError(400, "custom fields need an existing idBoard and a valid type")
        definition = {"id": self._new_id(), "idModel": board["id"], "modelType": "board", "fieldGroup": self._new_id(),
                      "name": fields.get("name") or "Champ", "pos": fields.get("pos", 16384), "type": fields.get("type", "text"),
                      "display": {"cardFront": True}, "isSuggestedField": False}
        self.custom_fields.insert(definition)
        self._record_action("createCustomField", board,
                            customField={"id": definition["id"], "name": definition["name"], "type": definition["type"]})
        return definition

    def _create_checklist(self, fields: dict[str, Any]) -> Record:
        card = self.cards.get(fields.get("idCard", ""))
        if card is None:
            raise ControlError(400, "checklists need an existing idCard")
        checklist: Record = {"id": self._new_id(), "name": fields.get("name") or "Checklist", "idBoard": card["idBoard"],
                             "idCard": card["id"], "pos": 16384, "checkItems": []}
        for pos, name in enumerate(fields.get("checkItems") or [], 1):
            checklist["checkItems"].append({"id": self._new_id(), "name": name, "state": "incomplete",
                                            "idChecklist": checklist["id"], "pos": pos * 16384, "due": None, "idMember": None})
        self.checklists.insert(checklist)
        card["idChecklists"].append(checklist["id"])
        self._record_action("addChecklistToCard", self.boards[card["idBoard"]], card=self._card_ref(card),
                            checklist={"id": checklist["id"], "name": checklist["name"]})
        return checklist

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _store(self, obj: str) -> Collection:
        return {"boards": self.boards, "lists": self.lists, "cards": self.cards, "checklists": self.checklists,
                "customFields": self.custom_fields, "members": self.members, "actions": self.actions}[obj]

    def _control_record(self, obj: str, record_id: str) -> Record:
        record = self._store(obj).get(record_id)
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        records = [copy.deepcopy(r) for r in self._store(obj).values()]
        if obj == "cards" and include_deleted:
            records += [{**copy.deepcopy(t.record), "deleted": True} for t in self.cards.tombstones()]
        return records

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": record_id, "record": copy.deepcopy(self._control_record(obj, record_id))}

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        fields = body.get("fields") or {}
        creators = {"boards": self._create_board, "lists": self._create_list, "cards": self._create_card,
                    "checklists": self._create_checklist, "customFields": self._create_field,
                    "members": self._create_member}
        if obj not in creators:
            raise ControlError(400, f"{obj} cannot be created: Trello writes them itself")
        record = creators[obj](fields)
        return {"id": record["id"], "record": copy.deepcopy(record)}

    def _create_member(self, fields: dict[str, Any]) -> Record:
        full_name = fields.get("fullName") or "Nouveau Membre"
        member = {"id": self._new_id(), "fullName": full_name, "username": fields.get("username") or full_name.lower().replace(" ", ""),
                  "initials": "".join(p[0] for p in full_name.split()[:2]).upper(), "memberType": "normal",
                  "confirmed": True, "avatarUrl": None}
        self.members.insert(member)
        for board_id in fields.get("idBoards") or []:
            board = self.boards.get(board_id)
            if board is None:
                raise ControlError(400, f"no board {board_id}")
            board["idMembers"].append(member["id"])
            self._record_action("addMemberToBoard", board, idMember=member["id"],
                                member={"id": member["id"], "name": full_name})
        return member

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._control_record(obj, record_id)
        fields = body.get("fields") or {}
        if obj == "cards":
            self._update_card(record, fields)
        elif obj in ("boards", "lists", "customFields"):
            changes = {k: v for k, v in fields.items() if k in ("name", "desc", "closed", "pos") and record.get(k) != v}
            old = {k: record.get(k) for k in changes}
            board = self.boards[record["id"] if obj == "boards" else record.get("idBoard") or record["idModel"]]
            at = self._board_activity(board, self.now_text()) if obj == "boards" else None
            store = {"boards": self.boards, "lists": self.lists, "customFields": self.custom_fields}[obj]
            store.update(record_id, changes, at=at)
            key = {"boards": None, "lists": "list", "customFields": "customField"}[obj]
            kind = {"boards": "updateBoard", "lists": "updateList", "customFields": "updateCustomField"}[obj]
            extra = {key: {"id": record["id"], "name": record["name"], **changes}} if key else {}
            self._record_action(kind, board, old=old, **extra)
        elif obj == "checklists":
            card = self.cards.get(record["idCard"])
            if card is None:
                raise ControlError(404, f"checklist {record_id} belongs to a deleted card")
            for item in record["checkItems"]:
                state = (fields.get("checkItems") or {}).get(item["name"]) or (fields.get("checkItems") or {}).get(item["id"])
                if state and state != item["state"]:
                    item["state"] = state
                    self.checklists.touch(record_id)
                    self._record_action("updateCheckItemStateOnCard", self.boards[record["idBoard"]],
                                        card=self._card_ref(card),
                                        checklist={"id": record["id"], "name": record["name"]},
                                        checkItem={"id": item["id"], "name": item["name"], "state": state})
        elif obj == "members":
            self.members.update(record_id, {k: v for k, v in fields.items() if k in ("fullName", "username", "initials")})
        else:
            raise ControlError(400, f"{obj} are read-only")
        return {"id": record_id, "record": copy.deepcopy(record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        record = self._control_record(obj, record_id)
        if obj == "cards":
            self._delete_card(record)
        elif obj == "checklists":
            card = self.cards.get(record["idCard"])
            self.checklists.delete(record_id)
            if card is not None:
                card["idChecklists"].remove(record_id)
                self._record_action("removeChecklistFromCard", self.boards[record["idBoard"]], card=self._card_ref(card),
                                    checklist={"id": record_id, "name": record["name"]})
        elif obj == "customFields":
            self.custom_fields.delete(record_id)
            for card in self.cards.values():
                card["customFieldItems"] = [i for i in card.get("customFieldItems", []) if i["idCustomField"] != record_id]
            self._record_action("deleteCustomField", self.boards[record["idModel"]],
                                customField={"id": record_id, "name": record["name"]})
        else:
            raise ControlError(400, f"{obj} are archived with closed=true, not deleted" if obj in ("boards", "lists")
                               else f"{obj} cannot be deleted")
        return {"id": record_id, "record": copy.deepcopy(record), "deleted": True}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        if obj != "cards":
            raise ControlError(400, "bulk supports cards only")
        board_id = fields.pop("idBoard", None) or next(iter(self.boards))
        if board_id not in self.boards:
            raise ControlError(400, f"no board {board_id}")
        live = sorted(c["id"] for c in self.cards.values() if c["idBoard"] == board_id)
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} cards: board {board_id} has {len(live)}")
        touched = self._rng.sample(live, touch) if touch else []
        created = []
        for _ in range(create):
            self._bulk += 1
            created.append(self._create_card({"idBoard": board_id, "name": f"Carte bulk {self._bulk:07d}", **fields})["id"])
        for card_id in touched:
            self._bulk += 1
            self._update_card(self.cards[card_id], {"desc": f"bulk edit {self._bulk}"})
        return {"object": obj, "stamp": self.now_text(), "created": create, "touched": touch,
                "created_ids": created, "touched_ids": touched}
