"""HubSpot CRM API emulator: objects list/read/search, properties, owners, v4 associations, OAuth.

Object writes live in ``hubspot_writes``, unique-value properties and ``idProperty`` upserts in
``hubspot_unique``, v4 single-record associations in ``hubspot_links``.

Behaviour follows ``vendor-apis-crm.md`` §2: private-app (``pat-…``) or OAuth bearer tokens;
list pages of at most 100 with ``paging.next.after`` only when more remain; search with OR-ed
filter groups, one sort, pages of at most 200 and a hard window of 10,000 results (a request
reaching past it is a 400); archived records hidden from search and default lists, listed with
``archivedAt`` under ``archived=true``, and archiving never touches ``hs_lastmodifieddate``;
every property value a string; ``X-HubSpot-RateLimit-*`` headers and 429s with ``policyName``
from a real rolling-window limiter (190 per 10 s, search 5 per second by default).

Deal pipelines (``/crm/v3/pipelines/deals``, one pipeline, its stages) come from the dataset, stage
metadata as strings (``{"isClosed": "true", "probability": "1.0"}``). Every portal also has tickets and
notes (``/crm/v3/objects/tickets|notes``, associated with deals and with each other) and the default ticket
pipeline ``0`` whose stages carry ``{"ticketState": "OPEN"|"CLOSED"}``.

A request target (path and query) longer than ``max_url_bytes`` (16,384) is refused at the edge with
``414`` and an HTML page, before authentication: HubSpot's API sits behind Cloudflare, whose URL limit is
16 KB (connector authors measured ~16,300 characters; a ``properties=`` list of a few hundred custom
properties exceeds it).
"""

from __future__ import annotations

import bisect
import copy
import itertools
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from passerelle_sandbox.clock import canonical, canonicalize, is_canonical
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, correlation_id, json_response
from passerelle_sandbox.dataset_hubspot import deal_pipelines, ticket_pipelines
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.hubspot_model import (
    ALIASES,
    ASSOCIATION_TYPE_IDS,
    DEFAULT_PROPERTIES,
    ENGAGEMENT_PROPERTIES,
    PropertyDef,
    infer_properties,
    infer_property,
    modified_property,
    to_property_string,
    type_label,
)
from passerelle_sandbox.hubspot_errors import hs_error
from passerelle_sandbox.hubspot_index import SearchIndex, plan_search
from passerelle_sandbox.hubspot_links import RecordLinks
from passerelle_sandbox.hubspot_search import SearchError, SearchLimits, naive_search, parse_search
from passerelle_sandbox.hubspot_unique import UniqueWrites
from passerelle_sandbox.hubspot_writes import ObjectWrites
from passerelle_sandbox.hubspot_properties import PropertyWrites
from passerelle_sandbox.ids import NumericIdSequence
from passerelle_sandbox.oauth import TokenRequest
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.rate_limits import Budget, SlidingWindow, take_together
from passerelle_sandbox.store import Collection, Stamps

log = logging.getLogger(__name__)

Record = dict[str, Any]
OWNERS = "owners"
ASSOCIATION_PAGE = 500
ASSOCIATION_INPUTS = 1000
PRIVATE_APP_TOKEN = "pat-eu1-3f1c2e5a-8b7d-4c9e-a1f0-5d6b7c8e9f01"
CLIENT_ID = "5a9d1f3c-2b4e-4f6a-8c7d-9e0f1a2b3c4d"
CLIENT_SECRET = "8e7d6c5b-4a39-4281-9f0e-d1c2b3a4f5e6"
REFRESH_TOKEN = "eu1-7b2c-4d9e-4f10-a3b5-c6d7e8f90a1b"
POLICIES = {  # the limit a call does not fit → (policyName, label, groupName prefix)
    "daily": ("DAILY", "daily", "publicapi:api-calls-daily"),
    "search": ("SECONDLY", "secondly", "publicapi:crm-search-secondly"),
    "burst": ("TEN_SECONDLY_ROLLING", "ten_secondly_rolling", "publicapi:private-app-api-calls-ten-secondly"),
}
OWNER_STAMPS = Stamps(modified="updatedAt", deleted_flag="archived", deleted_at="archivedAt", delete_touches=False)
URI_TOO_LONG_PAGE = (b"<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
                     b"<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
                     b"</body>\r\n</html>\r\n")


@dataclass(frozen=True)
class HubSpotCredentials:
    private_app_token: str = PRIVATE_APP_TOKEN
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    refresh_token: str = REFRESH_TOKEN

    def as_dict(self) -> dict[str, str]:
        return {
            "private_app_token": self.private_app_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


def object_stamps(object_type: str) -> Stamps:
    """Where a CRM object shows its stamps: the modification property, mirrored by ``updatedAt`` (and by
    ``hs_lastmodifieddate`` on a record that has it besides its own); archived in place, its
    ``archivedAt`` set and its modification date left alone."""
    modified = f"properties.{modified_property(object_type)}"
    mirrors = tuple(path for path in ("updatedAt", "properties.hs_lastmodifieddate") if path != modified)
    return Stamps(modified=modified, modified_also=mirrors, deleted_flag="archived", deleted_at="archivedAt",
                  delete_touches=False)


class HubSpotApp(ObjectWrites, UniqueWrites, PropertyWrites, RecordLinks, VendorApp):
    vendor = "hubspot"
    public_endpoints = frozenset({"token"})
    url_map = Map(
        [
            _rule("/oauth/v1/token", "token", ("POST",)),
            _rule("/oauth/v3/token", "token", ("POST",)),
            _rule("/crm/v3/objects/<object_type>", "list"),
            _rule("/crm/v3/objects/<object_type>", "create", ("POST",)),
            _rule("/crm/v3/objects/<object_type>/search", "search", ("POST",)),
            _rule("/crm/v3/objects/<object_type>/batch/read", "batch_read", ("POST",)),
            _rule("/crm/v3/objects/<object_type>/batch/create", "batch_create", ("POST",)),
            _rule("/crm/v3/objects/<object_type>/batch/update", "batch_update", ("POST",)),
            _rule("/crm/v3/objects/<object_type>/batch/archive", "batch_archive", ("POST",)),
            _rule("/crm/v3/objects/<object_type>/batch/upsert", "batch_upsert", ("POST",)),
            _rule("/crm/v3/objects/<object_type>/<record_id>", "read"),
            _rule("/crm/v3/objects/<object_type>/<record_id>", "update", ("PATCH",)),
            _rule("/crm/v3/objects/<object_type>/<record_id>", "archive", ("DELETE",)),
            _rule("/crm/v3/properties/<object_type>", "properties"),
            _rule("/crm/v3/properties/<object_type>", "create_property", ("POST",)),
            _rule("/crm/v3/properties/<object_type>/<name>", "property"),
            _rule("/crm/v3/owners", "owners"),
            _rule("/crm/v3/pipelines/<object_type>", "pipelines"),
            _rule("/crm/v3/pipelines/<object_type>/<pipeline_id>", "pipeline"),
            _rule("/crm/v3/pipelines/<object_type>/<pipeline_id>/stages", "stages"),
            _rule("/crm/v3/owners/<owner_id>", "owner"),
            _rule("/crm/v4/associations/<from_type>/<to_type>/batch/read", "associations", ("POST",)),
            _rule("/crm/v4/objects/<object_type>/<record_id>/associations/<to_type>", "links"),
            _rule("/crm/v4/objects/<object_type>/<record_id>/associations/default/<to_type>/<to_id>",
                  "link_default", ("PUT",)),
            _rule("/crm/v4/objects/<object_type>/<record_id>/associations/<to_type>/<to_id>", "link", ("PUT",)),
            _rule("/crm/v4/objects/<object_type>/<record_id>/associations/<to_type>/<to_id>", "unlink",
                  ("DELETE",)),
        ],
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any], credentials: HubSpotCredentials | None = None) -> None:
        self.hs_credentials = credentials or HubSpotCredentials()
        self._burst = SlidingWindow(lambda: self.config["burst_interval_ms"] / 1000.0,
                                    lambda: self.config["burst_limit"])
        self._search = SlidingWindow(1.0, lambda: self.config["search_per_second"])
        self._daily = Budget(lambda: self.config["daily_limit"])
        self._bulk_serial = itertools.count(1)
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {
            "search_lag_seconds": 0.0,
            "enforce_rate_limits": True,
            "burst_limit": 190,
            "burst_interval_ms": 10_000,
            "search_per_second": 5,
            "daily_limit": 1_000_000,
            "retry_after_seconds": None,
            "oauth_expires_in": 1800,
            "list_max_limit": 100,
            "search_max_limit": 200,
            "search_max_results": 10_000,
            "max_filter_groups": 5,
            "max_filters_per_group": 6,
            "max_filters_total": 18,
            "max_url_bytes": 16_384,
        }

    def on_reset(self) -> None:
        for allowance in (self._burst, self._search, self._daily):
            allowance.clear()

    def load(self) -> None:
        section = self.dataset.get("hubspot", {})
        self.portal_id = int(section.get("portal_id") or 146123456)
        self.records: dict[str, Collection] = {}
        self.properties: dict[str, dict[str, PropertyDef]] = {}
        for object_type, records in section.get("objects", {}).items():
            copies = [_copy_record(record) for record in records]
            definitions = infer_properties(object_type, copies)
            dates = [d.name for d in definitions.values() if d.type == "datetime"]
            for record in copies:
                properties = record["properties"]
                for name in dates:
                    value = properties.get(name)
                    if value and not is_canonical(value):
                        properties[name] = canonicalize(value)
            self.properties[object_type] = definitions
            self.records[object_type] = self._collection(object_stamps(object_type), copies)
        for object_type, names in ENGAGEMENT_PROPERTIES.items():
            definitions = self.properties.setdefault(object_type, infer_properties(object_type, []))
            for name in names:
                definitions.setdefault(name, infer_property(name, []))
            if object_type not in self.records:
                self.records[object_type] = self._collection(object_stamps(object_type), [])
        self.owners = self._collection(OWNER_STAMPS, (dict(o) for o in section.get("owners", [])))
        pipelines = section.get("pipelines") or {"deals": deal_pipelines()[:1]}
        self.pipelines: dict[str, list[Record]] = copy.deepcopy(pipelines)
        self.pipelines.setdefault("tickets", ticket_pipelines())
        self.associations: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
        for link in section.get("associations", []):
            self._associate(link["from_type"], str(link["from_id"]), link["to_type"], str(link["to_id"]),
                            link.get("type_id"))
        self._sorted: dict[str, tuple[list[int], list[Record]]] = {}
        self._indexes: dict[str, SearchIndex] = {}
        self._next_id = {name: NumericIdSequence(store) for name, store in self.records.items()}
        self._next_id[OWNERS] = NumericIdSequence(self.owners)
        self._pat_revoked = False
        self._rng = random.Random(f"{self.dataset.get('seed')}:hubspot:sandbox")

    def _collection(self, stamps: Stamps, records: Iterable[Record]) -> Collection:
        collection = Collection(stamps, self.clock, order=int, lock=self.lock)
        collection.load(records)
        return collection

    def _associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None) -> None:
        forward = type_id or ASSOCIATION_TYPE_IDS.get((from_type, to_type), 0)
        backward = ASSOCIATION_TYPE_IDS.get((to_type, from_type), forward)
        self.associations.setdefault((from_type, to_type), {}).setdefault(from_id, {})[to_id] = forward
        self.associations.setdefault((to_type, from_type), {}).setdefault(to_id, {})[from_id] = backward

    def public_credentials(self) -> dict[str, str]:
        return self.hs_credentials.as_dict()

    # -------------------------------------------------------------------------- pipeline

    def _serve(self, request: Request) -> Response:
        limit = int(self.config["max_url_bytes"] or 0)
        target = request.environ.get("RAW_URI") or request.full_path
        if limit and len(target.encode("latin-1", "replace")) > limit:
            return Response(URI_TOO_LONG_PAGE, status=414, content_type="text/html")
        return super()._serve(request)

    def authenticate(self, call: Call) -> Any:
        header = call.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
        if token and token == self.hs_credentials.private_app_token and not self._pat_revoked:
            return {"kind": "private_app"}
        if token:
            state, issued = self.tokens.check(token)
            if state == "valid":
                return {"kind": "oauth"}
            if state == "expired" and issued is not None and issued.ttl is not None:
                ago = int(time.monotonic() - issued.issued - issued.ttl)
                raise hs_error(401, "EXPIRED_AUTHENTICATION",
                               f"The OAuth token used to make this call expired {ago} second(s) ago.")
        raise hs_error(
            401, "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
            "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )

    def expire_tokens(self) -> None:
        super().expire_tokens()
        self._pat_revoked = True

    def on_faults_cleared(self) -> None:
        self._pat_revoked = False

    def enforce_limits(self, call: Call) -> None:
        charges = [("daily", self._daily, 1), ("burst", self._burst, 1)]
        if call.endpoint == "search":  # checked after the daily limit, before the burst window
            charges.insert(1, ("search", self._search, 1))
        refused = take_together(charges, enforce=self.config["enforce_rate_limits"])
        if refused is not None:
            raise self._throttled(*POLICIES[refused])

    def _throttled(self, policy: str, label: str, group: str, retry_after: int | None = None) -> VendorError:
        headers = self._rate_headers(remaining_zero=True, daily=True)
        retry = retry_after if retry_after is not None else self.config["retry_after_seconds"]
        if retry is not None:
            headers["Retry-After"] = str(retry)
        body = {
            "status": "error",
            "message": f"You have reached your {label} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": policy,
            "groupName": f"{group}:{self.portal_id}",
        }
        return VendorError(429, body, headers)

    def _rate_headers(self, remaining_zero: bool = False, daily: bool = True) -> dict[str, str]:
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.config["burst_interval_ms"])),
            "X-HubSpot-RateLimit-Max": str(int(self.config["burst_limit"])),
            "X-HubSpot-RateLimit-Remaining": "0" if remaining_zero else str(self._burst.remaining()),
        }
        if daily:
            headers["X-HubSpot-RateLimit-Daily"] = str(int(self.config["daily_limit"]))
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(self._daily.remaining())
        return headers

    def decorate(self, call: Call, response: Response) -> None:
        principal = call.principal
        if principal is None:
            return
        # OAuth-authenticated calls carry no daily headers (HubSpot changelog on rate-limit headers).
        for name, value in self._rate_headers(daily=principal.get("kind") == "private_app").items():
            response.headers.setdefault(name, value)

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            error = self._throttled(*POLICIES["burst"], retry_after=fault.retry_after)
            if fault.retry_after is None:
                error.headers.pop("Retry-After", None)
            if fault.message:
                error.body["message"] = fault.message
            return error.response()
        status = fault.status or 500
        categories = {400: "VALIDATION_ERROR", 404: "OBJECT_NOT_FOUND", 500: "INTERNAL_ERROR",
                      502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}
        message = fault.message or {500: "internal error", 502: "Bad Gateway", 503: "Service Unavailable",
                                    504: "Gateway Timeout"}.get(status, f"HTTP {status}")
        return hs_error(status, fault.error_code or categories.get(status, "INTERNAL_ERROR"), message).response()

    def not_found(self, call: Call) -> Response:
        message = f"No API endpoint matches {call.request.method} {call.path}"
        return hs_error(404, "OBJECT_NOT_FOUND", message).response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return hs_error(405, "METHOD_NOT_ALLOWED",
                        f"{call.request.method} is not supported here; allowed: {', '.join(allowed)}").response()

    def internal_error(self, call: Call) -> Response:
        return hs_error(500, "INTERNAL_ERROR", "internal error").response()

    def strip_id(self, payload: Any) -> bool:
        results = payload.get("results") if isinstance(payload, dict) else None
        for record in results or []:
            if isinstance(record, dict) and "id" in record:
                del record["id"]
                return True
        return False

    # ---------------------------------------------------------------------------- OAuth

    def on_token(self, call: Call) -> Response:
        request, creds = TokenRequest.read(call.request, basic=False), self.hs_credentials
        if request.grant_type != "refresh_token":
            raise _oauth_error("BAD_GRANT_TYPE", "grant_type must be refresh_token")
        if request.client_id != creds.client_id:
            raise _oauth_error("BAD_CLIENT_ID", "missing or invalid client_id")
        if request.client_secret != creds.client_secret:
            raise _oauth_error("BAD_CLIENT_SECRET", "missing or invalid client_secret")
        if request.get("refresh_token") != creds.refresh_token:
            raise _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        expires_in = int(self.config["oauth_expires_in"])
        access = self.tokens.issue("CO", ttl=expires_in, nbytes=96)
        return json_response({
            "token_type": "bearer", "refresh_token": creds.refresh_token, "access_token": access,
            "expires_in": expires_in,
        })

    # ----------------------------------------------------------------------------- helpers

    def _type(self, name: str) -> str:
        object_type = ALIASES.get(name, name)
        if object_type not in self.records:
            raise hs_error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
        return object_type

    def _render(
        self, object_type: str, record: Record, wanted: list[str] | None, all_properties: bool = False
    ) -> Record:
        stored = record["properties"]
        defs = self.properties[object_type]
        if all_properties:
            properties = dict(stored)
        else:
            names = list(DEFAULT_PROPERTIES.get(object_type, ())) if wanted is None else list(wanted)
            names += ["hs_object_id", "createdate", modified_property(object_type)]
            properties = {name: stored.get(name) for name in dict.fromkeys(names) if name in defs or name in stored}
        out: Record = {
            "id": record["id"],
            "properties": properties,
            "createdAt": record.get("createdAt"),
            "updatedAt": record.get("updatedAt"),
            "archived": bool(record.get("archived")),
        }
        if record.get("archived"):
            out["archivedAt"] = record.get("archivedAt")
        return out

    @staticmethod
    def _names(call: Call, param: str) -> list[str] | None:
        """``a,b`` or repeated ``param=a&param=b`` (both forms are accepted by HubSpot); None if absent."""
        values = call.request.args.getlist(param)
        if not values:
            return None
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    def _limit(self, call: Call, default: int, maximum: int) -> int:
        raw = call.request.args.get("limit")
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise hs_error(400, "VALIDATION_ERROR", f"limit must be a positive integer, got '{raw}'")
        if int(raw) > maximum:
            raise hs_error(400, "VALIDATION_ERROR", f"limit must be less than or equal to {maximum}")
        return int(raw)

    def _sorted_records(self, object_type: str) -> tuple[list[int], list[Record]]:
        cached = self._sorted.get(object_type)
        if cached is None:
            records = sorted(self.records[object_type].values(), key=lambda r: int(r["id"]))
            cached = ([int(r["id"]) for r in records], records)
            self._sorted[object_type] = cached
        return cached

    def _association_block(self, object_type: str, record_id: str, to_types: list[str]) -> Record:
        block: Record = {}
        for to_name in to_types:
            to_type = ALIASES.get(to_name, to_name)
            targets = self.associations.get((object_type, to_type), {}).get(record_id)
            if targets:
                label = type_label(object_type, to_type)
                block[to_name] = {"results": [{"id": to_id, "type": label} for to_id in targets]}
        return block

    def _next_link(self, call: Call, after: str) -> str:
        args = call.request.args.to_dict(flat=False)
        args["after"] = [after]
        return f"{self.base_url}{call.path}?{urlencode(args, doseq=True)}"

    # ------------------------------------------------------------------------------ objects

    def on_list(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        args = call.request.args
        limit = self._limit(call, 10, int(self.config["list_max_limit"]))
        wanted = self._names(call, "properties")
        associations = self._names(call, "associations") or []
        archived = args.get("archived", "false").lower() == "true"
        after = args.get("after")
        if after is not None and not after.isdigit():
            raise hs_error(400, "VALIDATION_ERROR", f"Invalid after value '{after}'")
        with self.lock:
            ids, records = self._sorted_records(object_type)
            index = bisect.bisect_left(ids, int(after)) if after else 0
            page: list[Record] = []
            next_after: str | None = None
            for record in itertools.islice(records, index, None):
                if bool(record.get("archived")) != archived:
                    continue
                if len(page) == limit:
                    next_after = record["id"]
                    break
                page.append(record)
            results = []
            for record in page:
                rendered = self._render(object_type, record, wanted)
                block = self._association_block(object_type, record["id"], associations)
                if block:
                    rendered["associations"] = block
                results.append(rendered)
        body: Record = {"results": results}
        if next_after is not None:
            body["paging"] = {"next": {"after": next_after, "link": self._next_link(call, next_after)}}
        return json_response(body)

    def on_read(self, call: Call, object_type: str, record_id: str) -> Response:
        object_type = self._type(object_type)
        args = call.request.args
        archived = args.get("archived", "false").lower() == "true"
        with self.lock:
            record = self.record_by(object_type, record_id, args.get("idProperty"))
            if record is None or bool(record.get("archived")) != archived:
                raise hs_error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                               context={"id": [record_id]})
            rendered = self._render(object_type, record, self._names(call, "properties"))
            block = self._association_block(object_type, record["id"], self._names(call, "associations") or [])
            if block:
                rendered["associations"] = block
        return json_response(rendered)

    def on_batch_read(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        body = self._json(call)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise hs_error(400, "VALIDATION_ERROR", "inputs must be a list")
        if len(inputs) > 100:
            raise hs_error(400, "VALIDATION_ERROR", "Batch read is limited to 100 inputs")
        wanted = body.get("properties")
        archived = bool(body.get("archived", False))
        started = self.now_text()
        results, missing = [], []
        with self.lock:
            by_value = None
            if body.get("idProperty") is not None:
                name = self.id_property(object_type, body["idProperty"])
                by_value = self.unique_values(object_type, {name})
            for item in inputs:
                given = str(item.get("id")) if isinstance(item, dict) else ""
                record_id = by_value.holder(name, given) if by_value is not None else given
                record = self.records[object_type].get(record_id) if record_id is not None else None
                if record is None or bool(record.get("archived")) != archived:
                    missing.append(given)
                    continue
                results.append(self._render(object_type, record, wanted if isinstance(wanted, list) else None))
        payload: Record = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
        if missing:
            payload["numErrors"] = 1
            payload["errors"] = [{
                "status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some records.",
                "context": {"ids": missing},
            }]
            return json_response(payload, 207)
        return json_response(payload)

    def on_search(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        body = self._json(call)
        limits = SearchLimits(
            max_groups=int(self.config["max_filter_groups"]),
            max_filters_per_group=int(self.config["max_filters_per_group"]),
            max_filters_total=int(self.config["max_filters_total"]),
            max_page=int(self.config["search_max_limit"]),
            max_results=int(self.config["search_max_results"]),
        )
        with self.lock:
            try:
                request = parse_search(body, self.properties[object_type], limits)
            except SearchError as exc:
                raise hs_error(400, "VALIDATION_ERROR", str(exc)) from None
            lag = float(self.config["search_lag_seconds"] or 0)
            visible_until = canonical(self.clock.now() - timedelta(seconds=lag)) if lag else None
            modified = modified_property(object_type)
            plan = plan_search(body, self.properties[object_type], modified, visible_until)
            index = self._search_index(object_type) if plan is not None else None
            if plan is not None and index is not None and index.usable:
                total, page = index.search(plan, request.after, request.limit)
            else:
                total, page = naive_search(self.records[object_type].values(), request, modified, visible_until)
            results = [self._render(object_type, r, request.properties) for r in page]
        payload: Record = {"total": total, "results": results}
        end = request.after + len(page)
        if end < total and request.limit > 0:
            payload["paging"] = {"next": {"after": str(end)}}
        return json_response(payload)

    def _search_index(self, object_type: str) -> SearchIndex:
        index = self._indexes.get(object_type)
        if index is None:
            index = SearchIndex(self.records[object_type].values(), modified_property(object_type),
                                self.properties[object_type])
            self._indexes[object_type] = index
        return index

    def _changed(self, object_type: str) -> None:
        """Drop the orderings built from ``object_type``'s records (ids, search index)."""
        self._sorted.pop(object_type, None)
        self._indexes.pop(object_type, None)

    @staticmethod
    def _json(call: Call) -> Record:
        body = call.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1: the body must be a JSON object")
        return body

    def on_properties(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        with self.lock:
            defs = list(self.properties[object_type].values())
        return json_response({"results": [d.as_json(object_type, i) for i, d in enumerate(defs)]})

    # ------------------------------------------------------------------------------- owners

    def on_owners(self, call: Call) -> Response:
        args = call.request.args
        limit = self._limit(call, 100, 500)
        archived = args.get("archived", "false").lower() == "true"
        email = args.get("email")
        after = args.get("after")
        if after is not None and not after.isdigit():
            raise hs_error(400, "VALIDATION_ERROR", f"Invalid after value '{after}'")
        with self.lock:
            owners = sorted(self.owners.values(), key=lambda o: int(o["id"]))
        selected = [
            o for o in owners
            if bool(o.get("archived")) == archived
            and (email is None or str(o.get("email", "")).lower() == email.lower())
            and (after is None or int(o["id"]) >= int(after))
        ]
        body: Record = {"results": [dict(o) for o in selected[:limit]]}
        if len(selected) > limit:
            next_after = selected[limit]["id"]
            body["paging"] = {"next": {"after": next_after, "link": self._next_link(call, next_after)}}
        return json_response(body)

    def on_owner(self, call: Call, owner_id: str) -> Response:
        archived = call.request.args.get("archived", "false").lower() == "true"
        with self.lock:
            owner = self.owners.get(owner_id)
        if owner is None or bool(owner.get("archived")) != archived:
            raise hs_error(404, "OBJECT_NOT_FOUND", f"Owner {owner_id} not found")
        return json_response(dict(owner))

    # ---------------------------------------------------------------------------- pipelines

    def _pipelines(self, object_type: str) -> list[Record]:
        object_type = ALIASES.get(object_type, object_type)
        if object_type not in self.pipelines:
            raise hs_error(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")
        return [p for p in self.pipelines[object_type] if not p.get("archived")]

    def _pipeline_record(self, object_type: str, pipeline_id: str) -> Record:
        for pipeline in self._pipelines(object_type):
            if pipeline["id"] == pipeline_id:
                return pipeline
        raise hs_error(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id} for object type {object_type}")

    def on_pipelines(self, call: Call, object_type: str) -> Response:
        """Every live pipeline with its stages, in display order; the API does not page this list."""
        with self.lock:
            pipelines = sorted(self._pipelines(object_type), key=lambda p: (p.get("displayOrder", 0), p["id"]))
            return json_response({"results": copy.deepcopy(pipelines)})

    def on_pipeline(self, call: Call, object_type: str, pipeline_id: str) -> Response:
        with self.lock:
            return json_response(copy.deepcopy(self._pipeline_record(object_type, pipeline_id)))

    def on_stages(self, call: Call, object_type: str, pipeline_id: str) -> Response:
        with self.lock:
            stages = [s for s in self._pipeline_record(object_type, pipeline_id)["stages"] if not s.get("archived")]
            return json_response({"results": copy.deepcopy(stages)})

    # ------------------------------------------------------------------------- associations

    def on_associations(self, call: Call, from_type: str, to_type: str) -> Response:
        from_type, to_type = self._type(from_type), self._type(to_type)
        body = self._json(call)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise hs_error(400, "VALIDATION_ERROR", "inputs must be a non-empty list of {\"id\": …}")
        if len(inputs) > ASSOCIATION_INPUTS:
            raise hs_error(400, "VALIDATION_ERROR", f"Batch is limited to {ASSOCIATION_INPUTS} inputs")
        started = self.now_text()
        results, without = [], []
        with self.lock:
            index = self.associations.get((from_type, to_type), {})
            for item in inputs:
                from_id = str(item.get("id")) if isinstance(item, dict) else ""
                targets = list(index.get(from_id, {}).items())
                after = str(item.get("after") or "0") if isinstance(item, dict) else "0"
                offset = int(after) if after.isdigit() else 0
                if not targets:
                    without.append(from_id)
                    continue
                page = offset_page(targets, offset, ASSOCIATION_PAGE)
                result: Record = {
                    "from": {"id": from_id},
                    "to": [
                        {"toObjectId": int(to_id),
                         "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]}
                        for to_id, type_id in page.items
                    ],
                }
                if page.has_more:
                    result["paging"] = {"next": {"after": str(page.end)}}
                results.append(result)
        payload: Record = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
        if without:
            payload["numErrors"] = len(without)
            payload["errors"] = [
                {
                    "status": "error", "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "context": {"fromObjectId": [from_id]},
                    "message": f"No {to_type} is associated with {from_type} {from_id}.",
                }
                for from_id in without
            ]
            return json_response(payload, 207)
        return json_response(payload)

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return [*self.records, OWNERS]

    def _store(self, obj: str) -> Collection:
        return self.owners if obj == OWNERS else self.records[obj]

    def _control_record(self, obj: str, record_id: str) -> Record:
        record = self._store(obj).get(record_id)
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return record

    def _full(self, obj: str, record: Record) -> Record:
        if obj == OWNERS:
            return dict(record)
        return self._render(obj, record, None, all_properties=True)

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [self._full(obj, r) for r in self._store(obj).values() if include_deleted or not r.get("archived")]

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": record_id, "record": self._full(obj, self._control_record(obj, record_id))}

    def _set_properties(self, obj: str, record: Record, fields: dict[str, Any]) -> None:
        if obj == OWNERS:
            record.update({k: v for k, v in fields.items() if k not in ("id", "createdAt", "updatedAt", "archived")})
            return
        defs = self.properties[obj]
        for name, value in fields.items():
            text = to_property_string(value)
            if name not in defs:
                defs[name] = infer_property(name, [text] if text else [])
            if text and defs[name].type == "datetime":
                try:
                    text = canonicalize(text)
                except ValueError as exc:
                    raise ControlError(400, f"{name}: {exc}") from None
            if name in ("hs_object_id",):
                raise ControlError(400, "hs_object_id is read-only")
            record["properties"][name] = text

    def _stamp_modified(self, obj: str, record: Record, now: str) -> None:
        self._store(obj).touch(record["id"], at=now)

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now = self.now_text()
        record_id = self._next_id[obj]()
        if obj == OWNERS:
            record: Record = {"id": record_id, "userId": None, "email": None, "firstName": None, "lastName": None,
                              "type": "PERSON", "createdAt": now, "updatedAt": None, "archived": False, "teams": []}
            self._set_properties(obj, record, body.get("fields", {}))
        else:
            record = {"id": record_id, "properties": {}, "createdAt": now, "updatedAt": None, "archived": False}
            self._set_properties(obj, record, body.get("fields", {}))
            record["properties"].update({"hs_object_id": record_id, "createdate": now, modified_property(obj): None})
            if obj == "deals" and not record["properties"].get("pipeline"):
                record["properties"]["pipeline"] = "default"  # HubSpot puts a deal created without one there
            if obj == "tickets" and not record["properties"].get("hs_pipeline"):
                record["properties"]["hs_pipeline"] = "0"
            for link in body.get("associations") or []:
                to_type = ALIASES.get(link.get("to_type", ""), link.get("to_type", ""))
                if to_type not in self.records or str(link.get("to_id")) not in self.records[to_type]:
                    raise ControlError(400, f"association target {link!r} does not exist")
                self._associate(obj, record_id, to_type, str(link["to_id"]), link.get("type_id"))
        self._store(obj).insert(record, at=now)
        self._changed(obj)
        return {"id": record_id, "record": self._full(obj, record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._control_record(obj, record_id)
        if record.get("archived"):
            raise ControlError(404, f"{obj} {record_id} is archived")
        self._set_properties(obj, record, body.get("fields", {}))
        self._stamp_modified(obj, record, self.now_text())
        self._changed(obj)
        return {"id": record_id, "record": self._full(obj, record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        record = self._control_record(obj, record_id)
        if record.get("archived"):
            raise ControlError(404, f"{obj} {record_id} is already archived")
        self._store(obj).delete(record_id)
        self._changed(obj)
        return {"id": record_id, "record": self._full(obj, record)}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        now = self.now_text()
        store = self._store(obj)
        live = [r for r in store.values() if not r.get("archived")]
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        created_ids = [self._synthetic(obj, live[0] if live else None, next(self._bulk_serial), now)
                       for _ in range(create)]
        for record in touched:
            if fields:
                self._set_properties(obj, record, fields)
            self._stamp_modified(obj, record, now)
        self._changed(obj)
        result: dict[str, Any] = {"object": obj, "stamp": now, "created": create, "touched": touch}
        if create + touch <= 10_000:
            result["created_ids"], result["touched_ids"] = created_ids, [r["id"] for r in touched]
        return result

    def _synthetic(self, obj: str, template: Record | None, serial: int, now: str) -> str:
        record_id = self._next_id[obj]()
        label = f"{serial:07d}"
        if obj == OWNERS:
            record = dict(template or {})
            record.update({"id": record_id, "email": f"bulk.owner.{label}@example.com", "firstName": "Bulk",
                           "lastName": f"Owner {label}", "createdAt": now, "updatedAt": None, "archived": False})
            record.pop("archivedAt", None)
        else:
            properties = dict((template or {}).get("properties", {}))
            for name, value in (("name", f"Sandbox Bulk {obj} {label}"), ("dealname", f"Sandbox Bulk deal {label}"),
                                ("email", f"bulk.{obj}.{label}@example.com"), ("firstname", "Bulk"),
                                ("lastname", f"Contact {label}"), ("domain", f"bulk-{label}.example.com")):
                if name in properties:
                    properties[name] = value
            properties.update({"hs_object_id": record_id, "createdate": now, modified_property(obj): None})
            record = {"id": record_id, "properties": properties, "createdAt": now, "updatedAt": None,
                      "archived": False}
        self._store(obj).insert(record, at=now)
        return record_id


def _copy_record(record: Record) -> Record:
    copy = dict(record)
    copy["id"] = str(record["id"])
    copy["properties"] = {name: to_property_string(value) for name, value in record.get("properties", {}).items()}
    return copy


def _oauth_error(status: str, message: str) -> VendorError:
    return VendorError(400, {"status": status, "message": message, "correlationId": correlation_id()})
