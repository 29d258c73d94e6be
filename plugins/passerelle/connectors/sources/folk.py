"""folk CRM (public API v1): full listings compared with the previous run (snapshot diff).

folk has no modification time, no modified-since filter and no deletion feed (only ``*.deleted``
webhooks), so each run lists every company, person and user and :mod:`passerelle.connectors.snapshot`
keeps what changed since the last listing, stamped ``observedAt`` = the window end; records no longer
listed become tombstones. A listing missing more than ``max_missing_ratio`` of the known records is
refused rather than read as mass deletion.

- Auth: the workspace API key as ``Authorization: Bearer`` (connection password); no OAuth.
- Paging: ``limit`` (≤ 100) and the offset-encoded cursor; the next page is ``data.pagination.nextLink``
  (absent on the last page), followed only on the connection's own host.
- Custom field values are grouped by group id and keyed by field name (SIREN, SIRET, VAT number...):
  kept verbatim, numbers exact; staging reads them by normalised name.
- Throttling: 200 requests per minute per user; a 429 is waited out for its ``Retry-After`` seconds.
- Deals: folk's deals are group objects whose amount and stage are user-defined custom fields, so there
  is no deal stream: invoicing reads deals from the CRMs with a pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from passerelle.connectors.auth import StaticToken
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi
from passerelle.connectors.options import FolkOptions
from passerelle.connectors.paging import PageCursor, UnusableResponseError, max_response_mb
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.snapshot import Listing, SnapshotDiff, SnapshotReader
from passerelle.connectors.spec import SourceSpec, StreamSpec


@dataclass
class FolkApi(JsonApi):
    """JsonApi that also answers the connection's options (page size, the snapshot's missing ratio)."""

    config: SourceConfig | None = field(default=None, repr=False)

    def option(self, name: str, default: Any) -> Any:
        return default if self.config is None else self.config.option(name, default)


def connect(config: SourceConfig, retry: RetrySettings) -> FolkApi:
    """The workspace API key is the connection password; host defaults to ``https://api.folk.app``."""
    return FolkApi(
        config=config, source="folk", base_url=config.base_url, tokens=StaticToken(config.password or "", "API key"),
        retry=retry, verify=config.verify, timeout=float(config.option("timeout", 60)),
        max_response_mb=max_response_mb(config),
    )


def list_pages(api: FolkApi, path: str, stream: str) -> Listing:
    """Every page of a folk list: ``(items, location)``, following ``data.pagination.nextLink``."""
    cursors = PageCursor(f"GET {path}")
    url, params, number = path, {"limit": int(api.option("page_size", 100))}, 1
    while True:
        body = api.request("GET", url, stream=stream, params=params)
        data = body.get("data") if isinstance(body, dict) else None
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise UnusableResponseError(f"GET {path}: expected data.items to be a list, got {type(items).__name__}")
        yield items, f"GET {path} page {number}"
        following = (data.get("pagination") or {}).get("nextLink")
        if following is None or following == "":
            return
        url, params, number = str(cursors.advance(following, len(items))), {}, number + 1


def listing(path: str) -> Callable[[FolkApi, str], Listing]:
    """The :class:`SnapshotReader` listing of one folk list."""
    return lambda api, stream: list_pages(api, path, stream)


def _snapshot_stream(name: str, description: str) -> StreamSpec:
    return StreamSpec(
        name=name, primary_key="id", cursor_field="observedAt", deleted_field="deleted",
        deleted_cursor_field="observedAt", description=description,
        readers=(SnapshotReader(listing(f"/v1/{name}"), SnapshotDiff("id"), ratio_option="max_missing_ratio"),),
    )


FOLK = SourceSpec(
    name="folk",
    title="folk",
    connect=connect,
    options=FolkOptions,
    tags=("crm",),
    streams=(
        _snapshot_stream("companies", "Customers (group custom fields SIREN, SIRET, VAT number...)"),
        _snapshot_stream("people", "People, with their companies"),
        _snapshot_stream("users", "Workspace users (record creators)"),
    ),
    doc="""Extracts folk (full listings of companies, people and users, compared run to run).

Connection `passerelle_folk`: host = `https://api.folk.app`, password = the workspace API key;
`ca_bundle` to trust a private CA; `max_missing_ratio` to accept a larger deletion.
""",
)
