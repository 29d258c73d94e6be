"""Trello REST writes, mixed into the Trello emulator: cards, comments, custom-field values and lists.

Follows ``two-way-sync.md`` §1.7: ``POST /1/cards`` (``idList`` required), ``PUT /1/cards/{id}``
(``name, desc, due, dueComplete, idList, closed``; ``closed=true`` archives) and the one-field form
``PUT /1/cards/{id}/{field}`` with ``value`` that SDKs use, ``DELETE /1/cards/{id}`` (a
``deleteCard`` action), ``POST /1/cards/{id}/actions/comments``,
``PUT /1/cards/{id}/customField/{idCustomField}/item``, ``POST /1/lists`` and ``PUT /1/lists/{id}``,
``POST /1/boards`` (``defaultLists``, or a copy of ``idBoardSource`` with ``keepFromSource``) and
``POST /1/customFields`` (a board's field definition).
Parameters come from the query string, a form or a JSON body, as Trello takes them. Writes answer
200 with the object; bad values answer 400 ``invalid value for <name>`` in plain text. No
idempotency: a repeated create makes a second card. Every write is an action by the token's member
and bumps ``dateLastActivity``, so the next incremental read sees it.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.core import Call, ControlError, VendorError, json_response
from passerelle_sandbox.store import Collection
from passerelle_sandbox.trello_auth import text_error
from passerelle_sandbox.trello_ids import is_object_id

Record = dict[str, Any]
NAME_MAX = 16384
DESC_MAX = 16384
COMMENT_MAX = 16384
DEFAULT_LISTS = ("To Do", "Doing", "Done")  # what Trello puts on a new board unless defaultLists=false
KEEP_FROM_SOURCE = ("cards", "all", "none")
FIELD_TYPES = ("text", "number", "checkbox", "date", "list")
CARD_WRITABLE = ("name", "desc", "due", "dueComplete", "start", "closed", "idList", "pos")
_NULLS = (None, "", "null")


def _params(call: Call) -> Record:
    """Query string, then form, then JSON body: the later source wins, as Trello merges them."""
    out: Record = dict(call.request.args.items())
    out.update(call.request.form.items())
    raw = call.request.get_data(cache=True)
    if raw and (call.request.mimetype or "").endswith("json"):
        try:
            body = json.loads(raw)
        except ValueError:
            raise text_error(400, "invalid JSON") from None
        if isinstance(body, dict):
            out.update(body)
    return out


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise text_error(400, f"invalid value for {name}")


def _date(name: str, value: Any) -> str | None:
    if value in _NULLS:
        return None
    try:
        return canonical(parse_instant(str(value)))
    except ValueError:
        raise text_error(400, f"invalid value for {name}") from None


def _text(name: str, value: Any, maximum: int, required: bool = False) -> str:
    text = "" if value is None else str(value)
    if len(text) > maximum or (required and not text.strip()):
        raise text_error(400, f"invalid value for {name}")
    return text


def _id_list(name: str, value: Any) -> list[str]:
    if value in _NULLS:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    ids = [str(i).strip() for i in items if str(i).strip()]
    if not all(is_object_id(i) for i in ids):
        raise text_error(400, f"invalid value for {name}")
    return ids


class TrelloWriteRoutes:
    """``on_*`` write handlers; validation here, state changes through the app's own mutators."""

    lists: Collection
    cards: Collection
    boards: Collection
    members: Collection
    labels: Collection
    custom_fields: Collection
    comment_counts: dict[str, int]
    me_id: str

    def _card_fields(self, card: Record | None, params: Record) -> Record:
        """Validated card fields from request parameters (``card`` None: a create)."""
        fields: Record = {}
        for name in CARD_WRITABLE:
            if name not in params:
                continue
            value = params[name]
            if name == "name":
                fields[name] = _text(name, value, NAME_MAX, required=True)
            elif name == "desc":
                fields[name] = _text(name, value, DESC_MAX)
            elif name in ("due", "start"):
                fields[name] = _date(name, value)
            elif name in ("closed", "dueComplete"):
                fields[name] = _bool(name, value)
            elif name == "idList":
                lst = self.lists.get(str(value))
                if lst is None or (card is not None and lst["idBoard"] != card["idBoard"]):  # no moves across boards
                    raise text_error(400, "invalid value for idList")
                fields[name] = lst["id"]
            elif name == "pos" and value not in _NULLS:
                fields[name] = self._position(card, value)
        return fields

    def _position(self, card: Record | None, value: Any) -> float:
        if card is not None and value in ("top", "bottom"):
            others = [c["pos"] for c in self.cards.values() if c["idList"] == card["idList"] and c["id"] != card["id"]]
            return (min(others, default=16384) / 2) if value == "top" else max(others, default=0) + 16384
        try:
            pos = float(value)
        except (TypeError, ValueError):
            raise text_error(400, "invalid value for pos") from None
        if pos < 0:
            raise text_error(400, "invalid value for pos")
        return int(pos) if pos.is_integer() else pos

    # ------------------------------------------------------------------------------ cards

    def on_create_card(self, call: Call) -> Response:
        params = _params(call)
        if params.get("idList") in _NULLS or not is_object_id(str(params["idList"])):
            raise text_error(400, "invalid value for idList")
        if str(params["idList"]) not in self.lists:
            raise text_error(404, "The requested resource was not found.")
        lst = self.lists[str(params["idList"])]
        fields = self._card_fields(None, {k: v for k, v in params.items() if k != "pos" or v not in ("top", "bottom")})
        members = _id_list("idMembers", params.get("idMembers"))
        labels = _id_list("idLabels", params.get("idLabels"))
        if any(m not in self.members for m in members):
            raise text_error(400, "invalid value for idMembers")
        if any(self.labels.get(label, {}).get("idBoard") != lst["idBoard"] for label in labels):
            raise text_error(400, "invalid value for idLabels")
        card = self._create_card({**fields, "idList": lst["id"], "idMembers": members})  # type: ignore[attr-defined]
        if fields.get("pos") is not None:
            card["pos"] = fields["pos"]
        if fields.get("start"):
            card["start"] = fields["start"]
        for label in labels:
            card["idLabels"].append(label)
            card["labels"].append(dict(self.labels[label]))
        return json_response(self._render_card(call, card))  # type: ignore[attr-defined]

    def on_update_card(self, call: Call, card_id: str) -> Response:
        card = self._card_or_404(card_id)  # type: ignore[attr-defined]
        changes = {k: v for k, v in self._card_fields(card, _params(call)).items() if card.get(k) != v}
        self._apply_card_changes(card, changes)
        return json_response(self._render_card(call, card))  # type: ignore[attr-defined]

    def on_update_card_field(self, call: Call, card_id: str, field: str) -> Response:
        """``PUT /1/cards/{id}/{field}`` with ``value``: the one-field form of the card update."""
        card = self._card_or_404(card_id)  # type: ignore[attr-defined]
        if field not in CARD_WRITABLE:
            return self.not_found(call)  # type: ignore[attr-defined]
        params = _params(call)
        if "value" not in params:
            raise text_error(400, "invalid value for value")
        try:
            fields = self._card_fields(card, {field: params["value"]})
        except VendorError as exc:  # Trello names the parameter: here it is ``value``
            if exc.status == 400:
                raise text_error(400, "invalid value for value") from None
            raise
        changes = {k: v for k, v in fields.items() if card.get(k) != v}
        self._apply_card_changes(card, changes)
        return json_response(self._render_card(call, card))  # type: ignore[attr-defined]

    def _apply_card_changes(self, card: Record, changes: Record) -> None:
        """One ``updateCard`` action (with ``old``) for a real change; an unchanged write leaves no trace."""
        if not changes:
            return
        try:
            self._update_card(card, changes)  # type: ignore[attr-defined]
        except ControlError as exc:
            raise text_error(400, str(exc)) from None

    def on_delete_card(self, call: Call, card_id: str) -> Response:
        self._delete_card(self._card_or_404(card_id))  # type: ignore[attr-defined]
        return json_response({"limits": {}})

    def on_add_comment(self, call: Call, card_id: str) -> Response:
        card = self._card_or_404(card_id)  # type: ignore[attr-defined]
        text = _text("text", _params(call).get("text"), COMMENT_MAX, required=True)
        lst = self.lists[card["idList"]]
        action = self._record_action("commentCard", self.boards[card["idBoard"]], None,  # type: ignore[attr-defined]
                                     text=text, textData={"emoji": {}}, card=self._card_ref(card),  # type: ignore[attr-defined]
                                     list={"id": lst["id"], "name": lst["name"]})
        self.comment_counts[card_id] = self.comment_counts.get(card_id, 0) + 1
        return json_response(dict(action))

    def on_set_field_item(self, call: Call, card_id: str, field_id: str) -> Response:
        """``PUT /1/cards/{id}/customField/{idCustomField}/item``: ``{"value": {"<type>": "…"}}``, ``""`` clears.

        The value's key must be the field's type (``checked`` for checkboxes); numbers keep their digits.
        List fields (``idValue``) are not emulated: the sandbox boards have none.
        """
        card = self._card_or_404(card_id)  # type: ignore[attr-defined]
        definition = self.custom_fields.get(field_id)
        if definition is None or definition["idModel"] != card["idBoard"]:
            raise text_error(404, "The requested resource was not found.")
        params = _params(call)
        value = params.get("value")
        if value in _NULLS or value == {}:
            raw = None
        else:
            key = "checked" if definition["type"] == "checkbox" else definition["type"]
            if not isinstance(value, dict) or list(value) != [key] or definition["type"] == "list":
                raise text_error(400, "invalid value for value")
            raw = value[key]
            if key == "checked" and str(raw).lower() not in ("true", "false"):
                raise text_error(400, "invalid value for value")
            raw = str(raw).lower() if key == "checked" else raw
        try:
            self._set_custom_fields(card, {field_id: raw}, None)  # type: ignore[attr-defined]
        except ControlError:
            raise text_error(400, "invalid value for value") from None
        item = next((i for i in card.get("customFieldItems", []) if i["idCustomField"] == field_id), None)
        return json_response(dict(item) if item else {"id": None, "value": None, "idCustomField": field_id,
                                                      "idModel": card_id, "modelType": "card"})

    # ------------------------------------------------------------------------------ lists

    def on_create_list(self, call: Call) -> Response:
        params = _params(call)
        name = _text("name", params.get("name"), NAME_MAX, required=True)
        board_id = str(params.get("idBoard") or "")
        if not is_object_id(board_id) or board_id not in self.boards:
            raise text_error(400, "invalid value for idBoard")
        fields: Record = {"idBoard": board_id, "name": name}
        if params.get("pos") not in _NULLS and params.get("pos") not in ("top", "bottom"):
            fields["pos"] = self._position(None, params["pos"])
        lst = self._create_list(fields)  # type: ignore[attr-defined]
        return json_response(dict(lst))

    def on_update_list_field(self, call: Call, list_id: str, field: str) -> Response:
        """``PUT /1/lists/{id}/name|closed`` with ``value``."""
        lst = self._list(list_id)  # type: ignore[attr-defined]
        if field not in ("name", "closed"):
            return self.not_found(call)  # type: ignore[attr-defined]
        params = _params(call)
        if "value" not in params:
            raise text_error(400, "invalid value for value")
        return self._apply_list_changes(lst, {field: params["value"]})

    def on_update_list(self, call: Call, list_id: str) -> Response:
        return self._apply_list_changes(self._list(list_id), _params(call))  # type: ignore[attr-defined]

    def _apply_list_changes(self, lst: Record, params: Record) -> Response:
        list_id = lst["id"]
        changes: Record = {}
        if "name" in params:
            changes["name"] = _text("name", params["name"], NAME_MAX, required=True)
        if "closed" in params:
            changes["closed"] = _bool("closed", params["closed"])
        changes = {k: v for k, v in changes.items() if lst.get(k) != v}
        if changes:
            self.control_update("lists", list_id, {"fields": changes})  # type: ignore[attr-defined]
        return json_response(dict(lst))

    # ------------------------------------------------------------------------------ boards

    def on_create_board(self, call: Call) -> Response:
        """``POST /1/boards``: a new board of the token's member, or a copy of ``idBoardSource``.

        A copy takes the source's open lists and custom-field definitions, and its open cards (names,
        descriptions, dates, positions and field values) unless ``keepFromSource=none``; without a source,
        ``defaultLists`` (true by default) adds To Do, Doing and Done.
        """
        params = _params(call)
        name = _text("name", params.get("name"), NAME_MAX, required=True)
        desc = _text("desc", params.get("desc"), DESC_MAX)
        source_id = params.get("idBoardSource")
        keep = str(params.get("keepFromSource") or "all")
        if keep not in KEEP_FROM_SOURCE:
            raise text_error(400, "invalid value for keepFromSource")
        source = None
        if source_id not in _NULLS:
            source = self.boards.get(str(source_id))
            if source is None or self.me_id not in source.get("idMembers", []):
                raise text_error(400, "invalid value for idBoardSource")
        board = self._create_board({"name": name, "desc": desc, "bare": True})  # type: ignore[attr-defined]
        if source is None:
            if _bool("defaultLists", params.get("defaultLists", True)):
                for pos, list_name in enumerate(DEFAULT_LISTS, 1):
                    self._create_list({"idBoard": board["id"], "name": list_name, "pos": pos * 16384})  # type: ignore[attr-defined]
            return json_response(dict(board))
        self._copy_board(source, board, with_cards=keep != "none")
        return json_response(dict(board))

    def _copy_board(self, source: Record, board: Record, *, with_cards: bool) -> None:
        lists = {}
        for lst in sorted((item for item in self.lists.values() if item["idBoard"] == source["id"] and not item["closed"]),
                          key=lambda item: item["pos"]):
            lists[lst["id"]] = self._create_list({"idBoard": board["id"], "name": lst["name"], "pos": lst["pos"]})  # type: ignore[attr-defined]
        fields = {}
        for definition in sorted((f for f in self.custom_fields.values() if f["idModel"] == source["id"]),
                                 key=lambda f: f["pos"]):
            fields[definition["id"]] = self._create_field({"idBoard": board["id"], "name": definition["name"],  # type: ignore[attr-defined]
                                                           "type": definition["type"], "pos": definition["pos"]})
        if not with_cards:
            return
        for card in sorted((c for c in self.cards.values() if c["idBoard"] == source["id"] and not c["closed"]
                            and c["idList"] in lists), key=lambda c: (self.lists[c["idList"]]["pos"], c["pos"])):
            copied = self._create_card({"idList": lists[card["idList"]]["id"], "name": card["name"],  # type: ignore[attr-defined]
                                        "desc": card.get("desc", ""), "due": card.get("due")})
            copied["pos"] = card["pos"]
            values = {fields[i["idCustomField"]]["id"]: self._item_text(fields[i["idCustomField"]], i)
                      for i in card.get("customFieldItems") or [] if i["idCustomField"] in fields and i.get("value")}
            if values:
                self._set_custom_fields(copied, values, None)  # type: ignore[attr-defined]

    @staticmethod
    def _item_text(definition: Record, item: Record) -> Any:
        kind = "checked" if definition["type"] == "checkbox" else definition["type"]
        return (item.get("value") or {}).get(kind)

    def on_create_custom_field(self, call: Call) -> Response:
        """``POST /1/customFields`` with ``idModel`` (a board), ``modelType=board``, ``name``, ``type``, ``pos``."""
        params = _params(call)
        board_id = str(params.get("idModel") or "")
        if params.get("modelType") != "board":
            raise text_error(400, "invalid value for modelType")
        if not is_object_id(board_id) or board_id not in self.boards:
            raise text_error(400, "invalid value for idModel")
        name = _text("name", params.get("name"), NAME_MAX, required=True)
        kind = str(params.get("type") or "")
        if kind not in FIELD_TYPES:
            raise text_error(400, "invalid value for type")
        if kind == "list":
            raise text_error(400, "invalid value for options")  # list fields need options: not emulated
        pos = params.get("pos", "bottom")
        existing = [f["pos"] for f in self.custom_fields.values() if f["idModel"] == board_id]
        if pos in ("top", "bottom"):
            pos = (min(existing, default=32768) / 2) if pos == "top" else max(existing, default=0) + 16384
        else:
            pos = self._position(None, pos)
        definition = self._create_field({"idBoard": board_id, "name": name, "type": kind, "pos": pos})  # type: ignore[attr-defined]
        return json_response(dict(definition))
