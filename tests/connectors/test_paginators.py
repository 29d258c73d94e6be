"""Each paginator against a small API served over real HTTP on loopback, including the guard cases:
cursors of the wrong type, repeating cursors, endless empty pages and links to another host."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from passerelle import exact_json
from passerelle.connectors.auth import StaticToken
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi
from passerelle.connectors.incremental import ModifiedSince, WindowFilter, in_window
from passerelle.connectors.paginators import (
    CursorToken, GraphQLCursor, LastItemCursor, LinkHeader, NextUrl, ODataNextLink, OffsetLimit, PageNumber,
    PageRequest, PageThenToken, Paginator, json_api_sender, paginate,
)
from passerelle.connectors.paging import MAX_EMPTY_PAGES, UnusableResponseError
from passerelle.connectors.rest import RestReader, RestStream, connection_api
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage
from passerelle.records import Window

ITEMS = [{"id": i, "amount": Decimal(f"{i}.10"), "updated": f"2026-03-0{1 + i % 3}T10:00:00Z"} for i in range(1, 8)]
PAGE = 3
OTHER_HOST = "http://other.invalid:8443"


def _answer(request: Request, base: str) -> Response:
    """The same seven items behind every paging style; ``mode`` selects a vendor bug."""
    args, mode, headers = request.args, request.args.get("mode", ""), {}
    path = request.path
    if path == "/next-url":
        start = int(args.get("p", 0))
        more = start + PAGE < len(ITEMS)
        nxt = {"": f"/next-url?p={start + PAGE}", "repeat": "/next-url?p=0&mode=repeat",
               "other-host": f"{OTHER_HOST}/next-url?p=3"}[mode] if more else None
        body: Any = {"data": ITEMS[start:start + PAGE], "next": nxt}
    elif path == "/odata":
        skip = int(args.get("$skip", 0))
        body = {"value": ITEMS[skip:skip + PAGE]}
        if skip + PAGE < len(ITEMS):
            body["@odata.nextLink"] = f"{base}/odata?$skip={skip + PAGE}"
    elif path == "/cursor":
        start = int(args.get("after", 0))
        if mode == "empty":  # a fresh cursor on every empty page, forever
            body = {"results": [], "paging": {"next": {"after": str(start + 1)}}}
        else:
            after: Any = {"": str(start + PAGE), "repeat": "0", "wrong-type": [start + PAGE]}[mode]
            body = {"results": ITEMS[start:start + PAGE], "paging": {"next": {"after": after}} if start + PAGE < len(ITEMS) else {}}
    elif path == "/search":  # token in the POST body, isLast flag
        sent = json.loads(request.get_data() or b"{}")
        start = int(sent.get("nextPageToken") or 0)
        last = start + PAGE >= len(ITEMS)
        body = {"issues": ITEMS[start:start + PAGE], "isLast": last, "nextPageToken": None if last else str(start + PAGE)}
    elif path == "/offset":
        offset, limit = int(args["startAt"]), int(args["maxResults"])
        body = {"values": ITEMS[offset:offset + limit], "isLast": offset + limit >= len(ITEMS)}
    elif path == "/pages":
        page, size = int(args["page"]), int(args["per_page"])
        body = ITEMS[(page - 1) * size: page * size]
    elif path == "/link":
        page = int(args.get("page", 1))
        body = ITEMS[(page - 1) * PAGE: page * PAGE]
        if page * PAGE < len(ITEMS):
            target = f"{OTHER_HOST}/link?page={page + 1}" if mode == "other-host" else f"{base}/link?page={page + 1}"
            headers["Link"] = f'<{base}/link?page=1>; rel="first", <{target}>; rel="next"'
    elif path == "/graphql":
        variables = json.loads(request.get_data())["variables"]
        start = int(variables.get("cursor") or 0)
        end = start + PAGE
        cursor = "0" if variables.get("mode") == "repeat" else str(end)
        body = {"data": {"items": {"nodes": ITEMS[start:end], "pageInfo": {"endCursor": cursor,
                                                                            "hasNextPage": end < len(ITEMS)}}}}
    elif path == "/v1":  # start/limit, the body says whether more items follow and where (Pipedrive v1)
        start = int(args["start"])
        more = start + PAGE < len(ITEMS)  # never more than PAGE items, whatever the limit asked
        following = 0 if mode == "backwards" else start + PAGE
        body = {"data": ITEMS[start:start + PAGE],
                "additional_data": {"pagination": {"more_items_in_collection": more, "next_start": following}}}
    elif path == "/nested":  # folk: records at data.items, an absolute next link at data.pagination.nextLink
        start, limit = int(args.get("start", 0)), int(args["limit"])
        more = start + limit < len(ITEMS)
        data: Any = {"items": ITEMS[start:start + limit], "pagination": {}}
        if mode == "no-items" and start:
            del data["items"]
        elif more:
            data["pagination"]["nextLink"] = f"{base}/nested?start={start + limit}&limit={limit}&mode={mode}"
        body = {"data": data}
    elif path == "/actions":  # newest first, bare list, before=<id of the last item>
        newest_first = ITEMS[::-1]
        before = args.get("before")
        if mode == "repeat":
            before = None
        start = next(i for i, a in enumerate(newest_first) if str(a["id"]) == before) + 1 if before else 0
        body = newest_first[start:start + int(args["limit"])]
    elif path == "/zoho":  # page=2,3… refused past page 2; next_page_token once the cap is near (Zoho)
        page, size = int(args.get("page", 1)), int(args["per_page"])
        if page > 2:
            return Response('{"code": "LIMIT_REACHED"}', status=400, content_type="application/json")
        start = int(args["page_token"][1:]) if "page_token" in args else (page - 1) * size
        info: dict[str, Any] = {"more_records": start + size < len(ITEMS)}
        if info["more_records"] and start + size >= 2 * size:
            info["next_page_token"] = f"t{start + size}"
        if mode == "repeat":
            info = {"more_records": True, "next_page_token": "t6"}
        body = {"data": ITEMS[start:start + size], "info": info}
    else:
        return Response("not found", status=404)
    return Response(exact_json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture(scope="module")
def api() -> Iterator[JsonApi]:
    holder: dict[str, str] = {}
    server = make_server("127.0.0.1", 0, Request.application(lambda request: _answer(request, holder["base"])))
    holder["base"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield JsonApi(source="kit", base_url=holder["base"], tokens=StaticToken("t0ken"),
                  retry=RetrySettings(attempts=1, initial_wait=0.01, max_wait=0.01))
    server.shutdown()
    thread.join()


def ids(api: JsonApi, request: PageRequest, paginator: Paginator, records: Any) -> list[list[int]]:
    pages = paginate(json_api_sender(api, "items"), request, paginator, records=records, what=f"GET {request.path}",
                     base_url=api.base_url)
    return [[item["id"] for item in page.items] for page in pages]


EVERY_PAGE = [[1, 2, 3], [4, 5, 6], [7]]

STYLES = {
    "next url": (PageRequest("/next-url"), NextUrl("next"), "data"),
    "odata": (PageRequest("/odata"), ODataNextLink(), "value"),
    "cursor token": (PageRequest("/cursor"), CursorToken("paging.next.after", "after"), "results"),
    "token in body": (PageRequest("/search", "POST", json={"jql": "x"}),
                      CursorToken("nextPageToken", "nextPageToken", in_body=True, last_field="isLast"), "issues"),
    "offset/limit": (PageRequest("/offset"), OffsetLimit(PAGE, "startAt", "maxResults", last_field="isLast"), "values"),
    "page number": (PageRequest("/pages"), PageNumber(PAGE), None),
    "page then token": (PageRequest("/zoho"), PageThenToken(PAGE, "info.more_records", "info.next_page_token"), "data"),
    "offset/limit, more flag": (PageRequest("/v1"), OffsetLimit(
        PAGE + 10, "start", "limit", more_field="additional_data.pagination.more_items_in_collection",
        next_offset_field="additional_data.pagination.next_start"), "data"),
    "link header": (PageRequest("/link"), LinkHeader(), None),
    "graphql": (PageRequest("/graphql", "POST"),
                GraphQLCursor("data.items.pageInfo.endCursor", has_next_field="data.items.pageInfo.hasNextPage"),
                "data.items.nodes"),
}


def graphql_sender(api: JsonApi) -> Any:
    """GraphQL: the paginator's variables travel in the POST body next to the query."""
    send = json_api_sender(api, "items")
    return lambda req: send(PageRequest(req.path, "POST", json={"query": "q", "variables": dict(req.json or {})}))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("style", list(STYLES))
def test_every_paginator_reads_every_page_once(api, style) -> None:
    request, paginator, records = STYLES[style]
    if style == "graphql":
        pages = paginate(graphql_sender(api), request, paginator, records=records, what="POST /graphql")
        assert [[i["id"] for i in p.items] for p in pages] == EVERY_PAGE
    else:
        assert ids(api, request, paginator, records) == EVERY_PAGE


@pytest.mark.timeout(30)
def test_last_item_cursor_walks_newest_first(api) -> None:
    pages = ids(api, PageRequest("/actions"), LastItemCursor(PAGE), None)
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("request_, paginator, records, message", [
    (PageRequest("/next-url", params={"mode": "repeat"}), NextUrl("next"), "data", "already followed"),
    (PageRequest("/cursor", params={"mode": "repeat"}), CursorToken("paging.next.after", "after"), "results",
     "already followed"),
    (PageRequest("/cursor", params={"mode": "wrong-type"}), CursorToken("paging.next.after", "after"), "results",
     "paging cursor of the wrong type: list"),
    (PageRequest("/actions", params={"mode": "repeat"}), LastItemCursor(PAGE), None, "already followed"),
    (PageRequest("/zoho", params={"mode": "repeat"}), PageThenToken(PAGE, "info.more_records", "info.next_page_token"),
     "data", "already followed"),
    (PageRequest("/v1", params={"mode": "backwards"}),
     OffsetLimit(PAGE, "start", "limit", more_field="additional_data.pagination.more_items_in_collection",
                 next_offset_field="additional_data.pagination.next_start"), "data", "already followed"),
])
def test_repeating_and_wrong_type_cursors_are_refused(api, request_, paginator, records, message) -> None:
    with pytest.raises(UnusableResponseError, match=message):
        ids(api, request_, paginator, records)


@pytest.mark.timeout(30)
def test_page_then_token_drops_the_page_number_once_a_token_is_given(api) -> None:
    pages = paginate(json_api_sender(api, "items"), PageRequest("/zoho"),
                     PageThenToken(PAGE, "info.more_records", "info.next_page_token"), records="data", what="GET /zoho")
    assert [page.request.location for page in pages] == [
        "/zoho?per_page=3", "/zoho?per_page=3&page=2", "/zoho?per_page=3&page_token=t6"]


@pytest.mark.timeout(30)
def test_repeating_graphql_cursor_is_refused(api) -> None:
    paginator = GraphQLCursor("data.items.pageInfo.endCursor", has_next_field="data.items.pageInfo.hasNextPage")
    with pytest.raises(UnusableResponseError, match="already followed"):
        list(paginate(graphql_sender(api), PageRequest("/graphql", "POST", json={"mode": "repeat"}), paginator,
                      records="data.items.nodes", what="POST /graphql"))


@pytest.mark.timeout(60)
def test_endless_empty_pages_are_bounded(api) -> None:
    seen = 0
    with pytest.raises(UnusableResponseError, match="empty pages in a row still announce a next page"):
        for _ in paginate(json_api_sender(api, "items"), PageRequest("/cursor", params={"mode": "empty"}),
                          CursorToken("paging.next.after", "after"), records="results", what="GET /cursor",
                          base_url=api.base_url):
            seen += 1
    assert seen == MAX_EMPTY_PAGES + 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("request_, paginator, records", [
    (PageRequest("/next-url", params={"mode": "other-host"}), NextUrl("next"), "data"),
    (PageRequest("/link", params={"mode": "other-host"}), LinkHeader(), None),
])
def test_links_to_another_host_are_refused(api, request_, paginator, records) -> None:
    with pytest.raises(UnusableResponseError, match="points to another host"):
        ids(api, request_, paginator, records)


def test_paths_only_refuses_absolute_links_on_the_same_host(api) -> None:
    with pytest.raises(UnusableResponseError, match="is not a path on the instance"):
        ids(api, PageRequest("/odata"), NextUrl(("@odata.nextLink",), paths_only=True), "value")


@pytest.mark.timeout(30)
def test_rest_stream_declaration_reads_the_window_with_exact_amounts(api) -> None:
    stream = RestStream("items", "/cursor", records="results", paginator=CursorToken("paging.next.after", "after"),
                        cursor_field="updated", incremental=WindowFilter("updated")).spec()
    window = Window(datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 3, tzinfo=timezone.utc))
    pages = list(stream.readers[0].pages(api, stream, window, {}))
    kept = [item for page in pages for item in page.items]
    assert [i["id"] for i in kept] == [1, 4, 7]
    assert [i["amount"] for i in kept] == [Decimal("1.10"), Decimal("4.10"), Decimal("7.10")]  # exact, never float


def test_in_window_is_half_open_and_keeps_undated_items() -> None:
    window = Window(datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 3, tzinfo=timezone.utc))
    assert in_window({"u": "2026-03-02T00:00:00Z"}, "u", window)
    assert not in_window({"u": "2026-03-03T00:00:00Z"}, "u", window)
    assert not in_window({"a": {"u": "2026-03-01T23:59:59Z"}}, "a.u", window)
    assert in_window({"u": None}, "u", window) and in_window({"u": "not a date"}, "u", window)


def test_modified_since_renders_the_window_as_params() -> None:
    window = Window(datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=timezone.utc), datetime(2026, 3, 3, tzinfo=timezone.utc))
    cursor = ModifiedSince("modified_at", start_param="modified_since", end_param="modified_before")
    assert cursor.params(window) == {"modified_since": "2026-03-02T10:00:00.123Z",
                                     "modified_before": "2026-03-03T00:00:00.000Z"}
    assert cursor.params(Window(None, window.end)) == {"modified_before": "2026-03-03T00:00:00.000Z"}


@pytest.mark.timeout(30)
def test_rest_stream_enriches_each_page_before_the_window_and_runs_extra_readers(api) -> None:
    calls: list[tuple[str, list[int]]] = []

    def enrich(client: Any, stream: str, items: list[Any]) -> None:
        calls.append((stream, [item["id"] for item in items]))
        for item in items:
            item["label"] = f"#{item['id']}"

    class Tombstones:
        def pages(self, session: Any, stream: Any, window: Window,
                  state: dict[str, Any]) -> Iterator[RawPage]:
            yield RawPage([{"id": 99, "deleted": True}], "deletion feed")

    stream = RestStream("items", "/cursor", records="results", paginator=CursorToken("paging.next.after", "after"),
                        cursor_field="updated", incremental=WindowFilter("updated"), enrich=enrich,
                        extra_readers=(Tombstones(),)).spec()
    window = Window(datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 3, tzinfo=timezone.utc))
    pages = [page for reader in stream.readers for page in reader.pages(api, stream, window, {})]
    assert calls == [("items", [1, 2, 3]), ("items", [4, 5, 6]), ("items", [7])]  # every item, before the filter
    assert [[(i["id"], i.get("label")) for i in page.items] for page in pages] == [
        [(1, "#1")], [(4, "#4")], [(7, "#7")], [(99, None)]]


@pytest.mark.timeout(30)
def test_rest_stream_sends_a_connection_option_and_requires_its_records(api) -> None:
    rest = RestStream("items", "/nested", records="data.items", paginator=NextUrl("data.pagination.nextLink"),
                      params=(("limit", PAGE),), option_params=(("limit", "page_size"),), require_records=True)

    def pages(stream: RestStream, **extra: Any) -> list[list[int]]:
        session = connection_api("kit", SourceConfig(host=api.base_url, extra=extra), api.retry, StaticToken("t0ken"))
        return [[item["id"] for item in items] for items, _ in RestReader(stream).listing(session, "items")]

    assert pages(rest, page_size=2) == [[1, 2], [3, 4], [5, 6], [7]]  # the option replaces the declared limit
    assert pages(rest) == EVERY_PAGE
    broken = replace(rest, params=(("limit", PAGE), ("mode", "no-items")))
    with pytest.raises(UnusableResponseError, match="expected data.items to be a list, got NoneType"):
        pages(broken)
    assert pages(replace(broken, require_records=False)) == [[1, 2, 3], []]  # absent: an empty page by default
