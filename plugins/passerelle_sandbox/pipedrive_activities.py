"""Pipedrive notes and activities (``two-way-sync.md`` §1.4), mixed into the Pipedrive emulator.

Notes only exist in v1: ``GET``/``POST /v1/notes``, ``GET``/``PUT``/``DELETE /v1/notes/{id}``; a note needs
``content`` (HTML) and one of ``deal_id|person_id|org_id|lead_id``. Activities are in v1 (same paths
under ``/v1/activities``) and v2 (``POST /api/v2/activities``, ``GET``/``PATCH``/``DELETE …/{id}``).
Both carry the token's user (``user_id``, ``last_update_user_id``/``update_user_id``) and bump
``update_time`` on every write; a deleted item answers 404.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.pipedrive_model import Record, pd_error, v1_time, v2_time
from passerelle_sandbox.store import Collection

ACTIVITY_WRITABLE = ("subject", "type", "owner_id", "deal_id", "person_id", "org_id", "due_date", "due_time",
                     "duration", "done", "note", "busy")


def _v(rule: str, endpoint: str, *methods: str) -> Rule:
    return Rule(rule, endpoint=endpoint, methods=list(methods))


ACTIVITY_RULES = [
    _v("/api/v2/activities", "v2_create_activity", "POST"),
    _v("/api/v2/activities/<int:item_id>", "v2_get_activity", "GET"),
    _v("/api/v2/activities/<int:item_id>", "v2_update_activity", "PATCH"),
    _v("/api/v2/activities/<int:item_id>", "v2_delete_activity", "DELETE"),
    *[rule for prefix in ("/api/v1", "/v1") for rule in (
        _v(f"{prefix}/<any(notes,activities):kind>", "v1_sub_list", "GET"),
        _v(f"{prefix}/<any(notes,activities):kind>", "v1_sub_create", "POST"),
        _v(f"{prefix}/<any(notes,activities):kind>/<int:item_id>", "v1_sub_get", "GET"),
        _v(f"{prefix}/<any(notes,activities):kind>/<int:item_id>", "v1_sub_update", "PUT"),
        _v(f"{prefix}/<any(notes,activities):kind>/<int:item_id>", "v1_sub_delete", "DELETE"),
    )],
]


def number_value(name: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise pd_error(400, f"{name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise pd_error(400, f"{name} must be a number") from None
    if not number.is_finite():
        raise pd_error(400, f"{name} must be a number")
    return number


def date_value(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.replace("-", "").isdigit():
        raise pd_error(400, f"{name} must be a date (YYYY-MM-DD)")
    return text


class PipedriveActivityRoutes:
    """``on_*`` handlers for notes and activities; the reference checks and stamps come from the writes mixin."""

    notes: dict[int, Record]
    activities: dict[int, Record]
    records: dict[str, Collection]
    lock: Any

    def _sub_store(self, kind: str) -> dict[int, Record]:
        return self.notes if kind == "notes" else self.activities

    def _sub_item(self, kind: str, item_id: int) -> Record:
        item = self._sub_store(kind).get(item_id)
        if item is None or not item["active_flag"]:
            raise pd_error(404, f"{'Note' if kind == 'notes' else 'Activity'} not found")
        return item

    def _sub_fields(self, kind: str, body: Record, item: Record | None) -> Record:
        out: Record = {}
        for name in ("deal_id", "person_id", "org_id"):
            if name in body:
                obj = {"deal_id": "deals", "person_id": "persons", "org_id": "organizations"}[name]
                out[name] = self._reference(obj, name, body[name])
        if kind == "notes":
            if "lead_id" in body:
                out["lead_id"] = body["lead_id"]
            if "content" in body or item is None:
                if not str(body.get("content") or "").strip():
                    raise pd_error(400, "Content is required")
                out["content"] = str(body["content"])
            for flag in ("pinned_to_deal_flag", "pinned_to_person_flag", "pinned_to_organization_flag"):
                if flag in body:
                    out[flag] = bool(body[flag])
            merged = {**(item or {}), **out}
            if not any(merged.get(k) for k in ("deal_id", "person_id", "org_id", "lead_id")):
                raise pd_error(400, "Note must be attached to a deal, person, organization or lead")
            return out
        for name in ACTIVITY_WRITABLE:
            if name not in body or name in out:
                continue
            value = body[name]
            if name == "due_date":
                value = date_value(name, value)
            elif name == "done":
                value = value in (True, 1, "1", "true")
            elif name == "owner_id":
                value = self._reference("users", name, value)
            out[name] = value
        if item is None:
            out.setdefault("type", "task")
            out.setdefault("subject", str(out["type"]).capitalize())
        return out

    def _render_sub(self, item: Record, v1: bool) -> Record:
        convert = v1_time if v1 else v2_time
        return {k: (convert(v) if k in ("add_time", "update_time", "marked_as_done_time") else v)
                for k, v in item.items()}

    def _sub_create(self, call: Call, kind: str) -> Record:
        body = self._json(call)
        with self.lock:
            fields = self._sub_fields(kind, body, None)
            now = self._now()  # type: ignore[attr-defined]
            store = self._sub_store(kind)
            user = self.api_user_id()
            item: Record = {"id": len(store) + 1, "user_id": user, "add_time": now, "update_time": now,
                            "active_flag": True}
            if kind == "notes":
                item.update({"deal_id": None, "person_id": None, "org_id": None, "lead_id": None,
                             "pinned_to_deal_flag": False, "last_update_user_id": user})
            else:
                item.update({"deal_id": None, "person_id": None, "org_id": None, "owner_id": user, "done": False,
                             "due_date": None, "due_time": None, "duration": None, "note": None, "busy": False,
                             "created_by_user_id": user, "update_user_id": user})
            item.update(fields)
            store[item["id"]] = item
            return item

    def _sub_update(self, call: Call, kind: str, item_id: int) -> Record:
        body = self._json(call)
        with self.lock:
            item = self._sub_item(kind, item_id)
            fields = self._sub_fields(kind, body, item)
            item.update(fields)
            self._write_stamp(item)
            item["last_update_user_id" if kind == "notes" else "update_user_id"] = self.api_user_id()
            return item

    def on_v1_sub_list(self, call: Call, kind: str) -> Response:
        args = call.request.args
        filters = {n: int(args[n]) for n in ("deal_id", "person_id", "org_id") if args.get(n, "").isdigit()}
        with self.lock:
            rows = [self._render_sub(i, v1=True) for i in self._sub_store(kind).values()
                    if i["active_flag"] and all(i.get(n) == v for n, v in filters.items())]
        return self._v1_page(call, rows)  # type: ignore[attr-defined]

    def on_v1_sub_get(self, call: Call, kind: str, item_id: int) -> Response:
        with self.lock:
            return json_response({"success": True, "data": self._render_sub(self._sub_item(kind, item_id), True)})

    def on_v1_sub_create(self, call: Call, kind: str) -> Response:
        return json_response({"success": True, "data": self._render_sub(self._sub_create(call, kind), True)},
                             status=201)

    def on_v1_sub_update(self, call: Call, kind: str, item_id: int) -> Response:
        return json_response({"success": True, "data": self._render_sub(self._sub_update(call, kind, item_id), True)})

    def on_v1_sub_delete(self, call: Call, kind: str, item_id: int) -> Response:
        with self.lock:
            item = self._sub_item(kind, item_id)
            item["active_flag"] = False
            self._write_stamp(item)
        return json_response({"success": True, "data": {"id": item_id}})

    def on_v2_create_activity(self, call: Call) -> Response:
        return json_response({"success": True, "data": self._render_sub(self._sub_create(call, "activities"), False)})

    def on_v2_get_activity(self, call: Call, item_id: int) -> Response:
        with self.lock:
            item = self._sub_item("activities", item_id)
            return json_response({"success": True, "data": self._render_sub(item, False)})

    def on_v2_update_activity(self, call: Call, item_id: int) -> Response:
        item = self._sub_update(call, "activities", item_id)
        return json_response({"success": True, "data": self._render_sub(item, False)})

    def on_v2_delete_activity(self, call: Call, item_id: int) -> Response:
        with self.lock:
            item = self._sub_item("activities", item_id)
            item["active_flag"] = False
            self._write_stamp(item)
        return json_response({"success": True, "data": {"id": item_id}})
