"""Salesforce: SOQL over the REST ``queryAll`` resource through simple-salesforce.

Each window is ``SystemModstamp >= start AND SystemModstamp < end ORDER BY SystemModstamp, Id``:
a closed range on the system timestamp (which also moves on automated changes), ordered by a
unique compound key so that records sharing a timestamp across a page boundary are neither
skipped nor repeated. ``queryAll`` returns soft-deleted rows with ``IsDeleted = true``: they become
tombstones. Columns come from ``describe``, so custom fields (SIREN__c...) are extracted too.

A window first counts its rows (``SELECT COUNT()`` on ``queryAll``); above ``bulk_threshold`` it is read
by a Bulk API 2.0 ``queryAll`` job with the same SOQL (:mod:`.salesforce_bulk`), whose records come out
exactly as REST gives them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)

from passerelle import exact_json
from passerelle.connectors.paginators import NextUrl, PageRequest, PageResponse, paginate
from passerelle.connectors.paging import max_response_mb
from passerelle.connectors.auth import JwtBearerGrant, RefreshTokenGrant, TokenProvider
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import PinnedCASession
from passerelle.connectors.retry import NeedsReauth, Retryable, RetrySettings, call_with_retries
from passerelle.connectors.sources.salesforce_bulk import BulkQuery
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import soql_datetime
from passerelle.errors import AuthError, BadRecordError, SourceRequestError, one_line
from passerelle.records import Window

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_API_VERSION = "62.0"
# Compound fields duplicate their components and are not filterable; the components are extracted.
_SKIPPED_FIELD_TYPES = {"address", "location"}
QUERY_ALL = "queryAll"
NEXT_RECORDS = NextUrl("nextRecordsUrl", done_field="done", paths_only=True)
"""``queryAll`` pages: ``nextRecordsUrl`` (a path on the instance) until ``done``."""


def token_provider(config: SourceConfig) -> TokenProvider:
    """Refresh-token grant by default; JWT bearer when the connection carries a private key."""
    token_url = f"{config.base_url}/services/oauth2/token"
    flow = config.option("auth_flow") or ("jwt_bearer" if config.option("private_key_path") else "refresh_token")
    if flow == "jwt_bearer":
        return JwtBearerGrant.from_key_file(
            config.option("private_key_path"),
            token_url=token_url,
            client_id=config.login or "",
            username=config.option("username", ""),
            audience=config.option("audience", config.base_url),
            verify=config.verify,
        )
    if flow == "refresh_token":
        return RefreshTokenGrant(
            token_url=token_url,
            client_id=config.login or "",
            client_secret=config.password or "",
            refresh_token=config.option("refresh_token", ""),
            verify=config.verify,
        )
    raise AuthError(f"unknown auth_flow {flow!r}", check="the auth_flow extra: refresh_token or jwt_bearer")


def _classify(exc: SalesforceError) -> Exception:
    """Map simple-salesforce errors to the engine's retry vocabulary."""
    codes = {e.get("errorCode") for e in exc.content if isinstance(e, dict)} if isinstance(exc.content, list) else set()
    if isinstance(exc, SalesforceExpiredSession) or "INVALID_SESSION_ID" in codes:
        return NeedsReauth(str(codes or exc.status))
    if isinstance(exc, SalesforceRefusedRequest) and "REQUEST_LIMIT_EXCEEDED" in codes:
        return Retryable("REQUEST_LIMIT_EXCEEDED (API limits; see Sforce-Limit-Info)")
    if (isinstance(exc, SalesforceGeneralError) and exc.status >= 500) or "QUERY_TIMEOUT" in codes:
        return Retryable(f"HTTP {exc.status} {sorted(codes) or ''}".strip())
    if isinstance(exc, SalesforceRefusedRequest):
        return AuthError(f"request refused (HTTP 403): {one_line(str(exc.content))[:300]}",
                         check="the integration user's permissions (API Enabled, access to this object)")
    return SourceRequestError(f"request rejected (HTTP {exc.status}): {one_line(str(exc.content))[:300]}")


class ExactSalesforce(Salesforce):
    """simple-salesforce with responses parsed exactly (Decimal, big int), never through float."""

    def parse_result_to_json(self, result: requests.Response) -> Any:
        return exact_json.loads(result.content)


@dataclass
class SalesforceSession:
    """An authenticated simple-salesforce client that re-authenticates when the session expires.

    The client is built on the first call, inside the retry policy: an unreachable or throttled
    token endpoint is retried like any other request.
    """

    config: SourceConfig
    retry: RetrySettings
    tokens: TokenProvider
    api_version: str = DEFAULT_API_VERSION
    batch_size: int = 2000
    timeout: float = 60.0
    bulk_threshold: int = 10_000
    use_bulk: bool = True
    bulk_page_size: int = 10_000
    bulk_timeout: float = 3600.0
    client: Salesforce | None = None
    _http: requests.Session = field(init=False, repr=False)
    _fields: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._http = PinnedCASession(self.config.verify, self.timeout, max_response_mb(self.config))

    def _connect(self, token: Any) -> None:
        instance_url = token.instance_url or self.config.base_url
        self.client = ExactSalesforce(
            instance_url=instance_url, session_id=token.access_token, version=self.api_version, session=self._http
        )

    def reauthenticate(self) -> None:
        self._connect(self.tokens.refresh())

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        def once() -> T:
            if self.client is None:
                self._connect(self.tokens.token())
            assert self.client is not None
            try:
                return fn(self.client)
            except SalesforceError as exc:
                raise _classify(exc) from exc
            except ValueError as exc:  # json.JSONDecodeError, or bytes that are not UTF-8
                raise BadRecordError("salesforce", what, "(response)", f"malformed JSON in response: {exc}") from exc

        return call_with_retries(once, what=f"salesforce {what}", settings=self.retry, reauthenticate=self.reauthenticate)

    def fields(self, sobject: str) -> list[str]:
        return list(self.field_types(sobject))

    def field_types(self, sobject: str) -> dict[str, str]:
        """Extracted field names (describe order) and their describe types."""
        if sobject not in self._fields:
            described = self.call(f"{sobject} describe", lambda sf: getattr(sf, sobject).describe())
            self._fields[sobject] = {
                f["name"]: f.get("type", "") for f in described["fields"] if f.get("type") not in _SKIPPED_FIELD_TYPES
            }
        return self._fields[sobject]


def connect(config: SourceConfig, retry: RetrySettings) -> SalesforceSession:
    return SalesforceSession(
        config=config,
        retry=retry,
        tokens=token_provider(config),
        api_version=str(config.option("api_version", DEFAULT_API_VERSION)),
        batch_size=int(config.option("batch_size", 2000)),
        timeout=float(config.option("timeout", 60)),
        bulk_threshold=int(config.option("bulk_threshold", 10_000)),
        use_bulk=bool(config.option("use_bulk", True)),
        bulk_page_size=int(config.option("bulk_page_size", 10_000)),
        bulk_timeout=float(config.option("bulk_timeout", 3600)),
    )


@dataclass(frozen=True)
class SoqlWindowReader:
    """Reads one sObject for a window via ``queryAll`` and follows ``nextRecordsUrl``, or, when the
    window holds more than ``bulk_threshold`` rows, via a Bulk API 2.0 ``queryAll`` job."""

    sobject: str
    cursor_field: str = "SystemModstamp"

    def where(self, window: Window) -> str:
        conditions = [f"{self.cursor_field} < {soql_datetime(window.end)}"]
        if window.start is not None:
            conditions.insert(0, f"{self.cursor_field} >= {soql_datetime(window.start)}")
        return " AND ".join(conditions)

    def soql(self, fields: list[str], window: Window) -> str:
        return (
            f"SELECT {', '.join(fields)} FROM {self.sobject} WHERE {self.where(window)} "
            f"ORDER BY {self.cursor_field} ASC, Id ASC"
        )

    def count(self, session: SalesforceSession, stream: StreamSpec, window: Window) -> int:
        """Rows of the window, soft-deleted ones included (as ``queryAll`` returns them)."""
        soql = f"SELECT COUNT() FROM {self.sobject} WHERE {self.where(window)}"
        body = session.call(stream.name, lambda sf: sf.query(soql, include_deleted=True))
        total = body.get("totalSize") if isinstance(body, dict) else None
        if isinstance(total, bool) or not isinstance(total, int):
            raise BadRecordError("salesforce", stream.name, "(count)", f"totalSize is not an integer: {total!r}")
        return total

    def pages(
        self, session: SalesforceSession, stream: StreamSpec, window: Window, state: dict[str, Any]
    ) -> Iterator[RawPage]:
        soql = self.soql(session.fields(self.sobject), window)
        total = self.count(session, stream, window) if session.use_bulk else 0
        if session.use_bulk and total > session.bulk_threshold:
            log.info("salesforce.%s: %d rows in the window (bulk_threshold %d): Bulk API 2.0",
                     stream.name, total, session.bulk_threshold)
            yield from BulkQuery(session, self.sobject, stream.name).pages(soql)
            return
        headers = {"Sforce-Query-Options": f"batchSize={session.batch_size}"}
        log.info("salesforce.%s: %s", stream.name, soql if len(soql) < 400 else soql[:200] + " ... " + soql[-160:])

        def send(request: PageRequest) -> PageResponse:
            if request.path == QUERY_ALL:
                return PageResponse(session.call(stream.name, lambda sf: sf.query(soql, include_deleted=True,
                                                                                  headers=headers)))
            return PageResponse(session.call(stream.name, lambda sf: sf.query_more(
                request.path, identifier_is_url=True, headers=headers)))

        def instance() -> str:
            return f"https://{session.client.sf_instance}" if session.client else ""

        for page in paginate(send, PageRequest(QUERY_ALL), NEXT_RECORDS, records="records",
                             what=f"{self.sobject} queryAll", base_url=instance):
            yield RawPage(items=page.items, location=page.request.location)


def _stream(sobject: str, description: str) -> StreamSpec:
    return StreamSpec(
        name=sobject,
        primary_key="Id",
        cursor_field="SystemModstamp",
        deleted_field="IsDeleted",
        readers=(SoqlWindowReader(sobject),),
        description=description,
    )


SALESFORCE = SourceSpec(
    name="salesforce",
    title="Salesforce",
    lookback=timedelta(minutes=10),
    connect=connect,
    tags=("crm",),
    streams=(
        _stream("Account", "Customers (billing address, SIREN/SIRET/VAT custom fields)"),
        _stream("Contact", "People at customers"),
        _stream("Opportunity", "Deals: amount, currency, stage, close date"),
        _stream("OpportunityLineItem", "Deal lines: product, quantity, unit price, discount"),
        _stream("Product2", "Product catalogue"),
        _stream("User", "Sales owners"),
    ),
    doc="""Extracts Salesforce through the REST API (`queryAll`, SOQL windows on `SystemModstamp`);
a window of more than `bulk_threshold` rows (10,000) goes through a Bulk API 2.0 `queryAll` job
(`"use_bulk": false` keeps every window on REST and saves the `COUNT()` that chooses).

Connection `passerelle_salesforce`: host = login URL (e.g. `https://login.salesforce.com` or your
My Domain), login = connected app consumer key, password = consumer secret, extra =
`{"refresh_token": ..., "api_version": "62.0", "batch_size": 2000, "bulk_threshold": 10000}` or, for the JWT bearer flow,
`{"auth_flow": "jwt_bearer", "username": ..., "private_key_path": ...}`; `ca_bundle` to trust a private CA.
""",
)
