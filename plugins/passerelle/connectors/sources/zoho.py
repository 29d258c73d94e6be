"""Zoho CRM (API v8) and Zoho Bigin (API v2): one connector family, parameterised by product.

- Auth: OAuth refresh-token grant at the data centre's accounts server (the Connection's host, e.g.
  ``https://accounts.zoho.eu``); API calls go to the ``api_domain`` the token answer names (a token
  from one data centre fails at another), with ``Authorization: Zoho-oauthtoken …``. Access tokens
  last an hour: a 401 ``INVALID_TOKEN`` refreshes and retries.
- Changes: ``GET {base}/{module}?fields=…&sort_by=Modified_Time&sort_order=asc`` with the
  ``If-Modified-Since`` header (inclusive) = the window start; records at or after the window end are
  left to the next window. ``fields`` is mandatory and capped at 50: the names come from the field
  metadata (``/settings/fields?module=…``, custom fields included); a wider module is read 50 fields at
  a time, the other chunks fetched by ``ids`` and merged. Pages follow ``next_page_token`` (``page``
  alone stops at 2,000 records); 204 means no records.
- Deletions: ``GET {base}/{module}/deleted?type=all`` with ``If-Modified-Since``; each becomes a tombstone
  dated by its ``deleted_time``.
- Deals (CRM ``Deals``, Bigin ``Pipelines``) carry ``stage_metadata`` (``forecast_type``,
  ``probability``) from the Stage picklist: stages are renamed by orgs, so a won deal is told by its
  stage's metadata (``Closed Won``), never by its label.
- Deal lines (Zoho CRM): v8 has no line-items module; quotes carry them in ``Quoted_Items``.
- Users: ``GET {base}/users?type=AllUsers``, kept when ``Modified_Time`` falls in the window.
- Throttling: 429 for exhausted daily credits fails the window (the next run resumes from the
  watermark); a concurrency 429 is retried with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, Iterator

import requests
from pydantic import Field

from passerelle import exact_json
from passerelle.connectors.auth import RefreshTokenGrant
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonResponse, retry_after_header
from passerelle.connectors.incremental import WindowFilter, in_window
from passerelle.connectors.options import OAuthAppOptions
from passerelle.connectors.paginators import PageRequest, PageResponse, PageThenToken, paginate
from passerelle.connectors.paging import UnusableResponseError
from passerelle.connectors.rest import ConnectionApi, RestStream, connection_api
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.errors import AuthError, SourceUnavailableError, one_line
from passerelle.records import Window

PER_PAGE = 200
MAX_FIELDS = 50
IDS_PER_CALL = 100
EMPTY_PAGE = b'{"data": [], "info": {"more_records": false}}'
ZOHO_PAGES = PageThenToken(PER_PAGE, "info.more_records", "info.next_page_token")
"""``page`` + 1 while ``more_records``; ``next_page_token`` once given (``page`` stops at 2,000 records)."""


class ZohoOptions(OAuthAppOptions):
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for each answer.")


@dataclass(frozen=True)
class ZohoProduct:
    """What differs between Zoho CRM and Bigin: API base path and module API names."""

    name: str
    title: str
    base_path: str
    deals_module: str


ZOHO_CRM_PRODUCT = ZohoProduct("zoho_crm", "Zoho CRM", "/crm/v8", "Deals")
BIGIN_PRODUCT = ZohoProduct("bigin", "Zoho Bigin", "/bigin/v2", "Pipelines")


def throttle_delay(response: requests.Response) -> float | None | bool:
    """429: exhausted daily credits are not worth waiting for; the concurrency limit is."""
    if response.status_code != 429:
        return False
    text = one_line(response.text)
    try:
        body = exact_json.loads(response.content)
    except ValueError:
        body = None
    details = body.get("details") if isinstance(body, dict) else None
    if (isinstance(details, dict) and details.get("limit_type") == "credits") or "credit" in text.lower():
        raise SourceUnavailableError(f"Zoho API credits exhausted: {text[:300]}",
                                     check="the org's API credits (rolling 24 h); the next run resumes from the watermark")
    return retry_after_header(response)


@dataclass
class ZohoApi(ConnectionApi):
    """JsonApi on the token's ``api_domain``, with Zoho's auth scheme and 204-as-empty pages."""

    base_path: str = ""
    _fields: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _stages: dict[str, dict[str, Any]] | None = field(default=None, init=False, repr=False)

    def fetch(self, method: str, path: str, *, stream: str, **kwargs: Any) -> JsonResponse:
        """On the token's ``api_domain``; ``headers`` (``If-Modified-Since``) ride on this request only."""
        domain = self.tokens.token().raw.get("api_domain")
        if not isinstance(domain, str) or not domain.startswith("https://"):
            raise AuthError(f"the token answer names no usable api_domain ({domain!r})",
                            check="the connection's host: the accounts server of the org's data centre")
        self.base_url = domain.rstrip("/") + self.base_path
        return super().fetch(method, path, stream=stream, **kwargs)

    def authorization(self) -> str:
        return f"Zoho-oauthtoken {self.tokens.token().access_token}"

    def check_response(self, response: requests.Response, stream: str) -> None:
        if response.status_code == 204:  # Zoho's "no records": an empty page, not an empty body to decode
            response._content = EMPTY_PAGE
            return
        super().check_response(response, stream)

    def field_metadata(self, module: str, stream: str) -> list[dict[str, Any]]:
        body = self.request("GET", "/settings/fields", stream=stream, params={"module": module})
        rows = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise UnusableResponseError(f"GET /settings/fields?module={module}: no 'fields' list")
        return [r for r in rows if isinstance(r, dict)]

    def field_names(self, module: str, stream: str) -> list[str]:
        """API names of the module's fields (custom ones included), ``Modified_Time`` first."""
        if module not in self._fields:
            names = [str(r["api_name"]) for r in self.field_metadata(module, stream) if r.get("api_name")]
            self._fields[module] = ["Modified_Time", *[n for n in dict.fromkeys(names) if n != "Modified_Time"]]
        return self._fields[module]

    def stages(self, module: str, stream: str) -> dict[str, dict[str, Any]]:
        """``{stage value: {forecast_type, probability, display_value}}`` from the Stage picklist."""
        if self._stages is None:
            stage = next((r for r in self.field_metadata(module, stream) if r.get("api_name") == "Stage"), {})
            self._stages = {
                str(v.get("actual_value")): {"forecast_type": v.get("forecast_type"), "probability": v.get("probability"),
                                             "display_value": v.get("display_value")}
                for v in stage.get("pick_list_values") or [] if isinstance(v, dict)}
        return self._stages


def connector(product: ZohoProduct) -> Any:
    def connect(config: SourceConfig, retry: RetrySettings) -> ConnectionApi:
        """The Connection's host is the accounts server; extras ``refresh_token`` (and ``client_id``/
        ``client_secret`` unless login/password hold them)."""
        if not config.option("refresh_token"):
            raise AuthError(f"{product.title} needs an OAuth refresh token",
                            check="the connection's extra refresh_token (a Zoho self-client's)")
        tokens = RefreshTokenGrant(
            token_url=f"{config.base_url}/oauth/v2/token", client_id=config.option("client_id", config.login or ""),
            client_secret=config.option("client_secret", config.password or ""),
            refresh_token=config.option("refresh_token"), verify=config.verify,
        )
        return connection_api(product.name, config, retry, tokens, api=ZohoApi, throttle_delay=throttle_delay,
                              base_path=product.base_path)

    return connect


def if_modified_since(window: Window) -> dict[str, str]:
    if window.start is None:
        return {}
    return {"If-Modified-Since": window.start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")}


def _records(body: Any, key: str, what: str) -> list[Any]:
    """A page's records, once the body is known to be Zoho's ``{key: [...], "info": {...}}``."""
    if not isinstance(body, dict):
        raise UnusableResponseError(f"{what}: expected a JSON object, got {type(body).__name__}")
    data, info = body.get(key) or [], body.get("info") or {}
    if not isinstance(data, list) or not isinstance(info, dict):
        raise UnusableResponseError(f"{what}: '{key}' is not a list or 'info' not an object")
    return data


def pages(api: ZohoApi, path: str, stream: str, params: dict[str, Any], headers: dict[str, str],
          key: str = "data") -> Iterator[list[Any]]:
    """Every page (:data:`ZOHO_PAGES`); ``headers`` (``If-Modified-Since``) ride on each request."""

    def send(request: PageRequest) -> PageResponse:
        answer = api.fetch(request.method, request.path, stream=stream, params=dict(request.params), headers=headers)
        return PageResponse(answer.body, answer.headers)

    for page in paginate(send, PageRequest(path, params=params), ZOHO_PAGES, records=key, what=f"GET {path}"):
        yield _records(page.response.body, key, f"GET {path}")


def _after(value: Any, window: Window) -> bool:
    try:
        return parse_timestamp(value) >= window.end
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class ChangesReader:
    """Records of a module modified inside the window, every field (custom ones included)."""

    module: str
    deals: bool = False

    def pages(self, api: ZohoApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        names = api.field_names(self.module, stream.name)
        first, rest = names[:MAX_FIELDS], [names[i : i + MAX_FIELDS] for i in range(MAX_FIELDS, len(names), MAX_FIELDS)]
        params = {"fields": ",".join(first), "sort_by": "Modified_Time", "sort_order": "asc"}
        path = f"/{self.module}"
        for number, data in enumerate(pages(api, path, stream.name, params, if_modified_since(window))):
            kept = [r for r in data if in_window(r, "Modified_Time", window)]
            if kept:
                self._complete(api, stream.name, kept, rest)
                if self.deals:
                    stages = api.stages(self.module, stream.name)
                    for record in kept:
                        if isinstance(record, dict):
                            record["stage_metadata"] = stages.get(str(record.get("Stage")))
                yield RawPage(kept, f"GET {path} modified in window, page {number + 1}")
            if any(isinstance(r, dict) and _after(r.get("Modified_Time"), window) for r in data):
                return  # sorted by Modified_Time: the rest belongs to later windows

    def _complete(self, api: ZohoApi, stream: str, records: list[Any], chunks: list[list[str]]) -> None:
        """Merge the fields beyond the first 50, read by ``ids``."""
        by_id = {r["id"]: r for r in records if isinstance(r, dict) and "id" in r}
        ids = list(by_id)
        for chunk in chunks:
            for start in range(0, len(ids), IDS_PER_CALL):
                params = {"fields": ",".join(chunk), "ids": ",".join(ids[start : start + IDS_PER_CALL])}
                for data in pages(api, f"/{self.module}", stream, params, {}):
                    for extra in data:
                        if isinstance(extra, dict) and extra.get("id") in by_id:
                            by_id[extra["id"]].update({k: v for k, v in extra.items() if k != "id"})


@dataclass(frozen=True)
class DeletionsReader:
    """Tombstones for records deleted in the window (``/{module}/deleted?type=all``)."""

    module: str

    def pages(self, api: ZohoApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        if window.start is None:
            return  # a full extract lists only live records: there is nothing to delete yet
        path = f"/{self.module}/deleted"
        for data in pages(api, path, stream.name, {"type": "all"}, if_modified_since(window)):
            tombstones = [{"id": d.get("id"), "Modified_Time": d.get("deleted_time"), "is_deleted": True, "deletion": d}
                          for d in data if isinstance(d, dict) and in_window(d, "deleted_time", window)]
            if tombstones:
                yield RawPage(tombstones, f"GET {path}?type=all since {if_modified_since(window)['If-Modified-Since']}")


def _module_stream(module: str, description: str, deals: bool = False) -> StreamSpec:
    return StreamSpec(name=module, primary_key="id", cursor_field="Modified_Time", deleted_field="is_deleted",
                      readers=(ChangesReader(module, deals), DeletionsReader(module)), description=description)


def _users_stream() -> StreamSpec:
    """``/users?type=AllUsers``, kept when ``Modified_Time`` falls in the window."""
    return RestStream("users", "/users", records="users", paginator=ZOHO_PAGES, cursor_field="Modified_Time",
                      incremental=WindowFilter("Modified_Time"), params=(("type", "AllUsers"),),
                      description="Org users (record owners)").spec()


ZOHO_CRM = SourceSpec(
    name="zoho_crm",
    title="Zoho CRM",
    connect=connector(ZOHO_CRM_PRODUCT),
    options=ZohoOptions,
    tags=("crm",),
    streams=(
        _module_stream("Accounts", "Customers (custom fields SIREN, SIRET, VAT_Number...)"),
        _module_stream("Contacts", "People, with their account"),
        _module_stream("Deals", "Deals with their stage metadata (won = forecast type 'Closed Won')", deals=True),
        _module_stream("Quotes", "Quotes, one per deal, with the deal lines in Quoted_Items"),
        _module_stream("Products", "Product catalogue"),
        _users_stream(),
    ),
    doc="""Extracts Zoho CRM (API v8: record lists with If-Modified-Since, deleted records, field metadata).

Connection `passerelle_zoho_crm`: host = the data centre's accounts server (`https://accounts.zoho.eu`...),
login = client id, password = client secret, extra `{"refresh_token": ...}` (a self-client's, scope
`ZohoCRM.modules.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.users.READ`); API calls use the token's `api_domain`.
""",
)

BIGIN = SourceSpec(
    name="bigin",
    title="Zoho Bigin",
    connect=connector(BIGIN_PRODUCT),
    options=ZohoOptions,
    tags=("crm",),
    streams=(
        _module_stream("Accounts", "Companies (custom fields SIREN, SIRET, VAT_Number...)"),
        _module_stream("Contacts", "People, with their company"),
        _module_stream("Pipelines", "Deals with their stage metadata (won = forecast type 'Closed Won')", deals=True),
        _module_stream("Products", "Product catalogue"),
        _users_stream(),
    ),
    doc="""Extracts Zoho Bigin (API v2, the Zoho CRM connector with Bigin's module names).

Connection `passerelle_bigin`: host = the data centre's accounts server, login = client id, password = client
secret, extra `{"refresh_token": ...}` (scope `ZohoBigin.modules.ALL,ZohoBigin.settings.fields.READ,ZohoBigin.users.READ`).
""",
)
