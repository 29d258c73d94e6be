"""HubSpot CRM v3: search for changed records, archived lists for deletions, v4 associations.

- Changes: ``POST /crm/v3/objects/{type}/search`` filtered on the modification property
  (``hs_lastmodifieddate``; ``lastmodifieddate`` for contacts) with ``GTE start`` / ``LT end`` in
  epoch milliseconds, sorted by ``hs_object_id`` and paged with ``after``. Search refuses to page past
  10,000 results, so before reaching that cap the reader restarts the same window with
  ``hs_object_id > last id``: a window of any size (even one where every record shares a timestamp)
  is read completely. A full load (a window with no start) lists ``GET /crm/v3/objects/{type}``
  instead: search allows only a few requests per second per account, the list endpoint is held to
  the general limit, and a full listing needs no filter.
- Deletions: archiving neither moves the modification date nor shows in search, so each window also
  reads ``GET /crm/v3/objects/{type}?archived=true`` and keeps records archived inside the window
  (cursor ``archivedAt``) as tombstones.
- Associations (deal→company, deal→line item, contact→company) are read per page with the v4 batch
  API and stored under ``associations`` in the raw payload.
- Wide portals: list reads name their properties in the URL, and HubSpot's edge refuses a URL over
  about 16 KB (414). The property list is cut into ``properties=`` values of at most
  ``PROPERTIES_PARAM_BUDGET`` encoded characters; each page is read once per chunk with the same
  ``after`` and the chunks are merged per record id (search sends its properties in the body).
- Deal pipelines (``GET /crm/v3/pipelines/deals``: stages with ``metadata.isClosed`` and
  ``metadata.probability``) have no modification filter: the list is read whole every run and
  versioned by content (only new or changed pipelines are loaded; a vanished one becomes a tombstone).
  Staging tells won and lost deals from these stage metadata, not from stage ids or labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import quote

import requests

from passerelle.connectors.incremental import in_window
from passerelle.connectors.paginators import CursorToken, PageRequest, PageResponse, paginate
from passerelle.connectors.paging import PageCursor, UnusableResponseError, same_origin
from passerelle.connectors.auth import TokenProvider, refresh_or_static
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi, retry_after_header
from passerelle.connectors.rest import ConnectionApi, connection_api
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.snapshot import VERSION_FIELD, SnapshotDiff, SnapshotReader
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import epoch_ms
from passerelle.errors import SourceUnavailableError, one_line
from passerelle.records import Window

SEARCH_CAP = 10_000
SEARCH_PAGE = 200
LIST_PAGE = 100
PROPERTIES_PARAM_BUDGET = 7_000
"""Encoded characters of one ``properties=`` value: under half HubSpot's ~16 KB URL limit (and under
the ~8 KB some clients report), leaving room for the path, the other parameters and a ``link``."""
PAGE_READ_ATTEMPTS = 3
NEXT_AFTER = CursorToken("paging.next.after", "after", link_field="paging.next.link")
"""List pages: ``paging.next.after`` until absent; a ``link`` to another host is refused."""


def throttle_delay(response: requests.Response) -> float | None | bool:
    """HubSpot throttles with 429 and a ``policyName``; the daily quota is not worth waiting for."""
    if response.status_code != 429:
        return False
    try:
        policy = response.json().get("policyName", "")
    except ValueError:
        policy = ""
    if policy == "DAILY":
        raise SourceUnavailableError(f"daily API quota exhausted: {one_line(response.text)[:300]}",
                                     check="the account's API usage; the next run resumes from the watermark")
    explicit = retry_after_header(response)
    if explicit is not None:
        return explicit
    return 1.0 if policy == "SECONDLY" else None


def token_provider(config: SourceConfig) -> TokenProvider:
    """Private-app token (connection password) or OAuth refresh token (extra)."""
    return refresh_or_static(config, "/oauth/v1/token", token_name="private app token")


def connect(config: SourceConfig, retry: RetrySettings) -> ConnectionApi:
    return connection_api("hubspot", config, retry, token_provider(config), throttle_delay=throttle_delay)


def property_names(api: JsonApi, object_type: str, stream: str) -> list[str]:
    body = api.request("GET", f"/crm/v3/properties/{object_type}", stream=stream)
    return sorted(p["name"] for p in body.get("results", []))


def read_associations(api: JsonApi, from_type: str, to_type: str, ids: list[str], stream: str) -> dict[str, list[str]]:
    """``{from id: [to ids]}`` through the v4 batch API, following per-id paging."""
    found: dict[str, list[str]] = {i: [] for i in ids}
    inputs: list[dict[str, str]] = [{"id": i} for i in ids]
    while inputs:
        body = api.request(
            "POST", f"/crm/v4/associations/{from_type}/{to_type}/batch/read", stream=stream, json={"inputs": inputs}
        )
        inputs = []
        for result in body.get("results", []):
            source_id = str(result["from"]["id"])
            found.setdefault(source_id, []).extend(str(t["toObjectId"]) for t in result.get("to", []))
            after = (result.get("paging") or {}).get("next", {}).get("after")
            if after:
                inputs.append({"id": source_id, "after": after})
    return found


@dataclass(frozen=True)
class SearchReader:
    """Records modified inside the window, via CRM search, complete beyond the 10,000 cap."""

    object_type: str
    modified_property: str
    associations: tuple[str, ...] = ()

    def pages(self, api: JsonApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        if window.start is None:  # a full load: the list endpoint, free of search's 4-5 requests/s limit
            yield from ListReader(f"/crm/v3/objects/{self.object_type}", f"properties.{self.modified_property}",
                                  with_properties_of=self.object_type, associations=self.associations,
                                  object_type=self.object_type).pages(api, stream, window, state)
            return
        properties = property_names(api, self.object_type, stream.name)
        last_id: int | None = None
        while True:
            seen_in_query, after, restart_from = 0, None, last_id
            cursors = PageCursor(f"search {self.object_type} hs_object_id>{restart_from}")
            while True:
                body = api.request(
                    "POST",
                    f"/crm/v3/objects/{self.object_type}/search",
                    stream=stream.name,
                    json=self._query(properties, window, restart_from, after),
                )
                results = body.get("results", [])
                seen_in_query += len(results)
                if results:
                    self._attach_associations(api, stream.name, results)
                    yield RawPage(results, f"search hs_object_id>{restart_from} after={after}")
                    last_id = int(results[-1]["id"])  # validated by the engine while the page was consumed
                after = next_after(body, api)
                if after is None:
                    return
                after = cursors.advance(after, len(results))
                if seen_in_query + SEARCH_PAGE > SEARCH_CAP:
                    break  # restart the window from the last id instead of hitting the cap

    def _query(self, properties: list[str], window: Window, after_id: int | None, after: str | None) -> dict[str, Any]:
        filters: list[dict[str, str]] = [
            {"propertyName": self.modified_property, "operator": "LT", "value": str(epoch_ms(window.end))}
        ]
        if window.start is not None:
            filters.append({"propertyName": self.modified_property, "operator": "GTE", "value": str(epoch_ms(window.start))})
        if after_id is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)})
        query: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": properties,
            "limit": SEARCH_PAGE,
        }
        if after is not None:
            query["after"] = after
        return query

    def _attach_associations(self, api: JsonApi, stream: str, results: list[dict[str, Any]]) -> None:
        attach_associations(api, self.object_type, self.associations, stream, results)


def attach_associations(api: JsonApi, object_type: str, to_types: tuple[str, ...], stream: str,
                        results: list[dict[str, Any]]) -> None:
    """Each record's associated ids per type, under ``associations`` (v4 batch read, one call per type)."""
    ids = [str(r["id"]) for r in results if isinstance(r, dict) and r.get("id")]
    for to_type in to_types:
        links = read_associations(api, object_type, to_type, ids, stream)
        for record in results:
            if isinstance(record, dict) and record.get("id"):
                record.setdefault("associations", {})[to_type] = links.get(str(record["id"]), [])


def property_chunks(names: list[str], budget: int = PROPERTIES_PARAM_BUDGET) -> list[list[str]]:
    """``names`` cut into runs whose comma-joined, URL-encoded text stays within ``budget``."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for name in names:
        cost = len(quote(name, safe="")) + (3 if current else 0)  # "%2C" before every name but the first
        if current and size + cost > budget:
            chunks.append(current)
            current, size, cost = [], 0, len(quote(name, safe=""))
        current.append(name)
        size += cost
    if current:
        chunks.append(current)
    return chunks


@dataclass(frozen=True)
class ListReader:
    """A full list scan (``after`` cursor), keeping items whose cursor falls in the window.

    Used for archived records (``archived=true``: the only place deletions show), for objects
    that have no search endpoint (owners) and for full loads (a window with no start), where search
    would only add its rate limit and its 10,000-result restarts.
    """

    path: str
    cursor_field: str
    archived: bool = False
    with_properties_of: str | None = None
    associations: tuple[str, ...] = ()
    object_type: str = ""

    def pages(self, api: JsonApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        params: dict[str, Any] = {"limit": LIST_PAGE, "archived": str(self.archived).lower()}
        chunks: list[list[str]] = []
        if self.with_properties_of:
            chunks = property_chunks(property_names(api, self.with_properties_of, stream.name))

        def send(request: PageRequest) -> PageResponse:
            return PageResponse(self._page(api, stream.name, dict(request.params), chunks))

        for page in paginate(send, PageRequest(self.path, params=params), NEXT_AFTER, records="results",
                             what=f"GET {self.path}", base_url=api.base_url):
            kept = [item for item in page.items if in_window(item, self.cursor_field, window)]
            if kept and self.associations:
                attach_associations(api, self.object_type, self.associations, stream.name, kept)
            if kept:
                yield RawPage(kept, f"{self.path}?archived={params['archived']}&after={page.request.params.get('after')}")

    def _page(self, api: JsonApi, stream: str, params: dict[str, Any], chunks: list[list[str]]) -> Any:
        """One page with every property: one request per property chunk, merged per record id.

        The chunks read the same ``after`` position; if the list changed in between (a record archived
        or restored), they disagree on the ids and the page is read again.
        """
        if len(chunks) <= 1:
            query = {**params, "properties": ",".join(chunks[0])} if chunks else params
            return api.request("GET", self.path, stream=stream, params=query)
        for _ in range(PAGE_READ_ATTEMPTS):
            body = api.request("GET", self.path, stream=stream, params={**params, "properties": ",".join(chunks[0])})
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                return body  # the engine names the unusable page
            by_id = {str(r["id"]): r for r in results if isinstance(r, dict) and r.get("id") not in (None, "")}
            consistent = True
            for chunk in chunks[1:]:
                other = api.request("GET", self.path, stream=stream, params={**params, "properties": ",".join(chunk)})
                extra = [r for r in (other.get("results") or []) if isinstance(r, dict)]
                if {str(r.get("id")) for r in extra} != set(by_id):
                    consistent = False
                    break
                for record in extra:
                    target = by_id[str(record["id"])]
                    if isinstance(target.get("properties"), dict) and isinstance(record.get("properties"), dict):
                        target["properties"].update(record["properties"])
            if consistent:
                return body
        raise SourceUnavailableError(
            f"{stream}: GET {self.path} changed between the requests of one page {PAGE_READ_ATTEMPTS} times in a row",
            check="the next run reads the window again",
        )



def pipeline_listing(object_type: str) -> Any:
    """The pipelines of ``object_type`` as one listing page (HubSpot does not page this list)."""

    def listing(api: JsonApi, stream: str) -> Iterator[tuple[list[Any], str]]:
        path = f"/crm/v3/pipelines/{object_type}"
        body = api.request("GET", path, stream=stream)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise UnusableResponseError(f"GET {path}: expected {{\"results\": [...]}}, got {type(body).__name__}")
        yield results, path

    return listing


def _crm_stream(object_type: str, modified: str, description: str, associations: tuple[str, ...] = ()) -> StreamSpec:
    return StreamSpec(
        name=object_type,
        primary_key="id",
        cursor_field=f"properties.{modified}",
        deleted_field="archived",
        deleted_cursor_field="archivedAt",
        readers=(
            SearchReader(object_type, modified, associations),
            ListReader(f"/crm/v3/objects/{object_type}", "archivedAt", archived=True, with_properties_of=object_type),
        ),
        description=description,
    )


HUBSPOT = SourceSpec(
    name="hubspot",
    title="HubSpot",
    connect=connect,
    tags=("crm",),
    streams=(
        _crm_stream("companies", "hs_lastmodifieddate", "Customers (custom properties siren/siret/vat_number)"),
        _crm_stream("contacts", "lastmodifieddate", "People, with their company", ("companies",)),
        _crm_stream("deals", "hs_lastmodifieddate", "Deals, with their company and line items", ("companies", "line_items")),
        _crm_stream("line_items", "hs_lastmodifieddate", "Deal lines: product, quantity, price, discount, tax rate"),
        _crm_stream("products", "hs_lastmodifieddate", "Product library"),
        StreamSpec(
            name="owners",
            primary_key="id",
            cursor_field="updatedAt",
            deleted_field="archived",
            readers=(ListReader("/crm/v3/owners", "updatedAt"), ListReader("/crm/v3/owners", "updatedAt", archived=True)),
            description="Sales owners (no search endpoint: listed and filtered on updatedAt)",
        ),
        StreamSpec(
            name="deal_pipelines",
            primary_key="id",
            cursor_field=VERSION_FIELD,
            deleted_field="deleted",
            deleted_cursor_field=VERSION_FIELD,
            readers=(SnapshotReader(pipeline_listing("deals"), SnapshotDiff(id_field="id")),),
            description="Deal pipelines and their stages (closed / won from stage metadata), versioned by content",
        ),
    ),
    doc="""Extracts HubSpot CRM v3 objects (search for changes, `archived=true` lists for deletions).

Connection `passerelle_hubspot`: host = `https://api.hubapi.com`, password = private app token; or
extra `{"client_id": ..., "client_secret": ..., "refresh_token": ...}` for an OAuth app;
`ca_bundle` to trust a private CA.
""",
)


def next_after(body: Any, api: JsonApi) -> Any:
    """The ``paging.next.after`` cursor of a page (None on the last page); a ``link`` to another host is refused."""
    paging = body.get("paging") if isinstance(body, dict) else None
    following = paging.get("next") if isinstance(paging, dict) else None
    if not isinstance(following, dict):
        return None
    if isinstance(following.get("link"), str):
        same_origin(following["link"], api.base_url)
    after = following.get("after")
    return None if after is None or after == "" else after
