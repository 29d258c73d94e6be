"""Zoho CRM (v8) and Bigin (v2) emulator: one app parameterised by product (base path, module names).

Behaviour follows ``vendor-apis-crm.md`` §3 and §4:

- OAuth: ``POST /oauth/v2/token`` (``refresh_token`` grant, parameters in the query or the form) is
  served only on the data centre's accounts host (``localhost`` here) and answers with ``api_domain``
  (``127.0.0.1`` here), the only host that serves the API; a refusal is HTTP 200 with ``{"error": ...}``
  as Zoho answers. Access tokens last ``oauth_expires_in`` seconds (3600) and go in
  ``Authorization: Zoho-oauthtoken …``; an expired one is a 401 ``INVALID_TOKEN``;
- record lists ``GET {base}/{module}``: ``fields`` required (≤ 50), ``per_page`` ≤ 200, ``page`` up to
  2,000 records (``DISCRETE_PAGINATION_LIMIT_EXCEEDED`` beyond), ``page_token`` (``next_page_token``)
  up to 100,000, bound to the other parameters and expiring; ``sort_by`` id|Created_Time|Modified_Time,
  ``sort_order``, ``ids``; header ``If-Modified-Since`` (inclusive); 204 when nothing matches;
- ``GET {base}/{module}/deleted?type=all|recycle|permanent`` (``page``/``more_records``, ``If-Modified-Since``);
- ``GET {base}/settings/fields?module=…`` (custom fields flagged, the deal stages' ``forecast_type`` and
  ``probability``) and ``GET {base}/users?type=AllUsers``;
- credits: a rolling daily budget (1 credit a call, 2 for deleted records, 1 per started 10 records
  written) refused with 429 ``TOO_MANY_REQUESTS`` (the body's exact wording is not confirmed);
- writes (insert, update, upsert, delete; :mod:`passerelle_sandbox.zoho_writes`) and custom fields
  (:mod:`passerelle_sandbox.zoho_fields`).
"""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, canonicalize, parse_instant
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, bearer_token, json_response
from passerelle_sandbox.dataset_time import SECOND_MS, iso_ms, parse_iso
from passerelle_sandbox.dataset_zoho import BIGIN, ZOHO_CRM, ZohoProduct, build_zoho_dataset
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.paging import numbered_page, offset_page
from passerelle_sandbox.rate_limits import Budget
from passerelle_sandbox.store import Collection, Tombstone
from passerelle_sandbox.zoho_accounts import ACCOUNTS_HOST, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, ZohoAccounts
from passerelle_sandbox.zoho_fields import FieldValues
from passerelle_sandbox.zoho_model import Record, decode_page_token, encode_page_token, render, zoho_error
from passerelle_sandbox.zoho_writes import RECORD_STAMPS, USER_STAMPS, RecordWrites, deleted_entry, record_count

SORT_KEYS = ("id", "Created_Time", "Modified_Time")


def _rules(base: str) -> list[Rule]:
    return [
        Rule("/oauth/v2/token", endpoint="token", methods=["POST"]),
        Rule(f"{base}/settings/fields", endpoint="fields", methods=["GET"]),
        Rule(f"{base}/settings/fields", endpoint="create_fields", methods=["POST"]),
        Rule(f"{base}/settings/fields/<field_id>", endpoint="field", methods=["GET"]),
        Rule(f"{base}/users", endpoint="users", methods=["GET"]),
        Rule(f"{base}/<module>/deleted", endpoint="deleted", methods=["GET"]),
        Rule(f"{base}/<module>/upsert", endpoint="upsert", methods=["POST"]),
        Rule(f"{base}/<module>", endpoint="list", methods=["GET"]),
        Rule(f"{base}/<module>", endpoint="insert", methods=["POST"]),
        Rule(f"{base}/<module>", endpoint="update_many", methods=["PUT"]),
        Rule(f"{base}/<module>", endpoint="delete_many", methods=["DELETE"]),
        Rule(f"{base}/<module>/<record_id>", endpoint="get", methods=["GET"]),
        Rule(f"{base}/<module>/<record_id>", endpoint="update_one", methods=["PUT"]),
        Rule(f"{base}/<module>/<record_id>", endpoint="delete_one", methods=["DELETE"]),
    ]

WRITE_ENDPOINTS = frozenset({"insert", "update_many", "update_one", "upsert"})


class ZohoApp(RecordWrites, FieldValues, ZohoAccounts, VendorApp):
    """One Zoho org of ``product`` (Zoho CRM or Bigin)."""

    public_endpoints = frozenset({"token"})

    def __init__(self, dataset: dict[str, Any], product: ZohoProduct = ZOHO_CRM) -> None:
        self.product = product
        self.vendor = product.name  # type: ignore[misc]
        self.url_map = Map(_rules(product.base_path), strict_slashes=False)  # type: ignore[misc]
        self._credits = Budget(lambda: int(self.config["credits_per_day"]))
        self._bulk_serial = itertools.count(1)
        super().__init__(dataset)

    def default_config(self) -> dict[str, Any]:
        return {"enforce_rate_limits": True, "credits_per_day": 50_000, "oauth_expires_in": 3600,
                "page_token_hours": 24, "max_per_page": 200, "discrete_limit": 2000, "page_token_limit": 100_000,
                "max_fields": 50, "api_user_id": None, "records_per_write_credit": 10,
                "locked_record_ids": []}

    def on_reset(self) -> None:
        self._credits.clear()
        self.write_log.clear()

    def load(self) -> None:
        name = self.product.name
        section = self.dataset[name] if name in self.dataset else build_zoho_dataset(self.dataset, self.product)
        self.offset = str(section.get("time_zone_offset", "+00:00"))
        self.seed = int(self.dataset.get("seed") or 1)
        self.field_meta: dict[str, list[Record]] = {m: [dict(f) for f in rows] for m, rows in section["fields"].items()}
        self.records: dict[str, Collection] = {}
        for module in self.control_objects():
            stamps = USER_STAMPS if module == "users" else RECORD_STAMPS
            self.records[module] = Collection(stamps, self.clock, order=int, lock=self.lock)
            self.records[module].load(_copy(r) for r in section["objects"].get(module, []))
        for module, rows in section.get("deleted", {}).items():
            for entry in rows:
                self.records[module].bury(Tombstone(
                    str(entry["id"]), {"id": entry["id"]}, canonicalize(entry["deleted_time"]), entry.get("deleted_by"),
                    {"display_name": entry.get("display_name"), "type": entry.get("type", "recycle"),
                     "created_by": entry.get("created_by")}))
        self._next_id = max((int(i) for store in self.records.values() for i in store), default=5_725_767_000_000_200_000)
        self._rng = random.Random(f"{self.seed}:{name}:sandbox")

    def public_credentials(self) -> dict[str, str]:
        return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN,
                "accounts_url": self.accounts_url()}

    def _host_is_accounts(self, call: Call) -> bool:
        return self.host_is_accounts(call)

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        if self._host_is_accounts(call):
            raise zoho_error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")
        token = bearer_token(call.request, schemes=("zoho-oauthtoken",))
        if token is None:
            if bearer_token(call.request) is not None:
                raise zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
            raise zoho_error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        state, _ = self.tokens.check(token)
        if state != "valid":
            raise zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        return {"kind": "oauth"}

    def enforce_limits(self, call: Call) -> None:
        cost = 2 if call.endpoint == "deleted" else 1
        if call.endpoint in WRITE_ENDPOINTS:
            per_credit = int(self.config["records_per_write_credit"])
            cost = max(1, -(-record_count(call.request.get_data()) // per_credit))
        if not self._credits.take(cost, enforce=self.config["enforce_rate_limits"]):
            raise zoho_error(429, "TOO_MANY_REQUESTS", "You have exceeded the maximum number of API credits "
                             "allowed in 24 hours", {"limit_type": "credits"})

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return zoho_error(429, "TOO_MANY_REQUESTS", fault.message or "You have reached the concurrency limit",
                              {"limit_type": "concurrency"}, headers).response()
        status = fault.status or 500
        return zoho_error(status, fault.error_code or "INTERNAL_ERROR",
                          fault.message or "Internal Server Error").response()

    def not_found(self, call: Call) -> Response:
        return zoho_error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return zoho_error(405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one").response()

    def internal_error(self, call: Call) -> Response:
        return zoho_error(500, "INTERNAL_ERROR", "Internal Server Error").response()

    def strip_id(self, payload: Any) -> bool:
        data = payload.get("data") if isinstance(payload, dict) else None
        for record in data if isinstance(data, list) else []:
            if isinstance(record, dict) and "id" in record:
                del record["id"]
                return True
        return False

    # ---------------------------------------------------------------------------- OAuth

    def on_token(self, call: Call) -> Response:
        scope = "ZohoBigin.modules.ALL" if self.product is BIGIN else "ZohoCRM.modules.ALL ZohoCRM.settings.fields.READ"
        answer = self.token_answer(call, scope)
        if answer is None:
            raise zoho_error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")
        return answer

    # ------------------------------------------------------------------------ metadata

    def _module(self, module: str) -> str:
        if module not in self.product.modules:
            raise zoho_error(400, "INVALID_MODULE", "the module name given seems to be invalid", {})
        return module

    def on_fields(self, call: Call) -> Response:
        module = call.request.args.get("module")
        if not module:
            raise zoho_error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                             {"param": "module"})
        with self.lock:
            rows = [dict(f) for f in self.field_meta.get(self._module(module), [])]
        return json_response({"fields": rows})

    def on_users(self, call: Call) -> Response:
        kind = call.request.args.get("type", "AllUsers")
        with self.lock:
            users = sorted(self.records["users"].values(), key=lambda u: int(u["id"]))
            if kind == "ActiveUsers":
                users = [u for u in users if u.get("status") == "active"]
            data = [render(u, self.offset) for u in users]
        page, per_page = self._page(call)
        chunk = numbered_page(data, page, per_page)
        return json_response({"users": chunk.items, "info": {"per_page": per_page, "count": len(chunk.items),
                                                             "page": page, "more_records": chunk.has_more}})

    # --------------------------------------------------------------------------- lists

    def _page(self, call: Call) -> tuple[int, int]:
        args = call.request.args
        try:
            page, per_page = int(args.get("page", "1")), int(args.get("per_page", "200"))
        except ValueError:
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "page"}) from None
        if page < 1 or not 1 <= per_page <= int(self.config["max_per_page"]):
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "per_page" if page >= 1 else "page"})
        return page, per_page

    def _since(self, call: Call) -> str | None:
        text = call.request.headers.get("If-Modified-Since")
        if not text:
            return None
        try:
            return canonical(parse_instant(text))
        except ValueError:
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "If-Modified-Since"}) from None

    def on_list(self, call: Call, module: str) -> Response:
        args = call.request.args
        module = self._module(module)
        fields_text = args.get("fields")
        if not fields_text:
            raise zoho_error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                             {"param": "fields"})
        fields = [f.strip() for f in fields_text.split(",") if f.strip()]
        if len(fields) > int(self.config["max_fields"]):
            raise zoho_error(400, "LIMIT_EXCEEDED", "fields limit exceeded", {"api_name": "fields",
                                                                              "limit": self.config["max_fields"]})
        sort_by, sort_order = args.get("sort_by", "id"), args.get("sort_order", "desc")
        if sort_by not in SORT_KEYS or sort_order not in ("asc", "desc"):
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "sort_by" if sort_by not in SORT_KEYS
                                                                   else "sort_order"})
        page, per_page = self._page(call)
        since = self._since(call)
        ids = [i for i in args.get("ids", "").split(",") if i] or None
        if ids is not None and len(ids) > 100:
            raise zoho_error(400, "LIMIT_EXCEEDED", "ids limit exceeded", {"api_name": "ids", "limit": 100})
        bound = {"module": module, "fields": fields, "sort_by": sort_by, "sort_order": sort_order,
                 "per_page": per_page, "since": since, "ids": ids}
        now = self.clock.now()
        if args.get("page_token"):
            offset = decode_page_token(args["page_token"], bound, now)
        else:
            offset = (page - 1) * per_page
            if offset >= int(self.config["discrete_limit"]):
                raise zoho_error(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED", "You can only get the first "
                                 f"{self.config['discrete_limit']} records without using page_token param",
                                 {"limit": int(self.config["discrete_limit"])})
        if offset >= int(self.config["page_token_limit"]):
            raise zoho_error(400, "PAGINATION_LIMIT_EXCEEDED", f"You can only get upto "
                             f"{self.config['page_token_limit']} records using page_token param", {})
        with self.lock:
            rows = [r for r in self.records[module].changed_since(since) if ids is None or r["id"] in ids]
            key = (lambda r: int(r["id"])) if sort_by == "id" else (lambda r: (r[sort_by], int(r["id"])))
            rows.sort(key=key, reverse=sort_order == "desc")
            chunk = offset_page(rows, offset, per_page)
            shown = [*fields, "$se_module"] if "What_Id" in fields else fields  # the lookup names its module
            data = [render(r, self.offset, shown) for r in chunk.items]
        if not data:
            return Response(status=204)
        more = chunk.has_more
        expiry = now + timedelta(hours=int(self.config["page_token_hours"]))
        info = {"call": False, "per_page": per_page, "count": len(data), "sort_by": sort_by, "sort_order": sort_order,
                "page": offset // per_page + 1, "email": False, "more_records": more,
                "next_page_token": encode_page_token(chunk.end, bound, expiry) if more else None,
                "previous_page_token": None,
                "page_token_expiry": expiry.astimezone().isoformat(timespec="seconds") if more else None}
        return json_response({"data": data, "info": info})

    def on_get(self, call: Call, module: str, record_id: str) -> Response:
        module = self._module(module)
        with self.lock:
            record = self.records[module].get(record_id)
            if record is None:
                raise zoho_error(400, "INVALID_DATA", "the related id given seems to be invalid", {"id": record_id})
            return json_response({"data": [render(record, self.offset)]})

    def on_deleted(self, call: Call, module: str) -> Response:
        module = self._module(module)
        kind = call.request.args.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "type"})
        page, per_page = self._page(call)
        since = self._since(call)
        with self.lock:
            rows = [deleted_entry(t) for t in self.records[module].deleted_since(since, reverse=True)
                    if kind == "all" or t.info["type"] == kind]
            chunk = numbered_page(rows, page, per_page)
            data = [render(d, self.offset) for d in chunk.items]
        if not data:
            return Response(status=204)
        return json_response({"data": data, "info": {"per_page": per_page, "count": len(data), "page": page,
                                                     "more_records": chunk.has_more}})

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return [*self.product.modules, "users"]

    def control_info(self) -> dict[str, Any]:
        """The usual info plus the recent API writes with the ``trigger`` each was sent with."""
        with self.lock:
            return {**super().control_info(), "writes": list(self.write_log)}

    def _record(self, obj: str, record_id: str) -> Record:
        record = self.records[obj].get(str(record_id))
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [dict(r) for r in sorted(self.records[obj].values(), key=lambda r: int(r["id"]))]

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": record_id, "record": dict(self._record(obj, record_id))}

    def _now(self) -> str:
        """Now on the sandbox clock, to the second (Zoho keeps seconds)."""
        ms = parse_iso(self.now_text())
        return iso_ms(ms - ms % SECOND_MS)

    def _new_id(self) -> str:
        self._next_id += 1 + self._rng.randrange(30)
        return str(self._next_id)

    def _set(self, record: Record, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name in ("id", "Created_Time", "Modified_Time"):
                raise ControlError(400, f"{name} is read-only")
            record[name] = _exact(value)

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now = self._now()
        record: Record = {"id": self._new_id(), "Created_Time": now, "Modified_Time": now}
        self._set(record, body.get("fields", {}))
        self.records[obj].insert(record, at=now)
        return {"id": record["id"], "record": dict(record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        """A change made in the CRM's UI: stamped by the record's owner unless ``Modified_By`` is given."""
        record = self._record(obj, record_id)
        fields = dict(body.get("fields", {}))
        who = fields.pop("Modified_By", None)
        self._set(record, fields)
        if obj != "users":
            owner = record.get("Owner")
            record["Modified_By"] = who or ({"name": owner.get("name"), "id": owner.get("id")}
                                            if isinstance(owner, dict) else record.get("Modified_By"))
        self.records[obj].touch(record["id"], by=record.get("Modified_By"))
        return {"id": record["id"], "record": dict(record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        """Move the record to the recycle bin (a user is deactivated instead)."""
        record = self._record(obj, record_id)
        now = self._now()
        if obj == "users":
            self.records[obj].update(record["id"], {"status": "disabled"}, at=now)
            return {"id": record["id"], "record": dict(record)}
        user = next(iter(self.records["users"].values()), {"full_name": None, "id": None})
        who = {"name": user["full_name"], "id": user["id"]}
        self.trash(obj, record, who)
        return {"id": record["id"], "record": dict(record)}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        live = list(self.records[obj].values())
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        created = []
        for _ in range(create):
            record = _copy(self._rng.choice(live)) if live else {}
            serial = next(self._bulk_serial)
            record.update({"id": self._new_id(), "Created_Time": now, "Modified_Time": now})
            for name in ("Account_Name", "Deal_Name", "Product_Name", "Last_Name", "Subject"):
                if isinstance(record.get(name), str):
                    record[name] = f"Sandbox Bulk {obj} {serial:07d}"
            self.records[obj].insert(record, at=now)
            created.append(record["id"])
        for record in touched:
            self._set(record, fields)
            self.records[obj].touch(record["id"], at=now)
        return {"object": obj, "stamp": now, "created": create, "touched": touch, "created_ids": created,
                "touched_ids": [r["id"] for r in touched]}


def _exact(value: Any) -> Any:
    """Control-API numbers arrive as floats only when a test chose to: keep their decimal text."""
    return Decimal(repr(value)) if isinstance(value, float) else value


def _copy(record: Record) -> Record:
    copy: Record = {}
    for key, value in record.items():
        if isinstance(value, dict):
            value = dict(value)
        elif isinstance(value, list):
            value = [dict(i) if isinstance(i, dict) else i for i in value]
        elif key in ("Created_Time", "Modified_Time", "created_time") and isinstance(value, str):
            value = canonicalize(value)
        copy[key] = value
    return copy
