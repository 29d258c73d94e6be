"""Pipedrive: API v2 lists for changes, ``/v1/recents`` for deletions, v1 users and field definitions.

- Changes: ``GET /api/v2/{organizations,persons,deals,products}`` with ``updated_since`` (inclusive) /
  ``updated_until`` (exclusive) = the window, ``sort_by=update_time`` ascending, ``limit=500`` and the
  opaque ``cursor``. Deals also ask for ``status=open,won,lost,deleted``: a deal deleted in the window
  (kept 30 days by Pipedrive) comes back flagged ``is_deleted`` and becomes a tombstone.
- Organization, person and product deletions are not listed by v2: ``/v1/recents`` names the items
  deleted since the window start (``data: null``); each is read by id (``is_deleted`` with its deletion
  time as ``update_time``). An item Pipedrive no longer returns is dated by the page's
  ``last_timestamp_on_page``, which is no earlier than its deletion.
- Custom fields are keyed by 40-hex hashes: the ``/v1/<entity>Fields`` definitions are read once per
  stream and window and every record also gets ``custom_fields_by_name`` (name → value), which is what
  staging reads (SIREN, SIRET, VAT number...).
- Deal products: for the deals changed in the window, ``/api/v2/deals/products?deal_ids=…`` (100 deals
  per call); each deal record also lists its current ``product_ids``, so a product removed from a deal
  leaves staging with the deal's next version. Changing a deal's products changes the deal.
- Users: ``/v1/users`` (no v2 list), kept when ``modified`` falls in the window.
- Throttling: 429 with ``x-ratelimit-reset`` (seconds) is waited out; an exhausted daily token budget
  fails the window (the next run resumes from the watermark).

The v2 lists and users are :class:`RestStream` declarations (v2 ``CursorToken``, v1 ``OffsetLimit`` on
``next_start``); code remains only for what is Pipedrive's own: the recents deletion feed, custom-field
names and deal products.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any, Iterator

import requests
from pydantic import Field
from requests.auth import AuthBase

from passerelle.connectors.auth import RefreshTokenGrant, StaticToken, TokenProvider
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import ApiRequestError, JsonResponse, retry_after_header
from passerelle.connectors.incremental import ModifiedSince, WindowFilter, in_window
from passerelle.connectors.options import OAuthAppOptions
from passerelle.connectors.paginators import (
    CursorToken, FetchedPage, OffsetLimit, PageRequest, Paginator, at, json_api_sender, paginate,
)
from passerelle.connectors.paging import UnusableResponseError
from passerelle.connectors.rest import ConnectionApi, RestReader, RestStream, connection_api
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.errors import SourceUnavailableError, one_line
from passerelle.records import Window

PAGE = 500
DEAL_IDS_PER_CALL = 100
OAUTH_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
CUSTOM_KEY = re.compile(r"^[0-9a-f]{40}$")


class PipedriveOptions(OAuthAppOptions):
    token_url: str = Field(OAUTH_TOKEN_URL, description="OAuth token endpoint (an OAuth app refreshes its token there).")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")


def throttle_delay(response: requests.Response) -> float | None | bool:
    """429: wait ``x-ratelimit-reset`` seconds (or ``Retry-After``); an exhausted daily budget is not worth waiting for."""
    if response.status_code != 429:
        return False
    if response.headers.get("x-daily-ratelimit-token-remaining") == "0":
        raise SourceUnavailableError(f"daily API token budget exhausted: {one_line(response.text)[:300]}",
                                     check="the company's API token budget; the next run resumes from the watermark")
    reset = response.headers.get("x-ratelimit-reset")
    try:
        return float(reset) if reset is not None else retry_after_header(response)
    except ValueError:
        return retry_after_header(response)


class ApiTokenHeader(AuthBase):
    """The company API token in ``x-api-token`` (never in the query string, where URLs get logged)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        request.headers["x-api-token"] = self.token
        return request


@dataclass
class PipedriveApi(ConnectionApi):
    """ConnectionApi with the API-token header, or OAuth bearer tokens when the connection has a refresh token."""

    api_token: str | None = field(default=None, repr=False)
    _fields: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.api_token:
            self.http.auth = ApiTokenHeader(self.api_token)

    def authorization(self) -> str:
        return "" if self.api_token else super().authorization()

    def fetch(self, method: str, path: str, *, stream: str, **kwargs: Any) -> JsonResponse:
        """Every Pipedrive answer is a JSON object (``success``, ``data``...): anything else is refused,
        never read as an empty page."""
        answer = super().fetch(method, path, stream=stream, **kwargs)
        if not isinstance(answer.body, dict):
            raise UnusableResponseError(f"{method} {path}: expected a JSON object, got {type(answer.body).__name__}")
        return answer

    def custom_field_names(self, entity: str, stream: str) -> dict[str, str]:
        """``{hash key: field name}`` of the entity's custom fields, read once per connection."""
        if entity not in self._fields:
            names: dict[str, str] = {}
            listing = pages(self, stream, f"/api/v1/{entity}Fields", {}, V1_PAGES)
            for row in (row for page in listing for row in page.items):
                key = row.get("key") if isinstance(row, dict) else None
                if isinstance(key, str) and CUSTOM_KEY.match(key):
                    name = str(row.get("name") or key)
                    names[key] = name if name not in names.values() else f"{name} ({key})"
            self._fields[entity] = names
        return self._fields[entity]


def connect(config: SourceConfig, retry: RetrySettings) -> ConnectionApi:
    """API token (connection password), or an OAuth app (extra ``client_id``/``client_secret``/``refresh_token``,
    ``token_url`` defaulting to Pipedrive's OAuth server)."""
    tokens: TokenProvider
    api_token = None
    if config.option("refresh_token"):
        tokens = RefreshTokenGrant(
            token_url=config.option("token_url", OAUTH_TOKEN_URL), client_id=config.option("client_id", config.login or ""),
            client_secret=config.option("client_secret", ""), refresh_token=config.option("refresh_token"),
            verify=config.verify,
        )
    else:
        api_token = config.password or ""
        tokens = StaticToken(api_token, "API token")
    return connection_api("pipedrive", config, retry, tokens, api=PipedriveApi, throttle_delay=throttle_delay,
                          api_token=api_token)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


V2_PAGES = CursorToken("additional_data.next_cursor", "cursor")
"""API v2 lists: the opaque ``additional_data.next_cursor`` sent back as ``cursor``."""
V1_PAGES = OffsetLimit(PAGE, "start", "limit", more_field="additional_data.pagination.more_items_in_collection",
                       next_offset_field="additional_data.pagination.next_start")
"""API v1 lists: ``start``/``limit``, continued at ``next_start`` while ``more_items_in_collection``."""


def pages(api: PipedriveApi, stream: str, path: str, params: dict[str, Any],
          paginator: Paginator) -> Iterator[FetchedPage]:
    """Every page of a listing read outside a :class:`RestStream`, its ``data`` checked to be a list."""
    for page in paginate(json_api_sender(api, stream), PageRequest(path, params=params), paginator, records="data",
                         what=f"GET {path}", base_url=api.base_url):
        yield replace(page, items=listed(page.items, f"GET {path}"))


def listed(items: Any, what: str) -> list[Any]:
    if not isinstance(items, list):
        raise UnusableResponseError(f"{what}: 'data' is {type(items).__name__}, expected a list")
    return items


@dataclass(frozen=True)
class CustomFieldNames:
    """Gives each record ``custom_fields_by_name`` (name → value: staging reads SIREN, SIRET... by name);
    deals also get their current ``product_ids``."""

    entity: str

    def __call__(self, api: PipedriveApi, stream: str, records: list[Any]) -> None:
        names = api.custom_field_names(self.entity, stream)
        for record in records:
            if isinstance(record, dict) and isinstance(record.get("custom_fields"), dict):
                record["custom_fields_by_name"] = {names.get(k, k): v for k, v in record["custom_fields"].items()}
        if self.entity == "deal":
            attach_product_ids(api, stream, records)


def attach_product_ids(api: PipedriveApi, stream: str, deals: list[Any]) -> list[dict[str, Any]]:
    """Set each deal's ``product_ids``; returns the deal products read."""
    ids = [d["id"] for d in deals if isinstance(d, dict) and isinstance(d.get("id"), int) and not d.get("is_deleted")]
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), DEAL_IDS_PER_CALL):
        chunk = ",".join(str(i) for i in ids[start : start + DEAL_IDS_PER_CALL])
        params = {"deal_ids": chunk, "sort_by": "id", "limit": PAGE}
        for page in pages(api, stream, "/api/v2/deals/products", params, V2_PAGES):
            found.extend(p for p in page.items if isinstance(p, dict))
    by_deal: dict[Any, list[Any]] = {}
    for product in found:
        by_deal.setdefault(product.get("deal_id"), []).append(product.get("id"))
    for deal in deals:
        if isinstance(deal, dict) and not deal.get("is_deleted"):
            deal["product_ids"] = by_deal.get(deal.get("id"), [])
    return found


@dataclass(frozen=True)
class RecentDeletions:
    """Tombstones for items ``/v1/recents`` reports deleted (``data: null``) since the window start."""

    item: str
    path: str

    def pages(self, api: PipedriveApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        if window.start is None:
            return  # a full extract lists only live records: there is nothing to delete yet
        params = {"since_timestamp": v1_timestamp(window.start), "items": self.item}
        for page in pages(api, stream.name, "/api/v1/recents", params, V1_PAGES):
            last = at(page.response.body, "additional_data.last_timestamp_on_page")
            tombstones = []
            for entry in page.items:
                if not isinstance(entry, dict) or entry.get("item") != self.item:
                    continue
                payload = entry.get("data")
                if payload is not None and (not isinstance(payload, dict) or payload.get("active_flag", True)):
                    continue
                tombstone = self._tombstone(api, stream.name, entry.get("id"), last)
                if tombstone is not None and in_window(tombstone, "update_time", window):
                    tombstones.append(tombstone)
            if tombstones:
                yield RawPage(tombstones, f"GET /api/v1/recents?items={self.item} since {params['since_timestamp']}")

    def _tombstone(self, api: PipedriveApi, stream: str, item_id: Any, last_on_page: Any) -> dict[str, Any] | None:
        if not isinstance(item_id, int):
            return {"id": item_id, "is_deleted": True, "update_time": last_on_page}  # the engine names it
        try:
            body = api.request("GET", f"{self.path}/{item_id}", stream=stream)
        except ApiRequestError as exc:  # purged: date the deletion by the page, no earlier than it happened
            if exc.status != 404:
                raise
            return {"id": item_id, "is_deleted": True, "update_time": last_on_page, "purged": True}
        record = body.get("data")
        if not isinstance(record, dict) or not record.get("is_deleted"):
            return None  # restored since: the changes reader has it
        return record


@dataclass(frozen=True)
class DealProductsReader:
    """Products of the deals changed in the window (a product change re-stamps its deal)."""

    deals: RestReader

    def pages(self, api: PipedriveApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        for number, (deals, _) in enumerate(self.deals.listing(api, stream.name, window)):
            products = attach_product_ids(api, stream.name, listed(deals, "GET /api/v2/deals"))
            if products:
                yield RawPage(products, f"GET /api/v2/deals/products for deals page {number + 1}")


UPDATED_IN_WINDOW = ModifiedSince("update_time", start_param="updated_since", end_param="updated_until", format=rfc3339)
"""``updated_since`` is inclusive and ``updated_until`` exclusive: exactly the window."""
OLDEST_FIRST = (("sort_by", "update_time"), ("sort_direction", "asc"), ("limit", PAGE))
V2_LIST = partial(RestStream, records="data", paginator=V2_PAGES, params=OLDEST_FIRST, cursor_field="update_time",
                  incremental=UPDATED_IN_WINDOW, deleted_field="is_deleted")
"""A v2 list of the records updated in the window, oldest change first."""

ORGANIZATIONS = V2_LIST("organizations", "/api/v2/organizations", enrich=CustomFieldNames("organization"),
                        extra_readers=(RecentDeletions("organization", "/api/v2/organizations"),),
                        description="Customers (custom fields SIREN, SIRET, VAT number...)")
PERSONS = V2_LIST("persons", "/api/v2/persons", enrich=CustomFieldNames("person"),
                  extra_readers=(RecentDeletions("person", "/api/v2/persons"),),
                  description="People, with their organization")
DEALS = V2_LIST("deals", "/api/v2/deals", params=OLDEST_FIRST + (("status", "open,won,lost,deleted"),),
                enrich=CustomFieldNames("deal"),  # a deal deleted in the window comes back flagged is_deleted
                description="Deals (won = status 'won'), with their product ids")
PRODUCTS = V2_LIST("products", "/api/v2/products", enrich=CustomFieldNames("product"),
                   extra_readers=(RecentDeletions("product", "/api/v2/products"),), description="Product catalogue")
USERS = RestStream("users", "/api/v1/users", records="data", cursor_field="modified",  # one unpaged v1 list
                   incremental=WindowFilter("modified"), description="Company users (deal and organization owners)")
DEALS_FOR_PRODUCTS = V2_LIST("deals", "/api/v2/deals", params=OLDEST_FIRST + (("status", "open,won,lost"),))


PIPEDRIVE = SourceSpec(
    name="pipedrive",
    title="Pipedrive",
    connect=connect,
    options=PipedriveOptions,
    tags=("crm",),
    streams=(
        ORGANIZATIONS.spec(),
        PERSONS.spec(),
        DEALS.spec(),
        StreamSpec(name="deal_products", primary_key="id", cursor_field="update_time",
                   readers=(DealProductsReader(RestReader(DEALS_FOR_PRODUCTS)),),
                   description="Products attached to deals: price, quantity, discount, tax"),
        PRODUCTS.spec(),
        USERS.spec(),
    ),
    doc="""Extracts Pipedrive (API v2 lists for changes, v1 recents for deletions, v1 users and fields).

Connection `passerelle_pipedrive`: host = `https://<company>.pipedrive.com`, password = API token; or
extra `{"client_id": ..., "client_secret": ..., "refresh_token": ...}` for an OAuth app (`token_url`
defaults to `https://oauth.pipedrive.com/oauth/token`); `ca_bundle` to trust a private CA.
""",
)
