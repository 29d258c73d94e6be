"""folk public API v1 emulator: people, companies, users, groups and group custom fields.

Behaviour follows ``vendor-apis-crm.md`` §7:

- auth: ``Authorization: Bearer <API key>``; anything else is a 401 with folk's error envelope;
- lists (``/v1/people``, ``/v1/companies``, ``/v1/users``, ``/v1/groups``): ``limit`` 1–100 (default
  20) and an offset-encoded ``cursor``; ``data.pagination.nextLink`` is the full URL of the next
  page, absent on the last one; records are listed in creation order;
- records carry no modification time and deletions are hard (the record is gone): a client finds
  changes and deletions only by comparing full listings;
- custom fields are defined per group (``/v1/groups/{id}/custom-fields/{person|company}``) and their
  values grouped by group id, keyed by field name; numeric fields are JSON numbers, kept exact;
- rate limit: 200 requests per minute per user (sliding window), ``X-RateLimit-Limit``/``-Remaining``/
  ``-Reset`` (epoch seconds) on every answer, 429 with ``Retry-After`` and ``details.retryAfter``.

Writes (people, companies, group objects such as deals) live in ``folk_writes``.
Not emulated: ``filter[…]`` queries, search, notes, webhooks.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, bearer_token, json_response
from passerelle_sandbox.dataset_folk import CLIENTS_GROUP, OBJECTS, PREFIX, build_folk_dataset
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.folk_model import decode_cursor, encode_cursor, folk_error
from passerelle_sandbox.folk_writes import WRITE_RULES, FolkWriteRoutes
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.rate_limits import SlidingWindow

Record = dict[str, Any]
API_KEY = "folk_live_7c1e2d9a8b6c5d4e3f2a1b0c9d8e7f6a"
ENTITY_TYPES = {"person": "people", "company": "companies"}


def _rule(path: str, endpoint: str) -> Rule:
    return Rule(path, endpoint=endpoint, methods=["GET"])


class FolkApp(FolkWriteRoutes, VendorApp):
    vendor = "folk"
    url_map = Map(
        [
            _rule("/v1/<any(people,companies,users):obj>", "list"),
            _rule("/v1/<any(people,companies,users):obj>/<record_id>", "get"),
            _rule("/v1/groups", "groups"),
            _rule("/v1/groups/<group_id>/custom-fields/<entity_type>", "custom_fields"),
            *WRITE_RULES,
        ],
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any], api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self._calls = SlidingWindow(lambda: float(self.config["window_seconds"]),
                                    lambda: int(self.config["requests_per_window"]))
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {"enforce_rate_limits": True, "requests_per_window": 200, "window_seconds": 60.0,
                "default_limit": 20, "max_limit": 100, "object_types": ["Deals"]}

    def on_reset(self) -> None:
        self._calls.clear()

    def load(self) -> None:
        section = self.dataset["folk"] if "folk" in self.dataset else build_folk_dataset(self.dataset)
        self.seed = int(self.dataset.get("seed") or 1)
        self.groups: list[Record] = [dict(g) for g in section["groups"]]
        self.field_definitions: dict[str, dict[str, list[Record]]] = {
            group: {kind: [dict(f) for f in fields] for kind, fields in by_kind.items()}
            for group, by_kind in section["custom_fields"].items()
        }
        self.records: dict[str, Collection] = {obj: self.collection() for obj in OBJECTS}
        for obj in OBJECTS:
            self.records[obj].load(_copy(r) for r in section["objects"].get(obj, []))
        self._key_revoked = False
        self._rng = random.Random(f"{self.seed}:folk:sandbox")
        self.load_writes()

    def public_credentials(self) -> dict[str, str]:
        return {"api_key": self.api_key}

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        token = bearer_token(call.request)
        if token is None:
            raise folk_error(401, "Missing API key: send it as 'Authorization: Bearer <key>'")
        if token != self.api_key or self._key_revoked:
            raise folk_error(401, "Invalid API key")
        return {"user": "usr_api"}

    def expire_tokens(self) -> None:
        super().expire_tokens()
        self._key_revoked = True

    def on_faults_cleared(self) -> None:
        self._key_revoked = False

    def enforce_limits(self, call: Call) -> None:
        if not self._calls.take(enforce=self.config["enforce_rate_limits"]):
            raise self._throttled()

    def _throttled(self, retry_after: int | None = None) -> VendorError:
        wait = retry_after if retry_after is not None else self._calls.retry_after() or 1
        headers = self._rate_headers(remaining_zero=True, reset_in=wait)
        headers["Retry-After"] = str(wait)
        return folk_error(429, "Too many requests, please retry later", headers, details={"retryAfter": wait})

    def _rate_headers(self, remaining_zero: bool = False, reset_in: int | None = None) -> dict[str, str]:
        reset_in = (self._calls.retry_after() or 1) if reset_in is None else reset_in
        return {"X-RateLimit-Limit": str(int(self.config["requests_per_window"])),
                "X-RateLimit-Remaining": "0" if remaining_zero else str(self._calls.remaining()),
                "X-RateLimit-Reset": str(math.ceil(time.time()) + reset_in)}

    def decorate(self, call: Call, response: Response) -> None:
        if call.principal is None:
            return
        for name, value in self._rate_headers().items():
            response.headers.setdefault(name, value)

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            return self._throttled(fault.retry_after if fault.retry_after is not None else 1).response()
        status = fault.status or 500
        return folk_error(status, fault.message or "Internal server error").response()

    def not_found(self, call: Call) -> Response:
        return folk_error(404, f"Route {call.request.method} {call.path} not found").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return folk_error(405, f"{call.request.method} not allowed; allowed: {', '.join(allowed)}").response()

    def internal_error(self, call: Call) -> Response:
        return folk_error(500, "Internal server error").response()

    def strip_id(self, payload: Any) -> bool:
        data = payload.get("data") if isinstance(payload, dict) else None
        items = data.get("items") if isinstance(data, dict) else None
        for record in items if isinstance(items, list) else []:
            if isinstance(record, dict) and "id" in record:
                del record["id"]
                return True
        return False

    # --------------------------------------------------------------------------- handlers

    def _limit(self, call: Call) -> int:
        text = call.request.args.get("limit")
        if text is None or text == "":
            return int(self.config["default_limit"])
        if not text.isdigit() or not 1 <= int(text) <= int(self.config["max_limit"]):
            raise folk_error(400, f"limit must be an integer between 1 and {self.config['max_limit']}",
                             details={"limit": text})
        return int(text)

    def _page(self, call: Call, rows: list[Record]) -> Response:
        limit = self._limit(call)
        cursor = call.request.args.get("cursor")
        page = offset_page(rows, decode_cursor(cursor) if cursor else 0, limit)
        pagination: Record = {}
        if page.has_more:
            pagination["nextLink"] = (f"{self.base_url}{call.path}?limit={limit}"
                                      f"&cursor={quote(encode_cursor(page.end), safe='')}")
        return json_response({"data": {"items": page.items, "pagination": pagination}, "deprecations": []})

    def on_list(self, call: Call, obj: str) -> Response:
        with self.lock:
            rows = [_copy(r) for r in self.records[obj].values()]
        return self._page(call, rows)

    def on_get(self, call: Call, obj: str, record_id: str) -> Response:
        with self.lock:
            record = self.records[obj].get(record_id)
            if record is None:
                raise folk_error(404, f"{obj[:-1] if obj != 'people' else 'person'} {record_id} not found")
            return json_response({"data": _copy(record), "deprecations": []})

    def on_groups(self, call: Call) -> Response:
        with self.lock:
            rows = [dict(g) for g in self.groups]
        return self._page(call, rows)

    def on_custom_fields(self, call: Call, group_id: str, entity_type: str) -> Response:
        if entity_type not in ENTITY_TYPES:
            raise folk_error(400, "entityType must be one of person, company", details={"entityType": entity_type})
        with self.lock:
            if group_id not in self.field_definitions:
                raise folk_error(404, f"group {group_id} not found")
            rows = [dict(f) for f in self.field_definitions[group_id].get(entity_type, [])]
        return self._page(call, rows)

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _record(self, obj: str, record_id: str) -> Record:
        record = self.records[obj].get(record_id)
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [_copy(r) for r in self.records[obj].values()]

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": record_id, "record": _copy(self._record(obj, record_id))}

    def _clients_group(self) -> Record:
        return next((g for g in self.groups if g["name"] == CLIENTS_GROUP), self.groups[0])

    def _set_fields(self, record: Record, fields: dict[str, Any]) -> None:
        """Custom field values given by name land in the Clients group (the record joins it)."""
        for name, value in fields.items():
            if name in ("id", "createdAt", "createdBy"):
                raise ControlError(400, f"{name} is read-only")
            if name == "customFieldValues":
                if not isinstance(value, dict):
                    raise ControlError(400, "customFieldValues must be an object of field name → value")
                group = self._clients_group()
                if not any(g.get("id") == group["id"] for g in record.setdefault("groups", [])):
                    record["groups"].append(dict(group))
                record.setdefault("customFieldValues", {}).setdefault(group["id"], {}).update(
                    {k: _exact(v) for k, v in value.items()})
            else:
                record[name] = _exact(value)

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        record_id = f"{PREFIX[obj]}_{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        record: Record = {"id": record_id}
        if obj != "users":
            record.update({"createdAt": self.now_text(), "groups": [], "customFieldValues": {}, "emails": [],
                           "phones": [], "urls": [], "addresses": [], "description": ""})
        self._set_fields(record, body.get("fields", {}))
        self.records[obj].insert(record)
        return {"id": record_id, "record": _copy(record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._record(obj, record_id)
        self._set_fields(record, body.get("fields", {}))
        return {"id": record_id, "record": _copy(record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        """folk deletes for good: the record disappears from every listing and read."""
        record = self.records[obj].purge(self._record(obj, record_id)["id"])
        return {"id": record_id, "record": _copy(record)}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        live = list(self.records[obj].values())
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        created = []
        for serial in range(create):
            template = _copy(self._rng.choice(live)) if live else {}
            template["id"] = f"{PREFIX[obj]}_{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
            for name in ("name", "fullName"):
                if name in template:
                    template[name] = f"Sandbox Bulk {obj} {len(self.records[obj]) + 1:07d}"
            if "createdAt" in template:
                template["createdAt"] = self.now_text()
            self.records[obj].insert(template)
            created.append(template["id"])
        now = self.now_text()
        for record in touched:  # without a modification time, a touch must change content to be seen
            self._set_fields(record, fields or {"description": f"Touched at {now}"})
        return {"object": obj, "created": create, "touched": touch, "created_ids": created,
                "touched_ids": [r["id"] for r in touched]}


def _exact(value: Any) -> Any:
    """Control-API numbers arrive as floats only when a test chose to: keep their decimal text."""
    return Decimal(repr(value)) if isinstance(value, float) else value


def _copy(record: Record) -> Record:
    """A deep copy of a record's JSON shape (dicts and lists), values shared."""
    if isinstance(record, dict):
        return {k: _copy(v) for k, v in record.items()}  # type: ignore[return-value]
    if isinstance(record, list):
        return [_copy(v) for v in record]  # type: ignore[return-value]
    return record
