"""HubSpot CRM v3: search for changed records, archived lists for deletions, v4 associations.

- Changes: ``POST /crm/v3/objects/{type}/search`` filtered on the modification property
  (``hs_lastmodifieddate``; ``lastmodifieddate`` for contacts) with ``GTE start`` / ``LT end`` in
  epoch milliseconds, sorted by ``hs_object_id`` and paged with ``after``. Search refuses to page past
  10,000 results, so before reaching that cap the reader restarts the same window with
  ``hs_object_id > last id``: a window of any size (even one where every record shares a timestamp)
  is read completely.
- Deletions: archiving neither moves the modification date nor shows in search, so each window also
  reads ``GET /crm/v3/objects/{type}?archived=true`` and keeps records archived inside the window
  (cursor ``archivedAt``) as tombstones.
- Associations (deal→company, deal→line item, contact→company) are read per page with the v4 batch
  API and stored under ``associations`` in the raw payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import requests

from passerelle.connectors.paging import PageCursor, max_response_mb, same_origin
from passerelle.connectors.auth import TokenProvider, refresh_or_static
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi, retry_after_header
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import epoch_ms, parse_timestamp
from passerelle.errors import SourceUnavailableError, one_line
from passerelle.records import Window

SEARCH_CAP = 10_000
SEARCH_PAGE = 200
LIST_PAGE = 100


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


def connect(config: SourceConfig, retry: RetrySettings) -> JsonApi:
    return JsonApi(
        source="hubspot",
        base_url=config.base_url,
        tokens=token_provider(config),
        retry=retry,
        verify=config.verify, max_response_mb=max_response_mb(config),
        timeout=float(config.option("timeout", 60)),
        throttle_delay=throttle_delay,
    )


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
        ids = [str(r["id"]) for r in results if isinstance(r, dict) and r.get("id")]
        for to_type in self.associations:
            links = read_associations(api, self.object_type, to_type, ids, stream)
            for record in results:
                if isinstance(record, dict) and record.get("id"):
                    record.setdefault("associations", {})[to_type] = links.get(str(record["id"]), [])


@dataclass(frozen=True)
class ListReader:
    """A full list scan (``after`` cursor), keeping items whose cursor falls in the window.

    Used for archived records (``archived=true``: the only place deletions show) and for objects
    that have no search endpoint (owners).
    """

    path: str
    cursor_field: str
    archived: bool = False
    with_properties_of: str | None = None

    def pages(self, api: JsonApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        params: dict[str, Any] = {"limit": LIST_PAGE, "archived": str(self.archived).lower()}
        if self.with_properties_of:
            params["properties"] = ",".join(property_names(api, self.with_properties_of, stream.name))
        cursors = PageCursor(f"GET {self.path}")
        while True:
            body = api.request("GET", self.path, stream=stream.name, params=params)
            kept = [item for item in body.get("results", []) if self._in_window(item, window)]
            if kept:
                yield RawPage(kept, f"{self.path}?archived={params['archived']}&after={params.get('after')}")
            after = next_after(body, api)
            if after is None:
                return
            params["after"] = cursors.advance(after, len(body.get("results") or []))

    def _in_window(self, item: Any, window: Window) -> bool:
        if not isinstance(item, dict) or not item.get(self.cursor_field):
            return True  # let the engine reject it with a clear error
        return window.contains(parse_timestamp(item[self.cursor_field]))


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
