"""Pipedrive writes, mixed into the Pipedrive emulator (``two-way-sync.md`` §1.4).

- v2: ``POST /api/v2/{organizations|persons|deals|products}``, ``PATCH``/``DELETE …/{id}`` (partial
  update; custom values in ``custom_fields{<40-hex key>: value}``); deal products ``POST
  /api/v2/deals/{id}/products``, ``POST …/products/bulk`` (``data`` ≤ 100 items), ``PATCH``/``DELETE
  …/products/{attachment id}``;
  ``GET``/``POST /api/v2/dealFields`` (``field_name``, ``field_type``; the answer's ``field_code`` is a
  new 40-hex hash that cannot change later); notes and activities are in ``pipedrive_activities``;
- v1 (what the vendor's SDK sends): ``POST /v1/<objects>``, ``PUT``/``DELETE /v1/<objects>/{id}`` with
  custom values at the top level, ``POST /v1/deals/{id}/products`` and ``POST /v1/<entity>Fields``;
  ``GET /v1/deals/{id}/flow`` lists ``dealChange`` items stamped ``change_source: "api"`` and the
  token's ``user_id`` (the who-modified signal the webhooks also carry);
- no idempotency (a repeated create makes a second record) and no concurrency control;
- every write bumps ``update_time`` (strictly, per record) so ``updated_since`` and recents see it;
- errors keep Pipedrive's ``{success: false, error, error_info, …}`` body; writes cost more tokens
  than reads (``cost_write``, ``cost_delete``) and carry the rate-limit headers.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_pipedrive import STAGE_IDS
from passerelle_sandbox.pipedrive_activities import ACTIVITY_RULES, PipedriveActivityRoutes, date_value, number_value
from passerelle_sandbox.pipedrive_model import ENTITY, Record, pd_error, render_v1, render_v2, v1_time, v2_time
from passerelle_sandbox.store import Collection

OBJ_RE = "any(organizations,persons,deals,products)"
FIELD_TYPES = ("varchar", "varchar_auto", "text", "double", "monetary", "date", "set", "enum", "user", "org",
               "people", "phone", "time", "timerange", "daterange", "address")
NUMERIC_TYPES = ("double", "monetary")
REQUIRED = {"deals": "title", "organizations": "name", "persons": "name", "products": "name"}
WRITABLE = {
    "deals": ("title", "value", "currency", "owner_id", "person_id", "org_id", "pipeline_id", "stage_id", "status",
              "probability", "lost_reason", "visible_to", "expected_close_date", "label_ids"),
    "organizations": ("name", "owner_id", "address", "visible_to", "label_ids"),
    "persons": ("name", "owner_id", "org_id", "emails", "phones", "job_title", "visible_to", "label_ids"),
    "products": ("name", "code", "description", "unit", "tax", "owner_id", "prices", "is_linkable", "visible_to"),
}
DEAL_PRODUCT_WRITABLE = ("product_id", "item_price", "quantity", "discount", "discount_type", "tax", "tax_method",
                         "comments", "is_enabled", "product_variation_id")
MAX_BULK = 100


def _v(rule: str, endpoint: str, *methods: str) -> Rule:
    return Rule(rule, endpoint=endpoint, methods=list(methods))


def _v1_write_rules(prefix: str) -> list[Rule]:
    return [
        _v(f"{prefix}/<{OBJ_RE}:obj>", "v1_create", "POST"),
        _v(f"{prefix}/<{OBJ_RE}:obj>/<int:record_id>", "v1_update", "PUT"),
        _v(f"{prefix}/<{OBJ_RE}:obj>/<int:record_id>", "v1_delete", "DELETE"),
        _v(f"{prefix}/deals/<int:deal_id>/products", "v1_add_deal_product", "POST"),
        _v(f"{prefix}/deals/<int:deal_id>/flow", "v1_deal_flow", "GET"),
        _v(f"{prefix}/<any(organization,person,deal,product):entity>Fields", "v1_create_field", "POST"),
    ]


WRITE_RULES = [
    _v(f"/api/v2/<{OBJ_RE}:obj>", "v2_create", "POST"),
    _v(f"/api/v2/<{OBJ_RE}:obj>/<int:record_id>", "v2_update", "PATCH"),
    _v(f"/api/v2/<{OBJ_RE}:obj>/<int:record_id>", "v2_delete", "DELETE"),
    _v("/api/v2/deals/<int:deal_id>/products", "v2_add_deal_product", "POST"),
    _v("/api/v2/deals/<int:deal_id>/products/bulk", "v2_add_deal_products_bulk", "POST"),
    _v("/api/v2/deals/<int:deal_id>/products/<int:attachment_id>", "v2_update_deal_product", "PATCH"),
    _v("/api/v2/deals/<int:deal_id>/products/<int:attachment_id>", "v2_delete_deal_product", "DELETE"),
    _v("/api/v2/<any(organization,person,deal,product):entity>Fields", "v2_fields", "GET"),
    _v("/api/v2/<any(organization,person,deal,product):entity>Fields", "v2_create_field", "POST"),
    *_v1_write_rules("/api/v1"),
    *_v1_write_rules("/v1"),
    *ACTIVITY_RULES,
]


class PipedriveWriteRoutes(PipedriveActivityRoutes):
    """``on_*`` write handlers; they reuse the app's stores, stamping and deal re-valuation."""

    records: dict[str, Collection]
    fields: dict[str, list[Record]]
    _next_id: dict[str, int]
    seed: int
    lock: Any
    config: dict[str, Any]

    def load_writes(self) -> None:
        self.notes: dict[int, Record] = {}
        self.activities: dict[int, Record] = {}
        self.flow: list[Record] = []
        self._write_serial = 0

    # ----------------------------------------------------------------------- helpers

    def api_user_id(self) -> int:
        """The token's user: the company's first user (the integration's own account)."""
        return min(self.records["users"], default=1)

    def _json(self, call: Call) -> Record:
        raw = call.request.get_data(as_text=True)
        if not raw:
            return {}
        try:
            body = json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise pd_error(400, "Invalid JSON body") from None
        if not isinstance(body, dict):
            raise pd_error(400, "Request body must be a JSON object")
        return body

    def _serial(self) -> int:
        self._write_serial += 1
        return self._write_serial

    def _later_stamp(self, record: Record, key: str = "update_time") -> str:
        """Now, but strictly after the record's previous stamp, so writes stay ordered."""
        now = self._now()  # type: ignore[attr-defined]
        previous = record.get(key)
        if isinstance(previous, str) and previous >= now:
            now = canonical(parse_instant(previous) + timedelta(seconds=1))
        return now

    def _write_stamp(self, record: Record, key: str = "update_time") -> str:
        """Stamp an activity or a note (kept apart from the record store) strictly after its last write."""
        now = self._later_stamp(record, key)
        record[key] = now
        return now

    def _restamp(self, obj: str, record: Record) -> str:
        """Stamp a stored record strictly after its last write."""
        now = self._later_stamp(record)
        self.records[obj].touch(record["id"], at=now)
        return now

    def _live(self, obj: str, record_id: int) -> Record:
        record = self.records[obj].get(record_id)
        if record is None or record.get("is_deleted"):
            raise pd_error(404, f"{ENTITY[obj].capitalize()} not found")
        return record

    def _reference(self, obj: str, name: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not str(value).isdigit():
            raise pd_error(400, f"{name} must be an integer")
        store = self.records[obj]
        record = store.get(int(value))
        if record is None or record.get("is_deleted") or record.get("active_flag") is False:
            raise pd_error(400, f"{name}: {ENTITY.get(obj, 'user').capitalize()} with id {value} not found")
        return int(value)

    def _custom_definitions(self, entity: str) -> dict[str, Record]:
        return {f["key"]: f for f in self.fields.get(entity, []) if len(str(f["key"])) == 40}

    def _custom_value(self, definition: Record, value: Any) -> Any:
        if value is None:
            return None
        kind = definition["field_type"]
        name = definition["name"]
        if kind == "monetary" and isinstance(value, dict):
            return {"value": number_value(name, value.get("value")), "currency": value.get("currency")}
        if kind in NUMERIC_TYPES:
            return number_value(name, value)
        if kind == "date":
            return date_value(name, value)
        return value

    # ------------------------------------------------------------------ object writes

    def _validated(self, obj: str, body: Record, creating: bool, v1: bool) -> tuple[Record, Record]:
        """(standard fields, custom fields) from a request body; v1 carries custom keys at the top level."""
        entity = ENTITY[obj]
        definitions = self._custom_definitions(entity)
        custom_in: Record = {}
        if v1:
            custom_in = {k: v for k, v in body.items() if k in definitions}
        elif "custom_fields" in body:
            if not isinstance(body["custom_fields"], dict):
                raise pd_error(400, "custom_fields must be an object")
            custom_in = body["custom_fields"]
            unknown = sorted(k for k in custom_in if k not in definitions)
            if unknown:
                raise pd_error(400, f"Unknown custom field key(s): {', '.join(unknown)}")
        standard: Record = {}
        for name, value in body.items():
            if name == "custom_fields" or name in definitions:
                continue
            if name not in WRITABLE[obj]:
                if v1 or name in ("id", "add_time", "update_time"):
                    continue  # v1 ignores what it does not know
                raise pd_error(400, f"Parameter '{name}' is not allowed for this request")
            standard[name] = self._standard_value(obj, name, value, v1)
        required = REQUIRED[obj]
        if (creating or required in standard) and not str(standard.get(required) or "").strip():
            raise pd_error(400, f"{'Title' if required == 'title' else 'Name'} is required")
        custom = {k: self._custom_value(definitions[k], v) for k, v in custom_in.items()}
        return standard, custom

    def _standard_value(self, obj: str, name: str, value: Any, v1: bool) -> Any:
        if name in ("owner_id",):
            return self._reference("users", name, value)
        if name in ("org_id", "person_id"):
            return self._reference("organizations" if name == "org_id" else "persons", name, value)
        if name in ("value", "tax", "probability"):
            return None if value is None and name == "probability" else number_value(name, value)
        if name == "status":
            if value not in ("open", "won", "lost"):
                raise pd_error(400, "status must be one of open, won, lost")
            return value
        if name == "stage_id":
            if isinstance(value, bool) or not str(value).isdigit() or int(value) not in STAGE_IDS.values():
                raise pd_error(400, f"stage_id: Stage with id {value} not found")
            return int(value)
        if name == "expected_close_date":
            return date_value(name, value)
        if name == "emails" and v1 is False and not isinstance(value, list):
            raise pd_error(400, "emails must be an array")
        if name == "prices" and not isinstance(value, list):
            raise pd_error(400, "prices must be an array")
        return value

    def _apply(self, obj: str, record: Record, standard: Record, custom: Record, now: str) -> list[Record]:
        """Write the fields; return the changes (``field_key``, old, new) for the deal flow."""
        changes: list[Record] = []
        for name, value in standard.items():
            if record.get(name) != value:
                changes.append({"field_key": name, "old_value": record.get(name), "new_value": value})
            record[name] = value
        if obj == "deals" and "stage_id" in standard and any(c["field_key"] == "stage_id" for c in changes):
            record["stage_change_time"] = now
        if obj == "deals" and any(c["field_key"] == "status" for c in changes):
            status = record["status"]
            record["close_time"] = now if status != "open" else None
            record["won_time"] = now if status == "won" else None
            record["lost_time"] = now if status == "lost" else None
        store = record.setdefault("custom_fields", {})
        for key, value in custom.items():
            if store.get(key) != value:
                changes.append({"field_key": key, "old_value": store.get(key), "new_value": value})
            store[key] = value
        return changes

    def _new_record(self, obj: str, now: str) -> Record:
        self._next_id[obj] += 1
        user = self.api_user_id()
        record: Record = {"id": self._next_id[obj], "add_time": now, "update_time": now, "is_deleted": False,
                          "owner_id": user, "creator_user_id": user, "visible_to": 3, "custom_fields": {}}
        if obj == "deals":
            record.update({"title": None, "value": Decimal("0"), "currency": "EUR", "person_id": None,
                           "org_id": None, "pipeline_id": 1, "stage_id": 1, "stage_change_time": None,
                           "is_archived": False, "status": "open", "probability": None, "lost_reason": None,
                           "close_time": None, "won_time": None, "lost_time": None, "expected_close_date": None,
                           "label_ids": []})
        elif obj == "organizations":
            record.update({"name": None, "address": None, "label_ids": []})
        elif obj == "persons":
            record.update({"name": None, "org_id": None, "emails": [], "phones": [], "job_title": None,
                           "label_ids": []})
        else:
            record.update({"name": None, "code": None, "description": None, "unit": None, "tax": Decimal("0"),
                           "prices": [], "is_linkable": True, "billing_frequency": "one-time",
                           "billing_frequency_cycles": None})
        return record

    def _log(self, obj: str, record: Record, changes: list[Record], now: str, call: Call) -> None:
        if obj != "deals":
            return
        agent = call.request.headers.get("User-Agent")
        for change in changes:
            self.flow.append({"id": len(self.flow) + 1, "item_id": record["id"], "user_id": self.api_user_id(),
                              **change, "is_bulk_update_flag": False, "log_time": now, "change_source": "api",
                              "change_source_user_agent": agent, "additional_data": {}})

    def _normalize_v1(self, obj: str, body: Record) -> Record:
        """v1 bodies: ``email``/``phone`` for persons, ``user_id`` for a deal's owner."""
        body = dict(body)
        if obj == "persons":
            for one, many in (("email", "emails"), ("phone", "phones")):
                if one in body:
                    value = body.pop(one)
                    items = value if isinstance(value, list) else [value]
                    body[many] = [i if isinstance(i, dict) else {"value": i, "primary": n == 0, "label": "work"}
                                  for n, i in enumerate(items)]
        if "user_id" in body and "owner_id" not in body:
            body["owner_id"] = body.pop("user_id")
        return body

    def _create(self, call: Call, obj: str, v1: bool) -> Record:
        body = self._json(call)
        if v1:
            body = self._normalize_v1(obj, body)
        with self.lock:
            standard, custom = self._validated(obj, body, creating=True, v1=v1)
            now = self._now()  # type: ignore[attr-defined]
            record = self._new_record(obj, now)
            changes = self._apply(obj, record, standard, custom, now)
            self.records[obj].insert(record, at=now)
            self._log(obj, record, [{"field_key": "add_time", "old_value": None, "new_value": now}, *changes],
                      now, call)
            return record

    def _update(self, call: Call, obj: str, record_id: int, v1: bool) -> Record:
        body = self._json(call)
        if v1:
            body = self._normalize_v1(obj, body)
        with self.lock:
            record = self._live(obj, record_id)
            standard, custom = self._validated(obj, body, creating=False, v1=v1)
            now = self._restamp(obj, record)
            changes = self._apply(obj, record, standard, custom, now)
            self._log(obj, record, changes, now, call)
            return record

    def _delete(self, obj: str, record_id: int) -> None:
        with self.lock:
            record = self._live(obj, record_id)
            now = self._later_stamp(record)
            self.records[obj].delete(record["id"], at=now)
            record["delete_time"] = now
            if obj == "deals":
                record["status"] = "deleted"

    def on_v2_create(self, call: Call, obj: str) -> Response:
        return json_response({"success": True, "data": render_v2(self._create(call, obj, v1=False))})

    def on_v2_update(self, call: Call, obj: str, record_id: int) -> Response:
        return json_response({"success": True, "data": render_v2(self._update(call, obj, record_id, v1=False))})

    def on_v2_delete(self, call: Call, obj: str, record_id: int) -> Response:
        self._delete(obj, record_id)
        return json_response({"success": True, "data": {"id": record_id}})

    def on_v1_create(self, call: Call, obj: str) -> Response:
        return json_response({"success": True, "data": render_v1(obj, self._create(call, obj, v1=True))}, status=201)

    def on_v1_update(self, call: Call, obj: str, record_id: int) -> Response:
        return json_response({"success": True, "data": render_v1(obj, self._update(call, obj, record_id, v1=True))})

    def on_v1_delete(self, call: Call, obj: str, record_id: int) -> Response:
        self._delete(obj, record_id)
        return json_response({"success": True, "data": {"id": record_id}})

    def on_v1_deal_flow(self, call: Call, deal_id: int) -> Response:
        with self.lock:
            if deal_id not in self.records["deals"]:
                raise pd_error(404, "Deal not found")
            items = [{"object": "dealChange", "timestamp": v1_time(e["log_time"]),
                      "data": {**e, "log_time": v1_time(e["log_time"])}}
                     for e in reversed(self.flow) if e["item_id"] == deal_id]
        return self._v1_page(call, items)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------- deal products

    def _deal_product(self, deal: Record, body: Record, attachment: Record | None) -> Record:
        unknown = sorted(k for k in body if k not in DEAL_PRODUCT_WRITABLE)
        if unknown:
            raise pd_error(400, f"Parameter '{unknown[0]}' is not allowed for this request")
        if attachment is None:
            missing = [k for k in ("product_id", "item_price", "quantity") if body.get(k) is None]
            if missing:
                raise pd_error(400, f"{missing[0]} is required")
        row = dict(attachment or {"discount": Decimal("0"), "discount_type": "percentage", "tax": Decimal("0"),
                                  "tax_method": "exclusive", "is_enabled": True, "comments": None,
                                  "product_variation_id": None, "billing_frequency": "one-time",
                                  "billing_frequency_cycles": None, "billing_start_date": None})
        for name, value in body.items():
            if name in ("item_price", "quantity", "discount", "tax"):
                value = number_value(name, value)
            elif name == "product_id":
                product = self.records["products"].get(value) if isinstance(value, int) else None
                if product is None or product.get("is_deleted"):
                    raise pd_error(400, f"product_id: Product with id {value} not found")
                row["name"] = product["name"]
            elif name == "discount_type" and value not in ("percentage", "amount"):
                raise pd_error(400, "discount_type must be percentage or amount")
            elif name == "tax_method" and value not in ("exclusive", "inclusive", "none"):
                raise pd_error(400, "tax_method must be exclusive, inclusive or none")
            row[name] = value
        if row["quantity"] <= 0:
            raise pd_error(400, "quantity must be greater than 0")
        gross = row["item_price"] * row["quantity"]
        off = gross * row["discount"] / 100 if row["discount_type"] == "percentage" else row["discount"]
        row["sum"] = (gross - off).quantize(Decimal("0.01"))
        row.update({"deal_id": deal["id"], "currency": deal["currency"]})
        return row

    def _attach(self, deal_id: int, items: list[Record]) -> list[Record]:
        with self.lock:
            deal = self._live("deals", deal_id)
            rows = [self._deal_product(deal, item if isinstance(item, dict) else {}, None) for item in items]
            now = self._restamp("deals", deal)
            store = self.records["deal_products"]
            order = len(self._deal_products([deal_id]))  # type: ignore[attr-defined]
            for row in rows:
                self._next_id["deal_products"] += 1
                order += 1
                row.update({"id": self._next_id["deal_products"], "add_time": now, "update_time": now,
                            "order_nr": order})
                store.insert(row, at=now)
            self._restamp_deal(deal_id, now)  # type: ignore[attr-defined]
            return rows

    def on_v2_add_deal_product(self, call: Call, deal_id: int) -> Response:
        row = self._attach(deal_id, [self._json(call)])[0]
        return json_response({"success": True, "data": render_v2(row)}, status=201)

    def on_v1_add_deal_product(self, call: Call, deal_id: int) -> Response:
        row = self._attach(deal_id, [self._json(call)])[0]
        return json_response({"success": True, "data": render_v1("deal_products", row)}, status=201)

    def on_v2_add_deal_products_bulk(self, call: Call, deal_id: int) -> Response:
        items = self._json(call).get("data")
        if not isinstance(items, list) or not items:
            raise pd_error(400, "data must be a non-empty array")
        if len(items) > MAX_BULK:
            raise pd_error(400, f"data must contain at most {MAX_BULK} items")
        rows = self._attach(deal_id, items)
        return json_response({"success": True, "data": [render_v2(r) for r in rows]}, status=201)

    def _attachment(self, deal_id: int, attachment_id: int) -> tuple[Record, Record]:
        deal = self._live("deals", deal_id)
        row = self.records["deal_products"].get(attachment_id)
        if row is None or row["deal_id"] != deal_id:
            raise pd_error(404, "Product attachment not found")
        return deal, row

    def on_v2_update_deal_product(self, call: Call, deal_id: int, attachment_id: int) -> Response:
        body = self._json(call)
        with self.lock:
            deal, row = self._attachment(deal_id, attachment_id)
            updated = self._deal_product(deal, body, row)
            now = self._restamp("deals", deal)
            self.records["deal_products"].update(attachment_id, updated, at=max(now, row["update_time"]))
            updated = row
            self._restamp_deal(deal_id, now)  # type: ignore[attr-defined]
            return json_response({"success": True, "data": render_v2(updated)})

    def on_v2_delete_deal_product(self, call: Call, deal_id: int, attachment_id: int) -> Response:
        with self.lock:
            deal, row = self._attachment(deal_id, attachment_id)
            self.records["deal_products"].purge(attachment_id)
            self._restamp_deal(deal_id, self._restamp("deals", deal))  # type: ignore[attr-defined]
        return json_response({"success": True, "data": {"id": attachment_id}})

    # -------------------------------------------------------------------------- fields

    def _create_field(self, entity: str, name: Any, kind: Any, options: Any) -> Record:
        if not isinstance(name, str) or not name.strip():
            raise pd_error(400, "Field name is required")
        if kind not in FIELD_TYPES:
            raise pd_error(400, f"field_type must be one of {', '.join(FIELD_TYPES)}")
        if kind in ("enum", "set") and not (isinstance(options, list) and options):
            raise pd_error(400, "options are required for enum and set fields")
        with self.lock:
            rows = self.fields.setdefault(entity, [])
            serial = self._serial()
            now = self._now()  # type: ignore[attr-defined]
            key = hashlib.sha1(f"pipedrive:{self.seed}:{entity}:{name}:new:{serial}".encode()).hexdigest()
            row: Record = {"id": 9500 + serial, "key": key, "name": name, "field_type": kind, "edit_flag": True,
                           "order_nr": len(rows) + 1, "active_flag": True, "mandatory_flag": False,
                           "bulk_edit_allowed": True, "add_visible_flag": True, "add_time": now}
            if kind in ("enum", "set"):
                row["options"] = [{"id": n, "label": o.get("label") if isinstance(o, dict) else str(o)}
                                  for n, o in enumerate(options, start=1)]
            rows.append(row)
            return row

    @staticmethod
    def _v2_field(row: Record) -> Record:
        out = {"field_name": row["name"], "field_code": row["key"], "field_type": row["field_type"],
               "id": row["id"], "is_custom_field": len(str(row["key"])) == 40, "is_editable": row["edit_flag"],
               "add_time": v2_time(row.get("add_time"))}
        if "options" in row:
            out["options"] = row["options"]
        return out

    def on_v1_create_field(self, call: Call, entity: str) -> Response:
        body = self._json(call)
        row = self._create_field(entity, body.get("name"), body.get("field_type"), body.get("options"))
        out = {k: v for k, v in row.items() if k != "add_time"}
        return json_response({"success": True, "data": {**out, "add_time": v1_time(row["add_time"])}}, status=201)

    def on_v2_create_field(self, call: Call, entity: str) -> Response:
        body = self._json(call)
        row = self._create_field(entity, body.get("field_name"), body.get("field_type"), body.get("options"))
        return json_response({"success": True, "data": self._v2_field(row)})

    def on_v2_fields(self, call: Call, entity: str) -> Response:
        with self.lock:
            data = [self._v2_field(r) for r in self.fields.get(entity, [])]
        return json_response({"success": True, "data": data, "additional_data": {"next_cursor": None}})
