"""Dynamics 365 Sales emulator: Entra ID client credentials and the Dataverse Web API v9.2 on one port.

Behaviour follows ``vendor-apis-crm.md`` §6:

- Entra ID: ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (what ``msal`` reads) and
  ``POST /{tenant}/oauth2/v2.0/token`` (``client_credentials`` grant, scope ``{org}/.default``, no refresh
  token), refusals with Entra's body and AADSTS code; bearer tokens expire after ``token_expires_in``
  seconds and an expired or unknown one is a 401 with ``WWW-Authenticate`` and an empty body;
- Web API under ``/api/data/v9.2/``: the service document, ``EntityDefinitions`` (which tables track
  changes), the entity sets with ``$select``, ``$filter``, ``$orderby``, ``$count``, ``$top``,
  ``Prefer: odata.maxpagesize`` (≤ 5000, echoed in ``Preference-Applied``) and an opaque, signed
  ``$skiptoken`` in ``@odata.nextLink``; ``$skip`` is refused;
- change tracking: ``Prefer: odata.track-changes`` lists every row, then gives an ``@odata.deltaLink``;
  the delta link answers the rows changed since (by row version), then the deleted ones as
  ``$deletedEntity``, and a new delta link; ``$filter``/``$orderby``/``$expand``/``$top`` are refused with
  it; a token older than the org's ``ExpireChangeTrackingInDays`` is refused (the client re-baselines);
  ``{set}/$count?$deltatoken=…`` counts the changes;
- annotations: ``odata.include-annotations`` adds French labels to option sets, lookups and money;
- service protection: requests, combined execution time and concurrent requests per user over a
  sliding window, refused with 429, ``Retry-After`` and the limit's hex code.

Writes (create, update, upsert, delete, ``CreateMultiple``/``UpdateMultiple``, ``$batch``): see
:mod:`passerelle_sandbox.dynamics_writes` and :mod:`passerelle_sandbox.dynamics_batch`.

Control extras: ``POST /__sandbox/delta_tokens/expire`` expires every delta token issued so far.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
import random
import secrets
import threading
import time
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from passerelle_sandbox.clock import canonical, canonicalize
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, bearer_token, json_response
from passerelle_sandbox.dataset_dynamics import CURRENCIES, MONEY, QUANTITY, RATE, SCALES, build_dynamics_dataset
from passerelle_sandbox.dynamics_model import (
    BY_LOGICAL,
    DATETIME_COLUMNS,
    TABLES,
    Preferences,
    Record,
    Table,
    entity_definitions,
    odata_error,
    parse_preferences,
    render_row,
    render_time,
    unsupported,
)
from passerelle_sandbox.dynamics_query import (
    OPERATORS,
    Condition,
    Cookies,
    after,
    delta_token,
    marks,
    matches,
    parse_filter,
    parse_orderby,
    parse_select,
    rank,
    read_delta_token,
    sort_rows,
    unmark,
)
from passerelle_sandbox.dynamics_batch import DataverseBatch
from passerelle_sandbox.dynamics_metadata import DataverseMetadata
from passerelle_sandbox.dynamics_schedule import ProjectSchedule
from passerelle_sandbox.dynamics_writes import APP_USER_ID, APP_USER_NAME, DataverseWrites
from passerelle_sandbox.entra import (  # noqa: F401 - re-exported: the Dynamics emulator's directory
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT_ID,
    EntraCredentials,
    EntraEndpoints,
    entra_error,
)
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.rate_limits import SlidingWindow
from passerelle_sandbox.store import Collection, Saved, Stamps

API = "/api/data/v9.2"
READ_ONLY = frozenset({"createdon", "modifiedon", "versionnumber", "_createdby_value", "_modifiedby_value"})
TRACKING_REFUSED = ("$filter", "$orderby", "$expand", "$top")
LIMIT_CODES = {"requests": "0x80072322", "time": "0x80072321", "concurrency": "0x80072326"}
MODIFIED = "modifiedon"
_BOUNDS = {OPERATORS["ge"]: ("low", True), OPERATORS["gt"]: ("low", False),
           OPERATORS["lt"]: ("high", False), OPERATORS["le"]: ("high", True)}
"""``$filter`` comparisons on ``modifiedon`` that bound an index range: (side, inclusive)."""

ROW_STAMPS = Stamps(modified="modifiedon", modified_by="_modifiedby_value", created_by="_createdby_value",
                    version="versionnumber", precision_ms=1000)
"""Dataverse keeps seconds; ``versionnumber`` is the org-wide row version (ETag, change tracking)."""


DynamicsCredentials = EntraCredentials
"""The Dataverse org's Entra ID tenant and app registration (one directory for every Microsoft emulator)."""


class Unauthorized(VendorError):
    """Dataverse's 401: an empty body, the authority to ask in ``WWW-Authenticate``."""

    def response(self) -> Response:
        return Response(b"", status=401, headers=self.headers)


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


class DynamicsApp(DataverseBatch, DataverseWrites, DataverseMetadata, ProjectSchedule, EntraEndpoints, VendorApp):
    vendor = "dynamics"
    public_endpoints = frozenset({"openid", "token"})
    url_map = Map([
        _rule("/<tenant>/v2.0/.well-known/openid-configuration", "openid"),
        _rule("/<tenant>/oauth2/v2.0/token", "token", ("POST",)),
        _rule(f"{API}/", "service"),
        _rule(f"{API}/EntityDefinitions", "definitions"),
        _rule(f"{API}/EntityDefinitions(<key>)/Attributes", "attributes"),
        _rule(f"{API}/EntityDefinitions(<key>)/Attributes", "create_attribute", ("POST",)),
        _rule(f"{API}/$batch", "batch", ("POST",)),
        _rule(f"{API}/<name>/$count", "count"),
        _rule(f"{API}/<name>/<action>", "action", ("POST",)),
        _rule(f"{API}/<name>", "entity_set"),
        _rule(f"{API}/<name>", "write", ("POST", "PATCH", "DELETE")),
    ], strict_slashes=False)

    def __init__(self, dataset: dict[str, Any], credentials: DynamicsCredentials | None = None) -> None:
        self.dv_credentials = credentials or DynamicsCredentials()
        self.cookies = Cookies(secrets.token_bytes(32))
        self._limits_lock = threading.Lock()
        # each call's execution time in milliseconds, counted at its start
        self._executions = SlidingWindow(lambda: float(self.config["window_seconds"]))
        self._bulk_serial = itertools.count(1)
        self._reset_counters()
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {"enforce_service_protection": True, "request_limit": 6000, "execution_time_limit_ms": 1_200_000,
                "concurrency_limit": 52, "window_seconds": 300, "token_expires_in": 3599, "max_page_size": 5000,
                "expire_change_tracking_days": 7, "schedule_delay_seconds": 5}

    def _reset_counters(self) -> None:
        self._executions.clear()
        with self._limits_lock:
            self._in_flight = 0

    def on_reset(self) -> None:
        self._reset_counters()

    def load(self) -> None:
        section = self.dataset["dynamics"] if "dynamics" in self.dataset else build_dynamics_dataset(self.dataset)
        self.seed = int(self.dataset.get("seed") or 1)
        self.uoms: dict[str, str] = dict(section["uoms"])
        tables = {name: section["tables"].get(name, []) for name in TABLES}
        self.version = max((r["versionnumber"] for rows in tables.values() for r in rows), default=0)
        self.rows: dict[str, Collection] = {}
        for name, table in TABLES.items():
            self.rows[name] = Collection(ROW_STAMPS, self.clock, key=table.pk, lock=self.lock,
                                         sequence=self._next_version)
            self.rows[name].load(_copy(r) for r in tables[name])
        self.custom: dict[str, list[str]] = {name: [] for name in TABLES}
        self.custom_kinds: dict[tuple[str, str], dict[str, Any]] = {}
        self.delta_floor = 0
        self.operation_sets: dict[str, Record] = {}
        self._key_order: dict[str, tuple[tuple[int, int, int], list[Record]]] = {}
        self._rng = random.Random(f"{self.seed}:dynamics:sandbox")

    def _next_version(self) -> int:
        """The org's next row version: every write and delete of any table draws one."""
        self.version += 1
        return self.version

    def save_rows(self) -> dict[str, Saved]:
        """Every table as it is, for an all-or-none request to go back to."""
        return {name: rows.snapshot() for name, rows in self.rows.items()}

    def restore_rows(self, saved: dict[str, Saved]) -> None:
        for name, snapshot in saved.items():
            self.rows[name].rollback(snapshot)

    def public_credentials(self) -> dict[str, str]:
        return self.dv_credentials.as_dict()

    def columns(self, table: Table) -> tuple[str, ...]:
        return table.columns + tuple(self.custom[table.entity_set])

    # -------------------------------------------------------------------------- pipeline

    def _pipeline(self, call: Call, args: dict[str, Any]) -> Response:
        """Count the call's concurrency and execution time for service protection."""
        if call.endpoint in self.public_endpoints:
            return super()._pipeline(call, args)
        with self._limits_lock:
            self._in_flight += 1
        with self.lock:  # operation sets whose time has come persist before anything reads
            self.run_due_operation_sets(self.clock.now())
        started = time.monotonic()
        try:
            return super()._pipeline(call, args)
        finally:
            with self._limits_lock:
                self._in_flight -= 1
            self._executions.add((time.monotonic() - started) * 1000, at=started)

    def authenticate(self, call: Call) -> Any:
        token = bearer_token(call.request)
        state = self.tokens.check(token)[0] if token else "missing"
        if state == "valid":
            return {"kind": "bearer"}
        challenge = f"Bearer authorization_uri={self.base_url}/{self.dv_credentials.tenant_id}/oauth2/authorize"
        if state == "expired":
            challenge += ', error="invalid_token", error_description="The access token expired"'
        raise Unauthorized(401, None, {"WWW-Authenticate": challenge})

    def enforce_limits(self, call: Call) -> None:
        if not self.config["enforce_service_protection"]:
            return
        with self._limits_lock:
            in_flight = self._in_flight
        wait = self._executions.retry_after() or 1
        if in_flight > int(self.config["concurrency_limit"]):
            refused, wait = "concurrency", 1
        elif self._executions.calls() >= int(self.config["request_limit"]):
            refused = "requests"
        elif self._executions.used() >= float(self.config["execution_time_limit_ms"]):
            refused = "time"
        else:
            return
        raise self._throttled(refused, wait)

    def _throttled(self, limit: str, retry_after: int, code: str | None = None) -> VendorError:
        window = int(self.config["window_seconds"])
        messages = {
            "requests": f"Number of requests exceeded the limit of {self.config['request_limit']} over time window "
                        f"of {window} seconds.",
            "time": f"Combined execution time of incoming requests exceeded limit of "
                    f"{int(self.config['execution_time_limit_ms']):,} milliseconds over time window of {window} "
                    "seconds. Decrease number of concurrent requests or reduce the duration of requests and try "
                    "again later.",
            "concurrency": f"Number of concurrent requests exceeded the limit of {self.config['concurrency_limit']}.",
        }
        return odata_error(429, code or LIMIT_CODES[limit], messages[limit], {"Retry-After": str(retry_after)})

    def decorate(self, call: Call, response: Response) -> None:
        response.headers.setdefault("OData-Version", "4.0")
        response.headers.setdefault("REQ_ID", str(uuid.uuid4()))
        if call.principal is not None:
            remaining = max(0, int(self.config["request_limit"]) - self._executions.calls())
            response.headers.setdefault("x-ms-ratelimit-burst-remaining-xrm-requests", str(remaining))

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            code = fault.error_code or LIMIT_CODES["requests"]
            limit = next((name for name, value in LIMIT_CODES.items() if value == code), "requests")
            error = self._throttled(limit, fault.retry_after if fault.retry_after is not None else 1, code)
            if fault.message:
                error.body["error"]["message"] = fault.message
            return error.response()
        status = fault.status or 500
        return odata_error(status, fault.error_code or "0x80040216",
                           fault.message or "An unexpected error occurred.").response()

    def not_found(self, call: Call) -> Response:
        segment = call.path.rstrip("/").rsplit("/", 1)[-1]
        return odata_error(404, "0x8006088a", f"Resource not found for the segment '{segment}'.").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return odata_error(405, "0x80060888", f"The requested resource does not support http method "
                                              f"'{call.request.method}'.").response()

    def internal_error(self, call: Call) -> Response:
        return odata_error(500, "0x80040216", "An unexpected error occurred.").response()

    def strip_id(self, payload: Any) -> bool:
        context = payload.get("@odata.context", "") if isinstance(payload, dict) else ""
        table = TABLES.get(context.partition("#")[2].partition("(")[0].partition("/")[0])
        for row in payload.get("value", []) if table is not None else []:
            if isinstance(row, dict) and table.pk in row:
                del row[table.pk]
                return True
        return False

    # --------------------------------------------------------------------------- Entra ID

    def entra_credentials(self) -> EntraCredentials:
        return self.dv_credentials

    def entra_scopes(self) -> tuple[str, ...]:
        org = self.base_url.rstrip("/")
        return f"{org}/.default", f"{org}//.default"

    # ---------------------------------------------------------------------------- Web API

    def _context(self, fragment: str) -> str:
        return f"{self.base_url}{API}/$metadata#{fragment}"

    def on_service(self, call: Call) -> Response:
        sets = [{"name": name, "kind": "EntitySet", "url": name} for name in (*TABLES, "EntityDefinitions")]
        return json_response({"@odata.context": f"{self.base_url}{API}/$metadata", "value": sets})

    def on_definitions(self, call: Call) -> Response:
        rows = entity_definitions()
        columns = tuple(rows[0])
        args = call.request.args
        conditions = parse_filter(args.get("$filter"), columns, "EntityMetadata")
        select = parse_select(args.get("$select"), columns, "MetadataId", "EntityMetadata")
        value = [{c: row[c] for c in select} for row in rows if matches(row, conditions)]
        fragment = f"EntityDefinitions({','.join(c for c in select if c != 'MetadataId')})" if args.get("$select") \
            else "EntityDefinitions"
        return json_response({"@odata.context": self._context(fragment), "value": value})

    def _table(self, name: str) -> Table:
        table = TABLES.get(name)
        if table is None:
            raise odata_error(404, "0x8006088a", f"Resource not found for the segment '{name}'.")
        return table

    def _names(self, logical_name: str, record_id: str) -> str | None:
        if logical_name == "uom":
            return self.uoms.get(record_id)
        if logical_name == "systemuser" and record_id == APP_USER_ID:
            return APP_USER_NAME
        table = BY_LOGICAL[logical_name]
        row = self.rows[table.entity_set].get(record_id)
        return row.get(table.primary_name) if row else None

    def _symbol(self, row: Record) -> str:
        currency = self.rows["transactioncurrencies"].get(row.get("_transactioncurrencyid_value") or "")
        return currency["currencysymbol"] if currency else CURRENCIES["EUR"][1]

    def _render(self, table: Table, row: Record, columns: tuple[str, ...], prefs: Preferences) -> Record:
        return render_row(table, row, columns, prefs.formatted, self._names, self._symbol)

    def _link(self, name: str, params: list[tuple[str, str]]) -> str:
        query = "&".join(f"{key}={quote(value, safe='' if key in ('$skiptoken', '$deltatoken') else ',()/:')}"
                         for key, value in params)
        return f"{self.base_url}{API}/{name}?{query}"

    def on_entity_set(self, call: Call, name: str) -> Response:
        if name.endswith(")"):
            return self.read_one(call, name)
        table = self._table(name)
        request, args = call.request, call.request.args
        if "$skip" in args:
            raise unsupported("The query parameter $skip is not supported.")
        prefs = parse_preferences(request.headers.getlist("Prefer"), int(self.config["max_page_size"]))
        token = args.get("$deltatoken")
        tracking = prefs.track_changes or token is not None
        if tracking:
            for option in TRACKING_REFUSED:
                if option in args:
                    raise unsupported(f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.')
            if not table.change_tracking:
                raise unsupported(f"Change tracking is not enabled for the entity '{table.logical_name}'.")
        for option in ("$expand", "$apply", "$search"):
            if option in args:
                raise unsupported(f"The query parameter {option} is not supported by this org's tables.")
        select = parse_select(args.get("$select"), self.columns(table), table.pk, table.logical_name)
        size = prefs.max_page_size or int(self.config["max_page_size"])
        with self.lock:
            if token is not None:
                body, more = self._delta(call, table, select, prefs, token, size)
            elif tracking:
                body, more = self._baseline(call, table, select, prefs, size)
            else:
                body, more = self._listing(call, table, select, prefs, size)
        applied = [f"odata.maxpagesize={size}"] if prefs.max_page_size else []
        if prefs.annotations is not None:
            applied.append(f'odata.include-annotations="{prefs.annotations}"')
        if tracking:
            applied.append("odata.track-changes")
        headers = {"Preference-Applied": ",".join(applied)} if applied else None
        return json_response(body, headers=headers, content_type="application/json; odata.metadata=minimal")

    def _query_key(self, call: Call, table: Table, extra: str = "") -> str:
        args = call.request.args
        return "|".join([table.entity_set, extra, *(f"{k}={args.get(k, '')}" for k in
                                                    ("$select", "$filter", "$orderby", "$count", "$top", "$deltatoken"))])

    def _params(self, call: Call, cookie: str | None) -> list[tuple[str, str]]:
        params = [(k, v) for k, v in call.request.args.items(multi=True) if k != "$skiptoken"]
        return params + ([("$skiptoken", cookie)] if cookie else [])

    def _fragment(self, call: Call, table: Table, select: tuple[str, ...]) -> str:
        return f"{table.entity_set}({','.join(select)})" if call.request.args.get("$select") else table.entity_set

    def _listing(self, call: Call, table: Table, select: tuple[str, ...], prefs: Preferences,
                 size: int) -> tuple[Record, bool]:
        args, columns = call.request.args, self.columns(table)
        conditions = parse_filter(args.get("$filter"), columns, table.logical_name)
        order = parse_orderby(args.get("$orderby"), columns, table.pk, table.logical_name)
        rows = self._by_modification(table, conditions, order)
        if rows is None:
            rows = sort_rows([r for r in self.rows[table.entity_set].values() if matches(r, conditions)], order)
        top = args.get("$top", "")
        if top.isdigit() and prefs.max_page_size is None:
            rows = rows[:int(top)]
        body, more, _ = self._page(call, table, select, prefs, size, rows, order, self._query_key(call, table), {})
        return body, more

    def _baseline(self, call: Call, table: Table, select: tuple[str, ...], prefs: Preferences,
                  size: int) -> tuple[Record, bool]:
        """Every row by primary key; the last page's delta link starts at the version of the first page."""
        order = [(table.pk, False)]
        rows = self._by_key(table)
        query = self._query_key(call, table, "baseline")
        body, more, state = self._page(call, table, select, prefs, size, rows, order, query, {"v": self.version})
        if not more:
            body["@odata.deltaLink"] = self._delta_link(call, table, int(state["v"]))
        return body, more

    def _by_modification(self, table: Table, conditions: list[Condition],
                         order: list[tuple[str, bool]]) -> list[Record] | None:
        """The rows of an incremental listing (``modifiedon`` bounds, ``$orderby=modifiedon asc,<key> asc``)
        read from the store's (modified, id) index in order, as Dataverse serves it from an index; None
        for any other query, which is filtered and sorted row by row."""
        if order != [(MODIFIED, False), (table.pk, False)]:
            return None
        bounds: dict[str, tuple[str, bool]] = {}
        for column, operator, literal in conditions:
            side = _BOUNDS.get(operator)
            if column != MODIFIED or side is None or side[0] in bounds or not isinstance(literal, str):
                return None
            bounds[side[0]] = (literal, side[1])
        low, low_inclusive = bounds.get("low", (None, True))
        high, high_inclusive = bounds.get("high", (None, False))
        return self.rows[table.entity_set].changed_between(low, high, low_inclusive=low_inclusive,
                                                           high_inclusive=high_inclusive)

    def _by_key(self, table: Table) -> list[Record]:
        """Live rows by primary key, sorted once for all the pages of a baseline while the table is unchanged
        (every write and delete draws an org version), as Dataverse reads an index rather than sorting."""
        rows = self.rows[table.entity_set]
        stamp = (id(rows), self.version, len(rows))
        cached = self._key_order.get(table.entity_set)
        if cached is None or cached[0] != stamp:
            cached = self._key_order[table.entity_set] = (stamp, sort_rows(rows.values(), [(table.pk, False)]))
        return cached[1]

    def _page(self, call: Call, table: Table, select: tuple[str, ...], prefs: Preferences, size: int,
              rows: list[Record], order: list[tuple[str, bool]], query: str,
              first: dict[str, Any]) -> tuple[Record, bool, dict[str, Any]]:
        """The page a request asks for, from sorted ``rows``: the rows after its paging cookie's last key,
        ``@odata.count`` when asked, and the next cookie, which carries ``first`` (from the first page on)
        besides the last key read."""
        args = call.request.args
        total, page, state = len(rows), 1, dict(first)
        if args.get("$skiptoken"):
            page, state = self.cookies.check(args["$skiptoken"], query)
            last = unmark(state["last"])
            if not any(descending for _, descending in order):  # sorted ascending: find the place, no scan
                columns = [column for column, _ in order]
                place = bisect_right(rows, tuple(rank(v) for v in last),
                                     key=lambda r: tuple(rank(r.get(c)) for c in columns))
                rows = rows[place:]
            else:
                rows = [r for r in rows if after(r, last, order)]
        chunk = rows[:size]
        body: Record = {"@odata.context": self._context(self._fragment(call, table, select))}
        if args.get("$count") == "true":
            body["@odata.count"] = total
        body["value"] = [self._render(table, r, select, prefs) for r in chunk]
        more = len(rows) > size
        if more:
            kept = {**{k: state[k] for k in first}, "last": marks(chunk[-1], order)}
            cookie = self.cookies.issue(page + 1, query, kept, tracking=bool(first))
            body["@odata.nextLink"] = self._link(table.entity_set, self._params(call, cookie))
        return body, more, state

    def _delta_link(self, call: Call, table: Table, version: int) -> str:
        params = [(k, v) for k, v in call.request.args.items(multi=True) if k == "$select"]
        return self._link(table.entity_set, params + [("$deltatoken", delta_token(version, self.clock.now()))])

    def _changes(self, table: Table, since: int, upto: int) -> list[tuple[int, int, str, Record | None]]:
        """(phase, version, id, row): changed rows by version, then deleted ones (tombstones) by version."""
        rows = self.rows[table.entity_set]
        changed = [(0, version, record_id, row) for record_id, row in rows.items()
                   if since < (version := rows.version(record_id)) <= upto]
        deleted = [(1, t.version, t.id, None) for t in rows.tombstones() if since < t.version <= upto]
        return sorted(changed, key=lambda c: c[:2]) + sorted(deleted, key=lambda c: c[:2])

    def _read_token(self, token: str) -> int:
        return read_delta_token(token, self.clock.now(), float(self.config["expire_change_tracking_days"]),
                                self.delta_floor, self.version)

    def _delta(self, call: Call, table: Table, select: tuple[str, ...], prefs: Preferences, token: str,
               size: int) -> tuple[Record, bool]:
        args = call.request.args
        since, upto, page, query = self._read_token(token), self.version, 1, self._query_key(call, table, "delta")
        changes = None
        if args.get("$skiptoken"):
            page, state = self.cookies.check(args["$skiptoken"], query)
            upto, position = int(state["u"]), tuple(state["last"])
            changes = [c for c in self._changes(table, since, upto) if c[:2] > position]
        changes = self._changes(table, since, upto) if changes is None else changes
        chunk = changes[:size]
        deleted_context = self._context(f"{table.entity_set}/$deletedEntity")
        body: Record = {"@odata.context": self._context(self._fragment(call, table, select) + "/$delta")}
        if args.get("$count") == "true":
            body["@odata.count"] = len(self._changes(table, since, upto))
        body["value"] = [self._render(table, row, select, prefs) if row is not None
                         else {"@odata.context": deleted_context, "id": record_id, "reason": "deleted"}
                         for _, _, record_id, row in chunk]
        more = len(changes) > size
        if more:
            cookie = self.cookies.issue(page + 1, query, {"u": upto, "last": list(chunk[-1][:2])}, tracking=True)
            body["@odata.nextLink"] = self._link(table.entity_set, self._params(call, cookie))
        else:
            body["@odata.deltaLink"] = self._delta_link(call, table, upto)
        return body, more

    def on_count(self, call: Call, name: str) -> Response:
        """``{set}/$count``: the rows of the table, or with ``$deltatoken`` the changes since it, as text."""
        table = self._table(name)
        token = call.request.args.get("$deltatoken")
        with self.lock:
            if token is not None:
                count = len(self._changes(table, self._read_token(token), self.version))
            else:
                count = len(self.rows[table.entity_set])
        return Response(str(count), content_type="text/plain; charset=utf-8")

    # ---------------------------------------------------------------------- control hooks

    def _control_dispatch(self, request: Request, parts: list[str]) -> Any:
        if parts == ["delta_tokens", "expire"] and request.method == "POST":
            with self.lock:  # tokens issued so far fall below the floor; the next ones (new version) do not
                expired = self.version
                self.version += 1
                self.delta_floor = self.version
            return {"expired_up_to_version": expired}
        return super()._control_dispatch(request, parts)

    def control_objects(self) -> list[str]:
        return list(TABLES)

    def _record(self, obj: str, record_id: str) -> Record:
        row = self.rows[obj].get(str(record_id).lower())
        if row is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return row

    def _plain(self, obj: str, row: Record) -> Record:
        return {c: render_time(row.get(c)) if c in DATETIME_COLUMNS else row.get(c) for c in self.columns(TABLES[obj])}

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        pk = TABLES[obj].pk
        return [self._plain(obj, r) for r in sorted(self.rows[obj].values(), key=lambda r: (r["createdon"], r[pk]))]

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": str(record_id).lower(), "record": self._plain(obj, self._record(obj, record_id))}

    def _now(self) -> str:
        """Now on the sandbox clock, to the second (Dataverse keeps seconds)."""
        return canonical(self.clock.now().replace(microsecond=0))

    def _set(self, obj: str, row: Record, fields: dict[str, Any]) -> None:
        table = TABLES[obj]
        for name, value in fields.items():
            if name in READ_ONLY or name == table.pk:
                raise ControlError(400, f"{name} is read-only")
            if name not in self.columns(table):
                if name.startswith("_") or "_" not in name.strip("_"):
                    raise ControlError(400, f"{obj} has no column {name!r} (custom columns need a publisher prefix)")
                self.custom[obj].append(name)
            if name == "_transactioncurrencyid_value" and value in CURRENCIES:
                value = next(r["transactioncurrencyid"] for r in self.rows["transactioncurrencies"].values()
                             if r["isocurrencycode"] == value)
            row[name] = _exact(name, value, table)
        if obj == "opportunityproducts":
            self._price_line(row, table)

    @staticmethod
    def _price_line(row: Record, table: Table) -> None:
        """Dataverse computes a line's amounts: quantity × unit price, less the discount, plus the tax."""
        base = _exact("baseamount", row["quantity"] * row["priceperunit"], table)
        row["baseamount"] = base
        row["extendedamount"] = _exact("extendedamount", base - row["manualdiscountamount"] + row["tax"], table)

    def _defaults(self, obj: str, record_id: str, now: str) -> Record:
        table = TABLES[obj]
        row: Record = {c: None for c in self.columns(table)}
        row.update({table.pk: record_id, "createdon": now})
        eur = next(r for r in self.rows["transactioncurrencies"].values() if r["isocurrencycode"] == "EUR")
        defaults = {"statecode": 0, "statuscode": 1, "_transactioncurrencyid_value": eur["transactioncurrencyid"],
                    "exchangerate": Decimal("1").quantize(RATE), "isdisabled": False, "isrevenuesystemcalculated": False,
                    "quantity": Decimal("1").quantize(QUANTITY), "priceperunit": Decimal("0").quantize(MONEY),
                    "manualdiscountamount": Decimal("0").quantize(MONEY), "tax": Decimal("0").quantize(MONEY),
                    "baseamount": Decimal("0").quantize(MONEY), "extendedamount": Decimal("0").quantize(MONEY),
                    "isproductoverridden": False, "ispriceoverridden": False}
        row.update({k: v for k, v in defaults.items() if k in row})
        return row

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now, fields = self._now(), body.get("fields", {})
        row = self._defaults(obj, str(uuid.UUID(int=self._rng.getrandbits(128), version=4)), now)
        if obj == "opportunityproducts" and fields.get("_opportunityid_value") not in self.rows["opportunities"]:
            raise ControlError(400, "opportunityproducts needs the id of an existing opportunity in _opportunityid_value")
        self._set(obj, row, fields)
        self.rows[obj].insert(row, at=now)
        return {"id": row[TABLES[obj].pk], "record": self._plain(obj, row)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        row = self._record(obj, record_id)
        self._set(obj, row, body.get("fields", {}))
        self.rows[obj].touch(row[TABLES[obj].pk])
        return {"id": row[TABLES[obj].pk], "record": self._plain(obj, row)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        """Delete for good (an opportunity takes its products with it, as Dataverse cascades)."""
        row = self._record(obj, record_id)
        record_id = row[TABLES[obj].pk]
        if obj == "opportunities":
            for line in [r for r in self.rows["opportunityproducts"].values() if r["_opportunityid_value"] == record_id]:
                self._forget("opportunityproducts", line["opportunityproductid"])
        self._forget(obj, record_id)
        return {"id": record_id, "record": self._plain(obj, row)}

    def _forget(self, obj: str, record_id: str) -> None:
        self.rows[obj].delete(record_id)

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Create copies of random rows and touch others, all with one modification time (each its own version)."""
        now, table = self._now(), TABLES[obj]
        live = list(self.rows[obj].values())
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        created = []
        for _ in range(create):
            row = _copy(self._rng.choice(live)) if live else self._defaults(obj, "", now)
            row.update({table.pk: str(uuid.UUID(int=self._rng.getrandbits(128), version=4)), "createdon": now})
            if isinstance(row.get(table.primary_name), str):
                row[table.primary_name] = f"Sandbox Bulk {obj} {next(self._bulk_serial):07d}"
            self.rows[obj].insert(row, at=now)
            created.append(row[table.pk])
        for row in touched:
            self._set(obj, row, fields)
            self.rows[obj].touch(row[table.pk], at=now)
        return {"object": obj, "stamp": render_time(now), "created": create, "touched": touch,
                "created_ids": created, "touched_ids": [r[table.pk] for r in touched]}


def _exact(name: str, value: Any, table: Table) -> Any:
    """Control-API numbers as Dataverse stores them: money with 4 places, quantities 5, exchange rates 10
    (sent as JSON numbers, or as strings of digits to keep every one)."""
    if isinstance(value, float):
        value = Decimal(repr(value))
    scale = MONEY if name in table.money else SCALES.get(name)
    if scale is None or value is None or isinstance(value, bool):
        return value
    try:
        return Decimal(value).quantize(scale)
    except (ArithmeticError, TypeError, ValueError):
        raise ControlError(400, f"{name} must be a number (digits as a string keep them exact), got {value!r}") from None


def _copy(row: Record) -> Record:
    out = dict(row)
    for name in ("createdon", "modifiedon"):
        if isinstance(out.get(name), str):
            out[name] = canonicalize(out[name])
    return out
