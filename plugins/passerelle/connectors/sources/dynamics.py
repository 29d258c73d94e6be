"""Dynamics 365 Sales / Dataverse Web API v9.2: window listings on ``modifiedon``, deletions from change tracking.

- Auth: Entra ID client credentials through msal (:class:`~passerelle.connectors.auth.EntraClientCredentials`)
  at ``{authority_host}/{tenant_id}`` for ``{org}/.default``; tokens are reused until they expire and a
  401 asks for a new one.
- Changes: each window lists ``$filter=modifiedon ge <start> and modifiedon lt <end>`` (no lower bound on
  the first) ordered ``modifiedon asc,<key> asc``, so a backfill re-reads exactly its interval and rows
  sharing a ``modifiedon`` across a page boundary are neither skipped nor repeated (the paging cookie
  keeps the last row). Pages follow ``@odata.nextLink`` unchanged with the same ``Prefer`` header
  (``odata.maxpagesize``, FormattedValue annotations: option-set labels stay in raw next to the codes).
- Deletions: change tracking. Before its listing, a stream reads the delta link kept in its state and
  turns ``$deletedEntity`` rows into tombstones (new and updated rows are the listing's); the first run
  only takes a baseline (``Prefer: odata.track-changes``, ``$select=<key>``) and keeps its delta link. An
  expired or unknown delta token (400 ``0x80044352`` / ``0x80040203``) takes a new baseline, whose ids are
  compared with the records the warehouse holds as live: the missing ones (the deletions of the gap) become
  tombstones, unless they are more than ``census_max_missing_ratio`` of them (refused: a lost privilege looks
  the same). A tombstone's cursor is the latest window end the stream has read: no version loaded before
  is later, so it wins, and a rerun of the window finds the delta already consumed. Tables whose change
  tracking is off (``EntityDefinitions``) get the window listing only.
- Throttling: service protection answers 429 with ``Retry-After`` (requests, execution time, concurrency),
  waited out by the shared policy; 5xx are retried; OData error bodies (code and message) are named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import quote, urlencode, urlsplit

import requests

from passerelle import exact_json
from passerelle.connectors.auth import EntraClientCredentials
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonResponse, PinnedCASession, retry_after_header
from passerelle.connectors.incremental import WindowFilter
from passerelle.connectors.options import DynamicsOptions
from passerelle.connectors.paginators import ODataNextLink, PageRequest, PageResponse, paginate
from passerelle.connectors.paging import UnusableResponseError
from passerelle.connectors.rest import ConnectionApi, RestReader, RestStream, connection_api
from passerelle.connectors.retry import Retryable, RetrySettings
from passerelle.connectors.snapshot import iso, refuse_mass_deletion
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.errors import one_line
from passerelle.load.raw_loader import live_record_ids
from passerelle.records import Window

log = logging.getLogger(__name__)

API = "/api/data/v9.2"
LABELS = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'
TRACK = "odata.track-changes"
REFUSED_DELTA = ("0x80044352", "0x80040203")
"""Expired (older than ``ExpireChangeTrackingInDays``) and invalid (another org, a restored one)."""
STATE_KEY = "change_tracking"
SAFE = "$,:'"
"""Left as they are in query options (`$filter=modifiedon%20ge%202026-03-01T00:00:00Z`)."""


class DeltaTokenRefused(Exception):
    """The saved delta link is older than the org keeps change tracking (``ExpireChangeTrackingInDays``) or
    unknown to it (the Connection now points to another org, or the org was restored from a backup)."""


def odata_error(response: requests.Response) -> str:
    """``code: message`` of an OData error body, else the body's start."""
    try:
        error = exact_json.loads(response.content).get("error")
        return f"{error['code']}: {error['message']}"
    except (ValueError, AttributeError, KeyError, TypeError):
        return one_line(response.text)[:300]


class DataverseApi(ConnectionApi):
    """OData headers and ``%20``-encoded query options on every call; 429 and 5xx name the OData error;
    a refused delta token is surfaced for a new baseline."""

    _tracked: frozenset[str] | None = None

    def fetch(self, method: str, path: str, *, stream: str, prefer: str = "", **kwargs: Any) -> JsonResponse:
        params = kwargs.pop("params", None)
        if params:  # OData reads `$filter=a%20ge%20b` as the docs write it: no `+` for spaces
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(params, quote_via=quote, safe=SAFE)}"
        size = self.option("page_size", 5000)
        headers = {"OData-MaxVersion": "4.0", "OData-Version": "4.0",
                   "Prefer": prefer or f"odata.maxpagesize={size},{LABELS}", **(kwargs.pop("headers", None) or {})}
        return super().fetch(method, path, stream=stream, headers=headers, **kwargs)

    def check_response(self, response: requests.Response, stream: str) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            raise Retryable(f"{'throttled ' if status == 429 else ''}(HTTP {status}) {odata_error(response)}",
                            retry_after=retry_after_header(response))
        if status == 400 and "$deltatoken=" in response.request.url and any(c in response.text for c in REFUSED_DELTA):
            raise DeltaTokenRefused(odata_error(response))
        super().check_response(response, stream)

    def tracks_changes(self, entity_set: str, stream: str) -> bool:
        """Whether the table has change tracking on (read once per connection)."""
        if self._tracked is None:
            body = self.request("GET", f"{API}/EntityDefinitions", stream=stream, params={
                "$select": "LogicalName,EntitySetName,ChangeTrackingEnabled",
                "$filter": "ChangeTrackingEnabled eq true"})
            rows = body.get("value") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise UnusableResponseError(f"GET {API}/EntityDefinitions: no 'value' list")
            self._tracked = frozenset(str(r.get("EntitySetName")) for r in rows
                                      if isinstance(r, dict) and r.get("ChangeTrackingEnabled"))
        return entity_set in self._tracked


def connect(config: SourceConfig, retry: RetrySettings, source: str = "dynamics") -> DataverseApi:
    """Host = the org URL, login = the app's client id, password = its secret, extra ``tenant_id``
    (``source`` names the extract in errors: Project for the web reads the same Dataverse)."""
    http = PinnedCASession(config.verify, float(config.option("timeout", 60)))
    tokens = EntraClientCredentials(
        authority=f"{str(config.option('authority_host', 'https://login.microsoftonline.com')).rstrip('/')}/"
                  f"{config.option('tenant_id', '')}",
        client_id=config.login or "", client_secret=config.password or "", scope=f"{config.base_url}/.default",
        http=http)
    return connection_api(source, config, retry, tokens, api=DataverseApi)


def odata_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ModifiedOnWindow(WindowFilter):
    """The window as ``$filter`` on ``modifiedon`` (half-open), oldest first then by primary key."""

    key: str = ""

    def params(self, window: Window) -> dict[str, Any]:
        bounds = [f"modifiedon ge {odata_time(window.start)}"] if window.start is not None else []
        return {"$filter": " and ".join([*bounds, f"modifiedon lt {odata_time(window.end)}"]),
                "$orderby": f"modifiedon asc,{self.key} asc"}


def relative(link: str) -> str:
    """A delta link without its origin (kept in the state: the org's host may be renamed)."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@dataclass(frozen=True)
class DeletionsReader:
    """Tombstones from change tracking (see the module doc); runs before the listing so that a baseline
    misses no deletion between the two."""

    entity_set: str
    key: str

    def pages(self, api: DataverseApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        if not api.tracks_changes(self.entity_set, stream.name):
            return
        saved = state.get(STATE_KEY) or {}
        until = max([window.end, *([parse_timestamp(saved["until"])] if saved.get("until") else [])])
        link, stamp = saved.get("delta_link"), {"version_at": iso(until)}
        refused = False
        try:
            if link:
                for gone, location in self._changes(api, stream.name, link, state):
                    yield RawPage([{self.key: row.get("id"), "deleted": True, "change": row, "_passerelle": stamp}
                                   for row in gone], location)
        except DeltaTokenRefused as exc:
            log.warning("dynamics.%s: change tracking refused the saved delta token (%s): deletions since the "
                        "last run could not be seen; taking a new baseline and comparing it with the warehouse",
                        stream.name, exc)
            link, refused = None, True
        if not link:
            present: set[str] = set()
            for _ in self._changes(api, stream.name, f"{API}/{self.entity_set}?$select={self.key}", state, present):
                pass
            if refused:
                yield from self._vanished(api, stream.name, present, stamp)
        state[STATE_KEY]["until"] = iso(until)

    def _vanished(self, api: DataverseApi, stream: str, present: set[str],
                  stamp: dict[str, str]) -> Iterator[RawPage]:
        """Tombstones for the records the warehouse holds as live that a new baseline no longer lists: the
        deletions the lost delta token would have reported. A baseline missing more than
        ``census_max_missing_ratio`` of them is refused (a lost privilege looks the same)."""
        opener = api.config.warehouse if api.config is not None else None
        if opener is None:
            log.warning("dynamics.%s: no warehouse connection to compare the new baseline with", stream)
            return
        conn = opener()
        try:
            known = live_record_ids(conn, api.source, stream)
        finally:
            conn.close()
        missing = sorted(known - present)
        log.info("dynamics.%s: the new baseline lists %d records; %d live in the warehouse, %d of them gone",
                 stream, len(present), len(known), len(missing))
        ratio = float(api.option("census_max_missing_ratio", 0.5))
        refuse_mass_deletion(f"{api.source}.{stream}: the new change-tracking baseline", len(missing), len(known),
                             ratio, hint="lost privilege on the table?", setting="census_max_missing_ratio")
        if missing:
            reason = {"detectedBy": "baseline census", "reason": "absent from the new change-tracking baseline"}
            yield RawPage([{self.key: i, "deleted": True, "change": reason, "_passerelle": stamp} for i in missing],
                          "baseline census")

    def _changes(self, api: DataverseApi, stream: str, link: str, state: dict[str, Any],
                 census: set[str] | None = None) -> Iterator[tuple[list[dict[str, Any]], str]]:
        """The ``$deletedEntity`` rows of every page of a change-tracking listing, per page; the last page's
        delta link goes to the state. A baseline's ids go to ``census`` when one is given."""

        def send(request: PageRequest) -> PageResponse:
            size = api.option("page_size", 5000)
            answer = api.fetch("GET", request.path, stream=stream, prefer=f"{TRACK},odata.maxpagesize={size}")
            return PageResponse(answer.body, answer.headers)

        delta = None
        for page in paginate(send, PageRequest(relative(link)), ODataNextLink(), records="value",
                             what=f"GET {self.entity_set} changes", base_url=api.base_url):
            if not isinstance(page.items, list) or not isinstance(page.response.body, dict):
                raise UnusableResponseError(f"GET {page.request.path}: expected a 'value' list")
            delta = page.response.body.get("@odata.deltaLink")
            gone = [r for r in page.items if isinstance(r, dict)
                    and str(r.get("@odata.context", "")).endswith("$deletedEntity")]
            if census is not None:
                census.update(str(r[self.key]) for r in page.items if isinstance(r, dict) and r.get(self.key))
            if gone:
                yield gone, page.request.location
        if not isinstance(delta, str) or not delta:
            raise UnusableResponseError(f"GET {relative(link)[:200]}: no @odata.deltaLink on the last page of changes")
        state[STATE_KEY] = {"delta_link": relative(delta)}


def table(entity_set: str, key: str, description: str) -> StreamSpec:
    listing = RestStream(entity_set, f"{API}/{entity_set}", records="value", require_records=True,
                         paginator=ODataNextLink(), primary_key=key, cursor_field="modifiedon",
                         incremental=ModifiedOnWindow("modifiedon", key=key))
    return StreamSpec(name=entity_set, primary_key=key, cursor_field="modifiedon", deleted_field="deleted",
                      deleted_cursor_field="_passerelle.version_at", description=description,
                      readers=(DeletionsReader(entity_set, key), RestReader(listing)))


DYNAMICS = SourceSpec(
    name="dynamics", title="Dynamics 365 Sales", connect=connect, options=DynamicsOptions, tags=("crm",),
    streams=(
        table("accounts", "accountid", "Customers (custom columns <prefix>_siren, _siret, _vatnumber)"),
        table("contacts", "contactid", "People, with their parent account"),
        table("opportunities", "opportunityid", "Deals (won = statecode 1), with currency and exchange rate"),
        table("opportunityproducts", "opportunityproductid", "Opportunity lines: product, quantity, prices, tax"),
        table("products", "productid", "Product catalogue"),
        table("systemusers", "systemuserid", "Users (record owners)"),
        table("transactioncurrencies", "transactioncurrencyid", "Currencies (ISO codes of the opportunities)"),
    ),
    doc="""Extracts Dynamics 365 Sales (Dataverse Web API v9.2: windows on modifiedon, deletions by change tracking).

Connection `passerelle_dynamics`: host = the org URL (`https://contoso.crm4.dynamics.com`), login = the app
registration's client id, password = its client secret, extra `tenant_id` (required); `authority_host`
(`https://login.microsoftonline.com`), `page_size` (5000), `ca_bundle`, `timeout`.
""",
)
