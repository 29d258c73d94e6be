"""Paginators: how a listing goes from one page to the next, declared rather than hand-written.

A stream names one paginator (next URL in the body, cursor token, offset/limit, page number, page then token, RFC 8288
``Link`` header, OData ``@odata.nextLink``, GraphQL cursor, last item's id). :func:`paginate` walks it
and every paginator hands each next cursor or link to the one set of guards in
:mod:`passerelle.connectors.paging`: wrong-type, repeating or backwards cursors, endless empty pages,
links to another host. A vendor bug then ends the window with one clear line instead of a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Mapping

from requests.utils import parse_header_links

from passerelle.connectors.paging import PageCursor, UnusableResponseError, same_origin

Path = str | tuple[str, ...]
"""Where a value sits in a body: a dotted path (``paging.next.after``; digits index lists) or a tuple
of keys for names holding dots (``("@odata.nextLink",)``)."""


def at(body: Any, path: Path | None, default: Any = None) -> Any:
    """The value at ``path`` in a decoded body (``None`` path: the body itself), or ``default``."""
    if path is None:
        return body
    value = body
    for part in (path.split(".") if isinstance(path, str) else path):
        if isinstance(value, Mapping):
            if part not in value:
                return default
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return default
    return value


@dataclass(frozen=True)
class PageRequest:
    """One request of a listing; paginators derive the next one from it."""

    path: str
    method: str = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None

    @property
    def location(self) -> str:
        """Where a page came from, for logs and error lines (never carries credentials)."""
        if not self.params:
            return self.path
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.path}{'&' if '?' in self.path else '?'}{query}"

    def with_params(self, **params: Any) -> "PageRequest":
        return replace(self, params={**self.params, **params})

    def with_json(self, **values: Any) -> "PageRequest":
        return replace(self, json={**(self.json or {}), **values})


@dataclass(frozen=True)
class PageResponse:
    """What a paginator may look at: the decoded body and the response headers."""

    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


Send = Callable[[PageRequest], PageResponse]


@dataclass(frozen=True)
class FetchedPage:
    items: Any
    request: PageRequest
    response: PageResponse


class Paginator:
    """Base: a single page. Subclasses say how the first request is shaped and what follows a page."""

    ordered = False
    """Cursors are numbers that must grow (offsets, page numbers)."""

    def first(self, request: PageRequest) -> PageRequest:
        return request

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        return None


SinglePage = Paginator


@dataclass(frozen=True)
class NextUrl(Paginator):
    """The body names the next page's URL (``nextRecordsUrl``, ``next``...). With ``done_field`` the
    body's flag decides when to stop (a missing URL while not done is an error); with ``paths_only``
    an absolute URL is refused even on the same host."""

    url_field: Path = "next"
    done_field: Path | None = None
    paths_only: bool = False

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        url = at(response.body, self.url_field)
        if self.done_field is not None:
            if at(response.body, self.done_field, True):
                return None
        elif url is None or url == "":
            return None
        url = str(guard.advance(url, len(items)))
        return PageRequest(path=follow(url, base_url, guard.what, self.url_field, self.paths_only), method=request.method)


def follow(url: str, base_url: str, what: str, name: Path, paths_only: bool = False) -> str:
    """A next link once checked: same host as the Connection, and a path when ``paths_only``."""
    is_path = url.startswith("/") and not url.startswith("//")
    if not is_path:
        same_origin(url, base_url)
        if paths_only:
            label = name if isinstance(name, str) else ".".join(name)
            raise UnusableResponseError(f"{what}: {label} {url[:120]!r} is not a path on the instance")
    return url


@dataclass(frozen=True)
class ODataNextLink(NextUrl):
    """OData (Microsoft Graph, Dynamics): ``@odata.nextLink`` until it is absent."""

    url_field: Path = ("@odata.nextLink",)


@dataclass(frozen=True)
class CursorToken(Paginator):
    """An opaque token in the body (``paging.next.after``, ``nextPageToken``) sent back as a query
    parameter or, with ``in_body``, a JSON body field. ``last_field`` (``isLast``) ends the listing
    when true; otherwise a missing token does."""

    token_field: Path
    param: str
    in_body: bool = False
    last_field: Path | None = None
    link_field: Path | None = None
    """A next URL announced next to the token: never followed, but refused when it names another host."""

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        token = at(response.body, self.token_field)
        if self.link_field is not None and isinstance(link := at(response.body, self.link_field), str):
            same_origin(link, base_url)
        if token is None or token == "" or (self.last_field is not None and at(response.body, self.last_field, False)):
            return None
        token = guard.advance(token, len(items))
        return request.with_json(**{self.param: token}) if self.in_body else request.with_params(**{self.param: token})


@dataclass(frozen=True)
class OffsetLimit(Paginator):
    """``offset``/``limit`` style (``startAt``/``maxResults``): the offset grows by the items received,
    or is the one the body announces at ``next_offset_field`` (Pipedrive's ``next_start``). Ends on an
    empty page, on ``last_field`` when the API has one (missing counts as last), on ``more_field`` being
    false or missing (``more_items_in_collection``), else on a short page."""

    limit: int
    offset_param: str = "offset"
    limit_param: str = "limit"
    last_field: Path | None = None
    start: int = 0
    more_field: Path | None = None
    next_offset_field: Path | None = None
    ordered = True

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_params(**{self.offset_param: self.start, self.limit_param: self.limit})

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        if not items:
            return None
        if self.last_field is not None:
            if at(response.body, self.last_field, True):
                return None
        elif self.more_field is not None:
            if not at(response.body, self.more_field, False):
                return None
        elif len(items) < self.limit:
            return None
        following = int(request.params[self.offset_param]) + len(items)
        if self.next_offset_field is not None:
            following = at(response.body, self.next_offset_field, following)
        offset = guard.advance(following, len(items))
        return request.with_params(**{self.offset_param: offset})


@dataclass(frozen=True)
class PageNumber(Paginator):
    """``page=1,2,3…`` with a page size: ends on a short or empty page (or ``last_field`` when true)."""

    size: int
    page_param: str = "page"
    size_param: str = "per_page"
    start: int = 1
    last_field: Path | None = None
    ordered = True

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_params(**{self.page_param: self.start, self.size_param: self.size})

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        if len(items) < self.size or (self.last_field is not None and at(response.body, self.last_field, False)):
            return None
        page = guard.advance(int(request.params[self.page_param]) + 1, len(items))
        return request.with_params(**{self.page_param: page})


@dataclass(frozen=True)
class PageThenToken(Paginator):
    """``page=2,3…`` while ``more_field`` is true, then the body's token once it names one (Zoho:
    ``page`` stops at 2,000 records, ``page_token`` goes on). Page 1 is the request without ``page``."""

    size: int
    more_field: Path
    token_field: Path
    token_param: str = "page_token"
    page_param: str = "page"
    size_param: str = "per_page"

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_params(**{self.size_param: self.size})

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        if not at(response.body, self.more_field, False):
            return None
        token = at(response.body, self.token_field)
        if token:
            params = {k: v for k, v in request.params.items() if k != self.page_param}
            return replace(request, params={**params, self.token_param: guard.advance(token, len(items))})
        page = guard.advance(str(int(request.params.get(self.page_param, 1)) + 1), len(items))
        return request.with_params(**{self.page_param: page})


@dataclass(frozen=True)
class LinkHeader(Paginator):
    """RFC 8288 ``Link: <…>; rel="next"`` (GitHub, GitLab, Zendesk...), followed until absent."""

    rel: str = "next"

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        header = response.headers.get("Link") or response.headers.get("link")
        links = [link for link in parse_header_links(header) if self.rel in link.get("rel", "").split()] if header else []
        if not links:
            return None
        url = str(guard.advance(links[0].get("url", ""), len(items)))
        return PageRequest(path=follow(url, base_url, guard.what, "Link"), method=request.method)


@dataclass(frozen=True)
class GraphQLCursor(Paginator):
    """A GraphQL connection cursor (``items_page.cursor``, ``pageInfo.endCursor``) passed back as a
    query variable; ``has_next_field`` (``pageInfo.hasNextPage``) ends the listing when false."""

    cursor_field: Path
    variable: str = "cursor"
    has_next_field: Path | None = None

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        cursor = at(response.body, self.cursor_field)
        if cursor is None or cursor == "":
            return None
        if self.has_next_field is not None and not at(response.body, self.has_next_field, False):
            return None
        return request.with_json(**{self.variable: guard.advance(cursor, len(items))})


@dataclass(frozen=True)
class LastItemCursor(Paginator):
    """The next page starts after the last item of a full page (Trello's ``before=<last action id>``):
    ``limit`` items per page, a short page ends the listing. ``on_missing`` names the error when the
    last item has no usable field (None: end the listing quietly)."""

    limit: int
    param: str = "before"
    item_field: Path = "id"
    limit_param: str = "limit"
    on_missing: Callable[[PageRequest, list[Any]], Exception] | None = None

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_params(**{self.limit_param: self.limit})

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        if len(items) < self.limit:
            return None
        value = at(items[-1], self.item_field)
        if value is None or value == "":
            if self.on_missing is None:
                return None
            raise self.on_missing(request, items)
        return request.with_params(**{self.param: guard.advance(value, len(items))})


def paginate(send: Send, request: PageRequest, paginator: Paginator, *, records: Path | None, what: str,
             base_url: str | Callable[[], str] = "") -> Iterator[FetchedPage]:
    """Every page of a listing: ``send`` performs one request, ``records`` locates the items in the body
    (absent: an empty page; another type is left for the engine to name). ``what`` names the listing
    in guard errors; ``base_url`` is the only host next links may point to (a function when it is
    known only once the first request authenticated)."""
    guard = PageCursor(what, ordered=paginator.ordered)
    current: PageRequest | None = paginator.first(request)
    while current is not None:
        response = send(current)
        items = at(response.body, records, [])
        items = [] if items is None else items
        yield FetchedPage(items, current, response)
        origin = base_url() if callable(base_url) else base_url
        current = paginator.next(current, response, items if isinstance(items, list) else [], guard, origin)


def json_api_sender(api: Any, stream: str) -> Send:
    """A :data:`Send` over :class:`~passerelle.connectors.http.JsonApi` (retries, auth, size cap)."""

    def send(request: PageRequest) -> PageResponse:
        kwargs: dict[str, Any] = {}
        if request.params:
            kwargs["params"] = dict(request.params)
        if request.json is not None:
            kwargs["json"] = dict(request.json)
        answer = api.fetch(request.method, request.path, stream=stream, **kwargs)
        return PageResponse(answer.body, answer.headers)

    return send
