"""``RestStream``: a REST stream as a declaration — path, where the records are, paginator, incremental
cursor, keys — read by one generic reader, so a simple stream needs no reader class.

    RestStream("users", "/rest/api/3/users/search", records=None,
               paginator=OffsetLimit(1000, "startAt", "maxResults"), primary_key="accountId",
               incremental=SnapshotDiff("accountId")).spec()

The session a source's ``connect`` returns must be a :class:`~passerelle.connectors.http.JsonApi`, or
``client`` says how to get one from it; :func:`connection_api` builds one that also answers the
Connection's options (``ratio_option``, ``option_params``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from passerelle.connectors.auth import TokenProvider
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi
from passerelle.connectors.incremental import Incremental
from passerelle.connectors.paginators import PageRequest, Paginator, Path, at, json_api_sender, paginate
from passerelle.connectors.paging import UnusableResponseError, max_response_mb
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.snapshot import SnapshotDiff
from passerelle.connectors.spec import RawPage, StreamReader, StreamSpec
from passerelle.records import Window


def _itself(session: Any) -> Any:
    return session


@dataclass
class ConnectionApi(JsonApi):
    """A :class:`JsonApi` that also answers its Connection's options (page size, missing ratio)."""

    config: SourceConfig | None = field(default=None, repr=False)

    def option(self, name: str, default: Any = None) -> Any:
        return default if self.config is None else self.config.option(name, default)


def connection_api(source: str, config: SourceConfig, retry: RetrySettings, tokens: TokenProvider,
                   api: type[ConnectionApi] = ConnectionApi, **settings: Any) -> ConnectionApi:
    """The usual ``connect``: the Connection's host, CA bundle, ``timeout`` and ``max_response_mb``
    (``api``: a subclass for a vendor's auth scheme or host)."""
    return api(source=source, base_url=config.base_url, tokens=tokens, retry=retry, verify=config.verify,
                         timeout=float(config.option("timeout", 60)), max_response_mb=max_response_mb(config),
                         config=config, **settings)


def _option(session: Any, name: str | None) -> Any:
    return None if name is None else session.option(name, None)


@dataclass(frozen=True)
class RestStream:
    """One REST listing. ``records`` is the path of the item list in the body (None: the body is the
    list); ``incremental`` is an :class:`Incremental` (window as params, client-side filter) or a
    :class:`SnapshotDiff`; ``params`` / ``json`` are sent with every page. ``enrich`` completes the
    items of each non-empty page in place (``enrich(client, stream, items)``, e.g. naming custom fields)
    before they are filtered or hashed; ``extra_readers`` run after the listing (a deletion feed).
    ``option_params`` are ``(param, option)`` pairs: a Connection option, when set, replaces that request
    parameter (``("limit", "page_size")``). With ``require_records`` a page without its item list is an
    unusable response rather than an empty page (a snapshot would read it as deletions)."""

    name: str
    path: str
    records: Path | None
    paginator: Paginator = field(default_factory=Paginator)
    primary_key: str = "id"
    cursor_field: str = "observedAt"
    incremental: Incremental | SnapshotDiff = field(default_factory=Incremental)
    params: tuple[tuple[str, Any], ...] = ()
    method: str = "GET"
    json: tuple[tuple[str, Any], ...] | None = None
    deleted_field: str | None = None
    deleted_cursor_field: str | None = None
    description: str = ""
    client: Callable[[Any], Any] = _itself
    ratio_option: str | None = None
    enrich: Callable[[Any, str, list[Any]], None] | None = None
    extra_readers: tuple[StreamReader, ...] = ()
    option_params: tuple[tuple[str, str], ...] = ()
    require_records: bool = False

    def spec(self) -> StreamSpec:
        deleted = self.deleted_field or ("deleted" if isinstance(self.incremental, SnapshotDiff) else None)
        deleted_cursor = self.deleted_cursor_field or (self.cursor_field if deleted == "deleted" else None)
        return StreamSpec(name=self.name, primary_key=self.primary_key, cursor_field=self.cursor_field,
                          readers=(RestReader(self), *self.extra_readers), deleted_field=deleted,
                          deleted_cursor_field=deleted_cursor, description=self.description)


@dataclass(frozen=True)
class RestReader:
    """Reads a :class:`RestStream`: paginate, keep the window (or diff the snapshot)."""

    rest: RestStream

    def listing(self, session: Any, stream: str, window: Window | None = None) -> Iterator[tuple[list[Any], str]]:
        api = self.rest.client(session)
        params = dict(self.rest.params)
        params.update({param: value for param, option in self.rest.option_params
                       if (value := _option(session, option)) is not None})
        if window is not None and isinstance(self.rest.incremental, Incremental):
            params.update(self.rest.incremental.params(window))
        request = PageRequest(self.rest.path, self.rest.method, params,
                              dict(self.rest.json) if self.rest.json is not None else None)
        for page in paginate(json_api_sender(api, stream), request, self.rest.paginator, records=self.rest.records,
                             what=f"{self.rest.method} {self.rest.path}", base_url=api.base_url):
            if self.rest.require_records and not isinstance(at(page.response.body, self.rest.records), list):
                found = type(at(page.response.body, self.rest.records)).__name__
                raise UnusableResponseError(f"{self.rest.method} {self.rest.path}: expected {self.rest.records} "
                                            f"to be a list, got {found}")
            if self.rest.enrich is not None and isinstance(page.items, list) and page.items:
                self.rest.enrich(api, stream, page.items)
            yield page.items, page.request.location

    def pages(self, session: Any, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        incremental = self.rest.incremental
        if isinstance(incremental, SnapshotDiff):
            value = _option(session, self.rest.ratio_option)
            ratio = None if value is None else float(value)
            yield from incremental.diff(self.listing(session, stream.name), stream.name, window, state, ratio)
            return
        for items, location in self.listing(session, stream.name, window):
            kept = [item for item in items if incremental.keep(item, window)] if isinstance(items, list) else items
            if kept:
                yield RawPage(kept, location)
