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
- Declared with the connector kit: each stream is a :class:`RestStream` (``NextUrl`` on
  ``data.pagination.nextLink``, ``SnapshotDiff``); no folk-specific code remains.
- Deals: folk's deals are group objects whose amount and stage are user-defined custom fields, so there
  is no deal stream: invoicing reads deals from the CRMs with a pipeline.
"""

from __future__ import annotations

from passerelle.connectors.auth import StaticToken
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.options import FolkOptions
from passerelle.connectors.paginators import NextUrl
from passerelle.connectors.rest import ConnectionApi, RestStream, connection_api
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.snapshot import SnapshotDiff
from passerelle.connectors.spec import SourceSpec, StreamSpec

DOC = """Extracts folk (full listings of companies, people and users, compared run to run).

Connection `passerelle_folk`: host = `https://api.folk.app`, password = the workspace API key;
`ca_bundle` to trust a private CA; `max_missing_ratio` to accept a larger deletion.
"""


def connect(config: SourceConfig, retry: RetrySettings) -> ConnectionApi:
    """The workspace API key is the connection password; host defaults to ``https://api.folk.app``."""
    return connection_api("folk", config, retry, StaticToken(config.password or "", "API key"))


def listed(name: str, description: str) -> StreamSpec:
    """A folk list, diffed with the previous run (``observedAt`` = window end, absences as tombstones)."""
    return RestStream(
        name, f"/v1/{name}", records="data.items", require_records=True, description=description,
        paginator=NextUrl("data.pagination.nextLink"),
        params=(("limit", 100),), option_params=(("limit", "page_size"),),
        incremental=SnapshotDiff("id"), ratio_option="max_missing_ratio",
    ).spec()


FOLK = SourceSpec(
    name="folk", title="folk", connect=connect, options=FolkOptions, tags=("crm",), doc=DOC,
    streams=(
        listed("companies", "Customers (group custom fields SIREN, SIRET, VAT number...)"),
        listed("people", "People, with their companies"),
        listed("users", "Workspace users (record creators)"),
    ),
)
