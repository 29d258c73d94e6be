"""Pipedrive API emulator: v2 lists (cursor paging, ``updated_since``), v1 users, fields, recents, OAuth.

Behaviour follows ``vendor-apis-crm.md`` §5:

- auth: the company API token in the ``x-api-token`` header or the ``api_token`` query parameter, or an
  OAuth bearer token from ``POST /oauth/token`` (``refresh_token`` grant, client credentials in the form
  or HTTP Basic) whose answer carries ``api_domain``; anything else is a 401 with Pipedrive's error body;
- v2 lists (``/api/v2/organizations|persons|deals|products``): ``updated_since`` (inclusive) and
  ``updated_until`` (exclusive) in RFC 3339, ``sort_by`` id|update_time|add_time, ``sort_direction``,
  ``limit`` ≤ 500 and an opaque ``cursor`` (``additional_data.next_cursor``, null on the last page);
  deleted records are hidden, except deals under ``status=deleted`` for 30 days;
- deal products: ``/api/v2/deals/{id}/products`` and ``/api/v2/deals/products?deal_ids=…`` (≤ 100 ids);
  changing a deal's products re-stamps the deal, whose value follows its products;
- v1: ``/v1/users``, ``/v1/<entity>Fields`` (custom fields keyed by 40-hex hashes), ``/v1/recents``
  (changes since ``since_timestamp``, one month back at most, oldest first, deleted items as
  ``data: null``) and the v1 lists the vendor's SDK reads, with ``start``/``limit`` paging;
- rate limits: a 2-second burst window and a daily token budget (each call costs tokens), reported in
  ``x-ratelimit-limit``/``-remaining``/``-reset`` and ``x-daily-ratelimit-token-limit``/``-remaining``
  (the daily header names are not confirmed) and refused with 429; writes cost more than reads.

Creates, updates, deletes, deal products and custom-field definitions live in ``pipedrive_writes``,
notes and activities in ``pipedrive_activities``.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, canonicalize, parse_instant
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, bearer_token, json_response
from passerelle_sandbox.dataset_pipedrive import build_pipedrive_dataset, field_key, stamp
from passerelle_sandbox.dataset_time import parse_iso
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.oauth import TokenRequest
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.pipedrive_model import (
    ENTITY,
    OBJECTS,
    Record,
    decode_cursor,
    encode_cursor,
    int_list,
    pd_error,
    render_v1,
    render_v2,
    v1_time,
)
from passerelle_sandbox.pipedrive_writes import WRITE_RULES, PipedriveWriteRoutes
from passerelle_sandbox.rate_limits import Budget, SlidingWindow, take_together
from passerelle_sandbox.store import Collection, Stamps

API_TOKEN = "4f7c1e2d9a8b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
CLIENT_ID = "b1c2d3e4f5a6b7c8"
CLIENT_SECRET = "9f8e7d6c5b4a39281f0e9d8c7b6a5f4e3d2c1b0a"
REFRESH_TOKEN = "13572468:11200001:7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
V2_LISTS = ("organizations", "persons", "deals", "products")
RECENT_ITEMS = {"organization": "organizations", "person": "persons", "deal": "deals", "product": "products",
                "user": "users"}
DEAL_STATUSES = ("open", "won", "lost", "deleted")
RECORD_STAMPS = Stamps(modified="update_time", deleted_flag="is_deleted", precision_ms=1000)
"""A deleted record stays readable (``is_deleted``, deals listed under ``status=deleted``) for a while."""
USER_STAMPS = Stamps(modified="modified", precision_ms=1000)


@dataclass(frozen=True)
class PipedriveCredentials:
    api_token: str = API_TOKEN
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    refresh_token: str = REFRESH_TOKEN

    def as_dict(self) -> dict[str, str]:
        return {"api_token": self.api_token, "client_id": self.client_id, "client_secret": self.client_secret,
                "refresh_token": self.refresh_token}


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


def _v1_rules(prefix: str) -> list[Rule]:
    return [
        _rule(f"{prefix}/users", "v1_users"),
        _rule(f"{prefix}/users/<int:record_id>", "v1_user"),
        _rule(f"{prefix}/recents", "recents"),
        _rule(f"{prefix}/<any(organization,person,deal,product):entity>Fields", "fields"),
        _rule(f"{prefix}/deals/<int:deal_id>/products", "v1_deal_products"),
        _rule(f"{prefix}/<any(organizations,persons,deals,products):obj>", "v1_list"),
        _rule(f"{prefix}/<any(organizations,persons,deals,products):obj>/<int:record_id>", "v1_get"),
    ]


class PipedriveApp(PipedriveWriteRoutes, VendorApp):
    vendor = "pipedrive"
    public_endpoints = frozenset({"token"})
    url_map = Map(
        [
            _rule("/oauth/token", "token", ("POST",)),
            _rule("/api/v2/deals/products", "v2_deals_products"),
            _rule("/api/v2/deals/<int:deal_id>/products", "v2_deal_products"),
            _rule("/api/v2/<any(organizations,persons,deals,products):obj>", "v2_list"),
            _rule("/api/v2/<any(organizations,persons,deals,products):obj>/<int:record_id>", "v2_get"),
            *_v1_rules("/api/v1"),
            *_v1_rules("/v1"),
            *WRITE_RULES,
        ],
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any], credentials: PipedriveCredentials | None = None) -> None:
        self.pd_credentials = credentials or PipedriveCredentials()
        self._burst = SlidingWindow(lambda: float(self.config["burst_window_seconds"]),
                                    lambda: int(self.config["burst_limit"]))
        self._daily_tokens = Budget(lambda: int(self.config["daily_token_budget"]))
        self._bulk_serial = itertools.count(1)
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {
            "enforce_rate_limits": True,
            "burst_limit": 80,
            "burst_window_seconds": 2.0,
            "daily_token_budget": 1_000_000,
            "cost_v2_list": 10,
            "cost_v1_list": 20,
            "cost_get": 2,
            "cost_write": 10,
            "cost_delete": 6,
            "oauth_expires_in": 3599,
            "list_max_limit": 500,
            "deleted_deals_days": 30,
            "recents_max_days": 30,
        }

    def on_reset(self) -> None:
        self._burst.clear()
        self._daily_tokens.clear()

    def load(self) -> None:
        section = self.dataset["pipedrive"] if "pipedrive" in self.dataset else build_pipedrive_dataset(self.dataset)
        self.section = section
        self.seed = int(self.dataset.get("seed") or 1)
        self.fields: dict[str, list[Record]] = {e: [dict(f) for f in rows] for e, rows in section["fields"].items()}
        self.records: dict[str, Collection] = {}
        for obj in OBJECTS:
            stamps = USER_STAMPS if obj == "users" else RECORD_STAMPS
            self.records[obj] = Collection(stamps, self.clock, order=int, id_of=int, lock=self.lock)
            self.records[obj].load(_copy(r) for r in section["objects"].get(obj, []))
        self._next_id = {obj: max(store, default=0) for obj, store in self.records.items()}
        self._token_revoked = False
        self._rng = random.Random(f"{self.seed}:pipedrive:sandbox")
        self.load_writes()

    def public_credentials(self) -> dict[str, str]:
        return self.pd_credentials.as_dict()

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        request = call.request
        api_token = request.headers.get("x-api-token") or request.args.get("api_token")
        if api_token:
            if api_token == self.pd_credentials.api_token and not self._token_revoked:
                return {"kind": "api_token"}
            raise pd_error(401, "unauthorized access")
        token = bearer_token(request)
        if token:
            state, _ = self.tokens.check(token)
            if state == "valid":
                return {"kind": "oauth"}
            raise pd_error(401, "Unauthorized", error_info="The access token is expired or invalid.")
        raise pd_error(401, "unauthorized access")

    def expire_tokens(self) -> None:
        super().expire_tokens()
        self._token_revoked = True

    def on_faults_cleared(self) -> None:
        self._token_revoked = False

    def _cost(self, endpoint: str, method: str = "GET") -> int:
        if method in ("POST", "PUT", "PATCH"):
            return int(self.config["cost_write"])
        if method == "DELETE":
            return int(self.config["cost_delete"])
        if endpoint in ("v2_get", "v1_user", "v1_get"):
            return int(self.config["cost_get"])
        if endpoint.startswith("v2_"):
            return int(self.config["cost_v2_list"])
        return int(self.config["cost_v1_list"])

    def enforce_limits(self, call: Call) -> None:
        cost = self._cost(call.endpoint, call.request.method)
        refused = take_together([("daily", self._daily_tokens, cost), ("burst", self._burst, 1)],
                                enforce=self.config["enforce_rate_limits"])
        if refused is not None:
            raise self._throttled(refused)

    def _throttled(self, kind: str, reset: int | None = None) -> VendorError:
        headers = self._rate_headers(remaining_zero=kind == "burst", daily_zero=kind == "daily")
        if reset is not None:
            headers["x-ratelimit-reset"] = str(reset)
        message = "Daily API token budget exceeded" if kind == "daily" else "Request over limit"
        return pd_error(429, message, headers)

    def _rate_headers(self, remaining_zero: bool = False, daily_zero: bool = False) -> dict[str, str]:
        reset = self._burst.retry_after() or math.ceil(self._burst.seconds)
        return {
            "x-ratelimit-limit": str(int(self.config["burst_limit"])),
            "x-ratelimit-remaining": "0" if remaining_zero else str(self._burst.remaining()),
            "x-ratelimit-reset": str(reset),
            "x-daily-ratelimit-token-limit": str(int(self.config["daily_token_budget"])),
            "x-daily-ratelimit-token-remaining": "0" if daily_zero else str(self._daily_tokens.remaining()),
        }

    def decorate(self, call: Call, response: Response) -> None:
        if call.principal is None:
            return
        for name, value in self._rate_headers().items():
            response.headers.setdefault(name, value)

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            error = self._throttled("burst", reset=fault.retry_after)
            if fault.message:
                error.body["error"] = fault.message
            return error.response()
        status = fault.status or 500
        message = fault.message or {500: "Internal server error", 502: "Bad Gateway", 503: "Service Unavailable",
                                    504: "Gateway Timeout"}.get(status, f"HTTP {status}")
        return pd_error(status, message).response()

    def not_found(self, call: Call) -> Response:
        return pd_error(404, "Unknown method .").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return pd_error(405, f"{call.request.method} not allowed; allowed: {', '.join(allowed)}").response()

    def internal_error(self, call: Call) -> Response:
        return pd_error(500, "Internal server error").response()

    def strip_id(self, payload: Any) -> bool:
        data = payload.get("data") if isinstance(payload, dict) else None
        for record in data if isinstance(data, list) else []:
            if isinstance(record, dict) and "id" in record:
                del record["id"]
                return True
        return False

    # ---------------------------------------------------------------------------- OAuth

    def on_token(self, call: Call) -> Response:
        request, creds = TokenRequest.read(call.request), self.pd_credentials
        if not request.client_is(creds.client_id, creds.client_secret):
            raise VendorError(401, {"success": False, "error": "invalid_client",
                                    "error_description": "Invalid client credentials"})
        if request.grant_type != "refresh_token":
            raise VendorError(400, {"error": "unsupported_grant_type",
                                    "error_description": "grant_type must be refresh_token"})
        if request.get("refresh_token") != creds.refresh_token:
            raise VendorError(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
        expires_in = int(self.config["oauth_expires_in"])
        access = self.tokens.issue("v1:", ttl=expires_in, nbytes=48)
        return json_response({
            "access_token": access, "token_type": "Bearer", "refresh_token": creds.refresh_token,
            "scope": "base,deals:read,contacts:read,products:read,users:read,recents:read",
            "expires_in": expires_in, "api_domain": self.base_url,
        })

    # ------------------------------------------------------------------------------ v2

    def _limit(self, call: Call, default: int = 100) -> int:
        text = call.request.args.get("limit")
        if text is None:
            return default
        if not text.isdigit() or int(text) < 1:
            raise pd_error(400, "limit must be a positive integer")
        if int(text) > int(self.config["list_max_limit"]):
            raise pd_error(400, f"limit must not exceed {self.config['list_max_limit']}")
        return int(text)

    def _instant(self, call: Call, name: str) -> str | None:
        text = call.request.args.get(name)
        if text is None or text == "":
            return None
        try:
            return canonical(parse_instant(text))
        except ValueError:
            raise pd_error(400, f"{name} must be an RFC 3339 date-time") from None

    def _deal_status_filter(self, call: Call) -> tuple[str, ...]:
        text = call.request.args.get("status")
        if not text:
            return ("open", "won", "lost")
        statuses = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = [s for s in statuses if s not in DEAL_STATUSES]
        if unknown:
            raise pd_error(400, f"status must be among {', '.join(DEAL_STATUSES)}")
        return statuses

    def _visible(self, obj: str, record: Record, statuses: tuple[str, ...]) -> bool:
        if obj != "deals":
            return not record.get("is_deleted")
        if record.get("is_deleted"):
            horizon = canonical(self.clock.now() - timedelta(days=int(self.config["deleted_deals_days"])))
            return "deleted" in statuses and record["update_time"] >= horizon
        return record.get("status") in statuses

    def on_v2_list(self, call: Call, obj: str) -> Response:
        args = call.request.args
        limit = self._limit(call)
        since, until = self._instant(call, "updated_since"), self._instant(call, "updated_until")
        sort_by = args.get("sort_by", "id")
        if sort_by not in ("id", "update_time", "add_time"):
            raise pd_error(400, "sort_by must be one of id, update_time, add_time")
        direction = args.get("sort_direction", "asc")
        if direction not in ("asc", "desc"):
            raise pd_error(400, "sort_direction must be asc or desc")
        statuses = self._deal_status_filter(call) if obj == "deals" else ()
        ids = int_list(args.get("ids"), "ids")
        filters = {name: int(args[name]) for name in ("owner_id", "org_id", "person_id", "pipeline_id", "stage_id")
                   if args.get(name, "").isdigit()}
        wanted = args.get("custom_fields")
        after = decode_cursor(args["cursor"]) if args.get("cursor") else None
        with self.lock:
            rows = [
                r for r in self.records[obj].changed_between(since, until)
                if self._visible(obj, r, statuses)
                and (ids is None or r["id"] in ids)
                and all(r.get(name) == value for name, value in filters.items())
            ]
            key = (lambda r: (0, r["id"])) if sort_by == "id" else (lambda r: (r[sort_by], r["id"]))
            rows.sort(key=key, reverse=direction == "desc")
            if after is not None:
                mark = (0, after[1]) if sort_by == "id" else (after[0], after[1])
                rows = [r for r in rows if (key(r) > mark if direction == "asc" else key(r) < mark)]
            page = rows[:limit]
            data = [self._v2(obj, r, wanted) for r in page]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor(None if sort_by == "id" else last[sort_by], last["id"])
        return json_response({"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}})

    def _v2(self, obj: str, record: Record, wanted_fields: str | None = None) -> Record:
        out = render_v2(record)
        if wanted_fields is not None and "custom_fields" in out:
            keys = [k for k in wanted_fields.split(",") if k]
            if len(keys) > 15:
                raise pd_error(400, "custom_fields accepts at most 15 keys")
            out["custom_fields"] = {k: v for k, v in out["custom_fields"].items() if k in keys}
        return out

    def on_v2_get(self, call: Call, obj: str, record_id: int) -> Response:
        """A single record, deleted ones included (flagged ``is_deleted``) while the vendor keeps them."""
        with self.lock:
            record = self.records[obj].get(record_id)
            if record is None:
                raise pd_error(404, f"{ENTITY[obj].capitalize()} not found")
            return json_response({"success": True, "data": self._v2(obj, record)})

    def _deal_products(self, deal_ids: list[int]) -> list[Record]:
        wanted = set(deal_ids)
        return sorted((r for r in self.records["deal_products"].values()
                       if r["deal_id"] in wanted and not r.get("is_deleted")), key=lambda r: r["id"])

    def on_v2_deal_products(self, call: Call, deal_id: int) -> Response:
        return self._paged_products(call, [deal_id], check_deal=deal_id)

    def on_v2_deals_products(self, call: Call) -> Response:
        deal_ids = int_list(call.request.args.get("deal_ids"), "deal_ids")
        if not deal_ids:
            raise pd_error(400, "deal_ids is required")
        return self._paged_products(call, deal_ids)

    def _paged_products(self, call: Call, deal_ids: list[int], check_deal: int | None = None) -> Response:
        limit = self._limit(call)
        after = decode_cursor(call.request.args["cursor"]) if call.request.args.get("cursor") else None
        with self.lock:
            if check_deal is not None:
                deal = self.records["deals"].get(check_deal)
                if deal is None or deal.get("is_deleted"):
                    raise pd_error(404, "Deal not found")
            rows = self._deal_products(deal_ids)
            if after is not None:
                rows = [r for r in rows if r["id"] > after[1]]
            page = rows[:limit]
            data = [render_v2(r) for r in page]
        next_cursor = encode_cursor(None, page[-1]["id"]) if len(rows) > limit else None
        return json_response({"success": True, "data": data, "additional_data": {"next_cursor": next_cursor}})

    # ------------------------------------------------------------------------------ v1

    def _v1_page(self, call: Call, rows: list[Record], extra: Record | None = None) -> Response:
        args = call.request.args
        start_text = args.get("start", "0")
        if not start_text.isdigit():
            raise pd_error(400, "start must be a non-negative integer")
        start, limit = int(start_text), self._limit(call)
        page = offset_page(rows, start, limit)
        pagination: Record = {"start": start, "limit": limit, "more_items_in_collection": page.has_more}
        if page.has_more:
            pagination["next_start"] = page.end
        return json_response({"success": True, "data": page.items or None,
                              "additional_data": {**(extra or {}), "pagination": pagination}})

    def on_v1_users(self, call: Call) -> Response:
        with self.lock:
            users = [render_v1("users", u) for u in sorted(self.records["users"].values(), key=lambda u: u["id"])]
        return json_response({"success": True, "data": users})

    def on_v1_user(self, call: Call, record_id: int) -> Response:
        with self.lock:
            user = self.records["users"].get(record_id)
            if user is None:
                raise pd_error(404, "User not found")
            return json_response({"success": True, "data": render_v1("users", user)})

    def on_fields(self, call: Call, entity: str) -> Response:
        with self.lock:
            rows = [dict(f) for f in self.fields.get(entity, [])]
        return self._v1_page(call, rows)

    def on_v1_list(self, call: Call, obj: str) -> Response:
        with self.lock:
            rows = [render_v1(obj, r) for r in sorted(self.records[obj].values(), key=lambda r: r["id"])
                    if not r.get("is_deleted")]
        return self._v1_page(call, rows)

    def on_v1_get(self, call: Call, obj: str, record_id: int) -> Response:
        with self.lock:
            record = self.records[obj].get(record_id)
            if record is None:
                raise pd_error(404, f"{ENTITY[obj].capitalize()} not found")
            return json_response({"success": True, "data": render_v1(obj, record)})

    def on_v1_deal_products(self, call: Call, deal_id: int) -> Response:
        with self.lock:
            if deal_id not in self.records["deals"]:
                raise pd_error(404, "Deal not found")
            rows = [render_v1("deal_products", r) for r in self._deal_products([deal_id])]
        return self._v1_page(call, rows)

    def on_recents(self, call: Call) -> Response:
        """Changed items since ``since_timestamp`` (inclusive), oldest first; a deleted item's ``data`` is null."""
        args = call.request.args
        text = args.get("since_timestamp")
        if not text:
            raise pd_error(400, "since_timestamp is required")
        try:
            since = canonical(parse_instant(text))
        except ValueError:
            raise pd_error(400, "since_timestamp must be YYYY-MM-DD HH:MM:SS") from None
        horizon = canonical(self.clock.now() - timedelta(days=int(self.config["recents_max_days"])))
        since = max(since, horizon)
        items = [i.strip() for i in args.get("items", ",".join(RECENT_ITEMS)).split(",") if i.strip()]
        unknown = [i for i in items if i not in RECENT_ITEMS]
        if unknown:
            raise pd_error(400, f"unknown items: {', '.join(unknown)}")
        with self.lock:
            changes = []
            for item in items:
                obj = RECENT_ITEMS[item]
                for record in self.records[obj].changed_since(since):
                    moment = record.get("modified" if obj == "users" else "update_time")
                    if moment and moment >= since:
                        changes.append((moment, item, record["id"], record))
            changes.sort(key=lambda c: c[:3])
            rows = [{"item": item, "id": record_id,
                     "data": None if record.get("is_deleted") else render_v1(RECENT_ITEMS[item], record)}
                    for _, item, record_id, record in changes]
        start = int(args.get("start", "0")) if args.get("start", "0").isdigit() else 0
        last = changes[min(len(changes), start + self._limit(call)) - 1][0] if changes[start:] else since
        return self._v1_page(call, rows, {"since_timestamp": v1_time(since), "last_timestamp_on_page": v1_time(last)})

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _control_record(self, obj: str, record_id: str) -> Record:
        record = self.records[obj].get(int(record_id)) if str(record_id).isdigit() else None
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return record

    def _modified_key(self, obj: str) -> str:
        return "modified" if obj == "users" else "update_time"

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [render_v2(r) for r in sorted(self.records[obj].values(), key=lambda r: r["id"])
                if include_deleted or not r.get("is_deleted")]

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": int(record_id), "record": render_v2(self._control_record(obj, record_id))}

    def _set_fields(self, obj: str, record: Record, fields: dict[str, Any]) -> None:
        entity = ENTITY.get(obj)
        for name, value in fields.items():
            if name in ("id", "add_time", "update_time", "created", "modified"):
                raise ControlError(400, f"{name} is read-only")
            if name == "custom_fields":
                if not isinstance(value, dict) or entity is None:
                    raise ControlError(400, "custom_fields must be an object (organizations, persons, deals, products)")
                record.setdefault("custom_fields", {}).update(
                    {self._custom_key(entity, key): v for key, v in value.items()})
            else:
                record[name] = _exact(value)

    def _custom_key(self, entity: str, name: str) -> str:
        for definition in self.fields.get(entity, []):
            if name in (definition["key"], definition["name"]):
                return str(definition["key"])
        key = field_key(self.seed, entity, name)
        self.fields.setdefault(entity, []).append({
            "id": 9900 + len(self.fields[entity]), "key": key, "name": name, "field_type": "varchar",
            "edit_flag": True, "active_flag": True,
        })
        return key

    def _stamp(self, obj: str, record: Record, now: str) -> None:
        self.records[obj].touch(record["id"], at=now)
        if obj == "deal_products":
            self._restamp_deal(record["deal_id"], now)

    def _restamp_deal(self, deal_id: int, now: str) -> None:
        """A deal's value follows its products, so changing them changes the deal."""
        deal = self.records["deals"].get(deal_id)
        if deal is None or deal.get("is_deleted"):
            return
        value = sum((Decimal(str(p["sum"])) for p in self._deal_products([deal_id])), Decimal("0.00"))
        self.records["deals"].update(deal_id, {"value": value}, at=now)

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now = self._now()
        self._next_id[obj] += 1
        record_id = self._next_id[obj]
        record: Record = {"id": record_id}
        if obj == "users":
            record.update({"name": None, "email": None, "active_flag": True, "created": now, "modified": now})
        else:
            record.update({"add_time": now, "update_time": now, "is_deleted": False})
            if obj in ENTITY:
                record["custom_fields"] = {}
            if obj == "deals":
                record.update({"status": "open", "value": Decimal("0"), "currency": "EUR", "pipeline_id": 1,
                               "stage_id": 1})
            if obj == "deal_products":
                record.update({"discount": Decimal("0"), "discount_type": "percentage", "tax_method": "exclusive",
                               "is_enabled": True})
        self._set_fields(obj, record, body.get("fields", {}))
        if obj == "deal_products" and record.get("deal_id") not in self.records["deals"]:
            raise ControlError(400, f"deal_products needs the id of an existing deal, got {record.get('deal_id')!r}")
        self.records[obj].insert(record, at=now)
        if obj == "deal_products":
            self._restamp_deal(record["deal_id"], now)
        return {"id": record_id, "record": render_v2(record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._control_record(obj, record_id)
        if record.get("is_deleted"):
            raise ControlError(404, f"{obj} {record_id} is deleted")
        self._set_fields(obj, record, body.get("fields", {}))
        self._stamp(obj, record, self._now())
        return {"id": record["id"], "record": render_v2(record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        """Delete as Pipedrive does: deals and the rest are flagged deleted (kept 30 days); a deal
        product is detached from its deal; a user is deactivated."""
        record = self._control_record(obj, record_id)
        now = self._now()
        if obj == "users":
            self.records[obj].update(record["id"], {"active_flag": False}, at=now)
        elif obj == "deal_products":
            self.records[obj].purge(record["id"])
            self._restamp_deal(record["deal_id"], now)
        else:
            if record.get("is_deleted"):
                raise ControlError(404, f"{obj} {record_id} is already deleted")
            self.records[obj].delete(record["id"], at=now)
            record["delete_time"] = now
            if obj == "deals":
                record["status"] = "deleted"
        return {"id": record["id"], "record": render_v2(record)}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        live = [r for r in self.records[obj].values() if not r.get("is_deleted")]
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        created = []
        for _ in range(create):
            template = dict(self._rng.choice(live)) if live else {}
            self._next_id[obj] += 1
            serial = next(self._bulk_serial)
            template.update({"id": self._next_id[obj], self._modified_key(obj): now})
            if obj != "users":
                template["add_time"] = now
            for name in ("name", "title"):
                if name in template:
                    template[name] = f"Sandbox Bulk {obj} {serial:07d}"
            self.records[obj].insert(_copy(template), at=now)
            created.append(template["id"])
        for record in touched:
            self._set_fields(obj, record, fields)
            self._stamp(obj, record, now)
        return {"object": obj, "stamp": now, "created": create, "touched": touch,
                "created_ids": created, "touched_ids": [r["id"] for r in touched]}

    def _now(self) -> str:
        """Now on the sandbox clock, to the second (Pipedrive keeps seconds)."""
        return stamp(parse_iso(self.now_text()))


def _exact(value: Any) -> Any:
    """Control-API numbers arrive as floats only when a test chose to: keep their decimal text."""
    return Decimal(repr(value)) if isinstance(value, float) else value


def _copy(record: Record) -> Record:
    copy = {k: (dict(v) if isinstance(v, dict) else [dict(i) if isinstance(i, dict) else i for i in v]
                if isinstance(v, list) else v) for k, v in record.items()}
    for name in ("add_time", "update_time", "created", "modified", "last_login"):
        if isinstance(copy.get(name), str):
            copy[name] = canonicalize(copy[name])
    return copy
