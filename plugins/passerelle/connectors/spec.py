"""Declarative source specs: what a source's streams are and how each one is read.

A :class:`SourceSpec` lists :class:`StreamSpec` objects. A stream names its primary key, cursor and
deletion fields (dotted paths into the vendor's JSON) and a *reader* — the paging style of the API
family (SOQL + nextRecordsUrl, CRM search + after cursor, list + after cursor...). The engine turns
whatever a reader yields into :class:`~passerelle.records.Record` objects the same way for every source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterator, Mapping, Protocol

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.options import ConnectionOptions, options_for
from passerelle.connectors.retry import RetrySettings
from passerelle.records import Window


@dataclass
class RawPage:
    """Vendor records of one API response, and where they came from (for logs and errors)."""

    items: list[dict[str, Any]]
    location: str


class StreamReader(Protocol):
    """One way of reading a stream (a paging style). ``state`` is the stream's saved reader state
    (e.g. an events sync token): readers may read and update it; it is committed with the window."""

    def pages(self, session: Any, stream: "StreamSpec", window: Window, state: dict[str, Any]) -> Iterator[RawPage]: ...


@dataclass(frozen=True)
class StreamSpec:
    name: str
    primary_key: str
    cursor_field: str
    readers: tuple[StreamReader, ...]
    deleted_field: str | None = None
    deleted_cursor_field: str | None = None
    description: str = ""


@dataclass(frozen=True)
class SourceSpec:
    """A source: its streams, how to connect, and how Airflow runs it.

    By convention the Airflow connection is ``passerelle_<name>`` and the pool ``<name>_api``.
    """

    name: str
    title: str
    streams: tuple[StreamSpec, ...]
    connect: Callable[[SourceConfig, RetrySettings], Any]
    conn_id: str = ""
    pool: str = ""
    pool_slots: int = 1
    schedule: str = "0 0 * * *"
    lookback: timedelta = timedelta(minutes=15)
    doc: str = ""
    retry: RetrySettings = field(default_factory=RetrySettings)
    tags: tuple[str, ...] = ()
    options: type[ConnectionOptions] = ConnectionOptions  # the Connection extras accepted (default: the source's)

    def __post_init__(self) -> None:
        if self.options is ConnectionOptions:
            object.__setattr__(self, "options", options_for(self.name))
        object.__setattr__(self, "conn_id", self.conn_id or f"passerelle_{self.name}")
        object.__setattr__(self, "pool", self.pool or f"{self.name}_api")

    def stream(self, name: str) -> StreamSpec:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(f"source {self.name} has no stream {name!r}")


_PATHS: dict[str, tuple[str, ...]] = {}
"""Dotted paths split once: a load asks for the same three or four paths of every record."""


def dig(item: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted path (``properties.hs_lastmodifieddate``), or None when absent.

    Called several times per record: parsed JSON is made of plain dicts, tested first because an
    ``isinstance`` against ``Mapping`` goes through the ABC machinery (a tenth of a Salesforce load)."""
    value: Any = item
    parts = _PATHS.get(path)
    if parts is None:
        parts = _PATHS[path] = tuple(path.split("."))
    for part in parts:
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
