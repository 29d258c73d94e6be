"""QuickBooks Online Accounting API v3 (``minorversion=75`` on every call): the books of one company (realm).

- Auth: OAuth 2 refresh-token grant at ``token_url`` with HTTP Basic client credentials. Every refresh answers
  a new refresh token and retires the previous one 24 h later, so the latest is kept in the warehouse
  (:mod:`passerelle.connectors.token_store`); the Connection's ``refresh_token`` only seeds the chain.
- Changes: ``SELECT * FROM <Entity> WHERE Metadata.LastUpdatedTime >= '<start>' AND Metadata.LastUpdatedTime <
  '<end>' ORDERBY Metadata.LastUpdatedTime, Id``, bounds written with their offset, name lists (Customer, Item)
  with ``Active IN (true,false)`` (else inactive ones are hidden), paged by ``STARTPOSITION`` (1-based) and
  ``MAXRESULTS`` inside the query text until a short page.
- Deletions: customers and items are never deleted, only made inactive (``Active`` false, in the listing).
  For the transactions, after the listing, one CDC call (``cdc?entities=<Entity>&changedSince=<window start>``) turns
  ``"status": "Deleted"`` objects inside the window into tombstones. CDC looks back 30 days from the company's
  clock (the ``time`` of the last answer): an older start is moved up and the deletions before it are logged
  as unseen. One entity per call: CDC's cap of 1,000 objects is shared by the entities of a call and cuts the
  deleted objects (listed last) first, so another entity's changes never hide these; a call reaching the cap
  is logged. TimeActivity is not in CDC: its ids are listed in full each run and diffed with the previous
  census (:class:`~passerelle.connectors.snapshot.SnapshotDiff` over ids only); the missing ones become tombstones.
- Errors: a ``Fault`` answered with HTTP 200 (a query the parser refuses) fails the window naming the fault;
  429 waits 60 s (Intuit's advice, no ``Retry-After``; at most ``retry_max_wait``); every failing call's
  ``intuit_tid`` is logged and named in the error, for Intuit's support.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import requests

from passerelle import exact_json
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonResponse, retry_after_header
from passerelle.connectors.incremental import WindowFilter, in_window
from passerelle.connectors.options import QuickBooksOptions
from passerelle.connectors.paginators import PageRequest, PageResponse, Paginator, at, json_api_sender, paginate
from passerelle.connectors.paging import PageCursor, UnusableResponseError
from passerelle.connectors.rest import ConnectionApi, RestReader, RestStream, connection_api
from passerelle.connectors.retry import Retryable, RetrySettings
from passerelle.connectors.snapshot import SnapshotDiff, iso
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.connectors.token_store import StoredRefreshTokenGrant, TokenStore
from passerelle.errors import SourceRequestError, one_line
from passerelle.records import Window

log = logging.getLogger(__name__)

MINOR_VERSION = 75
CURSOR = "MetaData.LastUpdatedTime"
CDC_LOOKBACK = timedelta(days=30) - timedelta(minutes=5)  # a margin for the time the call takes
CDC_CAP = 1000
THROTTLE_WAIT = 60.0
_PAGE = re.compile(r"(?s)(.*) STARTPOSITION (\d+) MAXRESULTS (\d+)")


def fault_text(body: Any) -> str:
    """``<type>: <code> <message>; ...`` of a QuickBooks ``Fault`` body."""
    fault = body.get("Fault") if isinstance(body, dict) else None
    if not isinstance(fault, dict):
        return ""
    errors = [e for e in fault.get("Error") or [] if isinstance(e, dict)]
    details = "; ".join(f"{e.get('code', '')} {e.get('Message', '')} {e.get('Detail', '')}".strip() for e in errors)
    return one_line(f"{fault.get('type', 'Fault')}: {details}")[:500]


class QuickBooksFault(SourceRequestError):
    """QuickBooks refused the call with a ``Fault`` (in an HTTP 200 or an error status)."""


@dataclass
class QuickBooksApi(ConnectionApi):
    """Calls under ``/v3/company/{realm}`` with ``minorversion``; Faults, 429 and ``intuit_tid`` as above."""

    realm: str = ""
    server_time: datetime | None = field(default=None, init=False, repr=False)

    def fetch(self, method: str, path: str, *, stream: str, **kwargs: Any) -> JsonResponse:
        params = {**(kwargs.pop("params", None) or {}), "minorversion": MINOR_VERSION}
        answer = super().fetch(method, f"/v3/company/{self.realm}{path}", stream=stream, params=params, **kwargs)
        body = answer.body
        if isinstance(body, dict) and "Fault" in body:
            tid = answer.headers.get("intuit_tid", "none")
            log.error("quickbooks.%s %s %s: %s (intuit_tid %s)", stream, method, path, fault_text(body), tid)
            raise QuickBooksFault(f"{stream} {method} {path}: {fault_text(body)} (intuit_tid {tid})",
                                  check="the query or parameters named (QuickBooks refused them)")
        if path == "/query" and not isinstance(at(body, "QueryResponse"), dict):  # not an empty page: refused
            raise UnusableResponseError(f"{method} /query: the answer holds no QueryResponse object")
        if isinstance(body, dict) and isinstance(body.get("time"), str):
            self.server_time = parse_timestamp(body["time"])
        return answer

    def check_response(self, response: requests.Response, stream: str) -> None:
        if response.status_code < 300:
            return
        tid = response.headers.get("intuit_tid", "none")
        try:
            detail = fault_text(exact_json.loads(response.content)) or one_line(response.text)[:300]
        except ValueError:
            detail = one_line(response.text)[:300]
        log.warning("quickbooks.%s %s %s: HTTP %d %s (intuit_tid %s)", stream, response.request.method,
                    response.request.path_url.split("?")[0], response.status_code, detail, tid)
        if response.status_code == 429:
            raise Retryable(f"throttled (HTTP 429) {detail} (intuit_tid {tid})",
                            retry_after=retry_after_header(response) or min(THROTTLE_WAIT, self.retry.max_wait))
        if response.status_code in (400, 404) and detail:
            raise QuickBooksFault(f"{stream} {response.request.method} {response.request.path_url.split('?')[0]}: "
                                  f"HTTP {response.status_code} {detail} (intuit_tid {tid})")
        super().check_response(response, stream)


def connect(config: SourceConfig, retry: RetrySettings) -> QuickBooksApi:
    """Host = the API base, login/password = the app's client id and secret, extras ``realm_id`` and the seed
    ``refresh_token``; the token endpoint is ``token_url``."""
    if not config.conn_id:
        raise ValueError("quickbooks: the rotated refresh token is stored per connection, but no conn_id was given")
    tokens = StoredRefreshTokenGrant(
        TokenStore(config.conn_id, config.warehouse), token_url=config.option("token_url", QuickBooksOptions.model_fields[
            "token_url"].default), client_id=config.login or "", client_secret=config.password or "",
        seed=config.option("refresh_token"), verify=config.verify, timeout=float(config.option("timeout", 60)))
    return connection_api("quickbooks", config, retry, tokens, api=QuickBooksApi, realm=config.option("realm_id", ""))


def qbo_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass(frozen=True)
class LastUpdated(WindowFilter):
    """The window as the query's ``WHERE`` on ``Metadata.LastUpdatedTime`` (half-open), oldest first then by id."""

    entity: str = ""
    name_list: bool = False

    def params(self, window: Window) -> dict[str, Any]:
        where = [f"Metadata.LastUpdatedTime >= '{qbo_time(window.start)}'"] if window.start is not None else []
        where += [f"Metadata.LastUpdatedTime < '{qbo_time(window.end)}'"]
        where += ["Active IN (true,false)"] if self.name_list else []
        return {"query": f"SELECT * FROM {self.entity} WHERE {' AND '.join(where)} ORDERBY Metadata.LastUpdatedTime, Id"}


@dataclass(frozen=True)
class StartPosition(Paginator):
    """Pages inside the query text: `` STARTPOSITION <n> MAXRESULTS <size>`` closes the ``query`` parameter (the
    size comes from the request's ``MAXRESULTS`` parameter, the ``page_size`` option); a short page ends."""

    size: int = 1000
    ordered = True

    def first(self, request: PageRequest) -> PageRequest:
        params = dict(request.params)
        size = int(params.pop("MAXRESULTS", self.size))
        return replace(request, params={**params, "query": f"{params['query']} STARTPOSITION 1 MAXRESULTS {size}"})

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        match = _PAGE.fullmatch(str(request.params["query"]))
        assert match is not None
        query, position, size = match.group(1), int(match.group(2)), int(match.group(3))
        if len(items) < size:
            return None
        following = guard.advance(position + len(items), len(items))
        return request.with_params(query=f"{query} STARTPOSITION {following} MAXRESULTS {size}")


def query_pages(api: QuickBooksApi, stream: str, entity: str, query: str) -> Iterator[tuple[list[Any], str]]:
    """Every page of ``query`` (without its paging clause)."""
    request = PageRequest("/query", params={"query": query, "MAXRESULTS": api.option("page_size", 1000)})
    for page in paginate(json_api_sender(api, stream), request, StartPosition(),
                         records=f"QueryResponse.{entity}", what=f"query {entity}", base_url=api.base_url):
        yield page.items, page.request.location


@dataclass(frozen=True)
class CdcDeletions:
    """Tombstones of the objects CDC reports deleted inside the window (see the module doc)."""

    entity: str

    def pages(self, api: QuickBooksApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        if window.start is None:
            return  # the first window lists the live objects only: nothing is deleted yet
        since, horizon = window.start, (api.server_time or window.end) - CDC_LOOKBACK
        if since < horizon:
            log.warning("quickbooks.%s: CDC looks back 30 days only: deletions of %s objects before %s could not "
                        "be seen", stream.name, self.entity, qbo_time(horizon))
            since = horizon
            if since >= window.end:
                return
        params = {"entities": self.entity, "changedSince": qbo_time(since)}
        body = api.request("GET", "/cdc", stream=stream.name, params=params)
        objects = [o for response in at(body, "CDCResponse", []) or [] if isinstance(response, dict)
                   for query in response.get("QueryResponse") or [] if isinstance(query, dict)
                   for o in query.get(self.entity) or []]
        if not isinstance(at(body, "CDCResponse"), list):
            raise UnusableResponseError(f"GET /cdc?entities={self.entity}: the answer holds no CDCResponse list")
        if len(objects) >= CDC_CAP:
            log.warning("quickbooks.%s: CDC answered %d %s objects (its cap): deletions listed after them may be "
                        "missing", stream.name, len(objects), self.entity)
        gone = [{"Id": o.get("Id"), "deleted": True, "MetaData": o.get("MetaData"), "cdc": o} for o in objects
                if isinstance(o, dict) and o.get("status") == "Deleted" and in_window(o, CURSOR, window)]
        if gone:
            yield RawPage(gone, f"GET /cdc?entities={self.entity}&changedSince={params['changedSince']}")


@dataclass(frozen=True)
class IdCensus:
    """Tombstones for objects no longer listed, for entities CDC does not cover: every id is listed and diffed
    with the previous census (ids only: content changes are the window listing's). A tombstone is dated by
    the latest window end read, so it wins over every version a later window loaded even in a backfill."""

    entity: str
    diff: SnapshotDiff = SnapshotDiff("Id")

    def pages(self, api: QuickBooksApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        census = state.setdefault("census", {})
        until = max([window.end, *([parse_timestamp(census["until"])] if census.get("until") else [])])
        listing = (([{"Id": o.get("Id")} if isinstance(o, dict) else o for o in items], location)
                   for items, location in query_pages(api, stream.name, self.entity, f"SELECT * FROM {self.entity} ORDERBY Id"))
        for page in self.diff.diff(listing, stream.name, Window(window.start, until), census):
            gone = [item for item in page.items if isinstance(item, dict) and item.get("deleted") is True]
            if gone:
                yield RawPage(gone, page.location)
        census["until"] = iso(until)


def entity(name: str, entity_name: str, description: str, *, name_list: bool = False, cdc: bool = True) -> StreamSpec:
    """A query listing by window; then deletions from CDC, from an id census (``cdc=False``), or none for name
    lists (QuickBooks never deletes a customer or an item: it makes it inactive, which the listing carries)."""
    deletions = () if name_list else (CdcDeletions(entity_name) if cdc else IdCensus(entity_name),)
    listing = RestStream(name, "/query", records=f"QueryResponse.{entity_name}", paginator=StartPosition(),
                         primary_key="Id", cursor_field=CURSOR, params=(("MAXRESULTS", 1000),),
                         option_params=(("MAXRESULTS", "page_size"),),
                         incremental=LastUpdated(CURSOR, entity=entity_name, name_list=name_list))
    return StreamSpec(name=name, primary_key="Id", cursor_field=CURSOR, deleted_field="deleted",
                      deleted_cursor_field=None if cdc else "observedAt", description=description,
                      readers=(RestReader(listing), *deletions))


@dataclass(frozen=True)
class CompanyInfoReader:
    """``companyinfo/{realm}``: the company itself, kept when it changed inside the window."""

    def pages(self, api: QuickBooksApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        company = at(api.request("GET", f"/companyinfo/{api.realm}", stream=stream.name), "CompanyInfo")
        if not isinstance(company, dict):
            raise UnusableResponseError(f"GET /companyinfo/{api.realm}: the answer holds no CompanyInfo object")
        if in_window(company, CURSOR, window):
            yield RawPage([company], f"GET /companyinfo/{api.realm}")


QUICKBOOKS = SourceSpec(
    name="quickbooks", title="QuickBooks Online", connect=connect, options=QuickBooksOptions,
    tags=("accounting",),
    doc="""Extracts QuickBooks Online (Accounting API v3: queries on Metadata.LastUpdatedTime, deletions by CDC).

Connection `passerelle_quickbooks`: host = `https://quickbooks.api.intuit.com`, login = the app's client id,
password = its client secret, extras `realm_id` (required) and `refresh_token` (the first of the chain; the latest
is kept in audit.oauth_refresh_tokens), `token_url`, `page_size` (1000), `ca_bundle`, `timeout`.
""",
    streams=(
        entity("customers", "Customer", "Customers, inactive ones included (SIREN / VAT written in Notes)",
               name_list=True),
        entity("items", "Item", "Products and services, inactive ones included", name_list=True),
        entity("invoices", "Invoice", "Invoices (DocNumber = the number Passerelle issued), lines, balance"),
        entity("credit_memos", "CreditMemo", "Credit memos"),
        entity("payments", "Payment", "Payments and the invoices / credit memos each line settles (LinkedTxn)"),
        entity("time_activities", "TimeActivity", "Time activities (deletions by id census: not in CDC)", cdc=False),
        StreamSpec(name="company_info", primary_key="Id", cursor_field=CURSOR, readers=(CompanyInfoReader(),),
                   description="The company: legal name, address, country, fiscal settings"),
    ),
)
