"""Hostile responses served by the emulators: each ends in one clear error naming source, stream and
what was wrong (the window rolled back) or in a quarantine; never a hang, a memory climb or a
request carrying credentials to another host."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest

from passerelle.connectors.paging import MAX_EMPTY_PAGES, PageCursor, UnusableResponseError
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count

MB = 1 << 20


# source, stream, extract options, fault path, items path, id field, next-cursor patch path
STYLES = {
    "salesforce": ("Account", {"batch_size": 200}, "/query", "records", "Id"),  # SOQL + nextRecordsUrl
    "hubspot": ("companies", {}, "/crm/v3/objects/companies", "results", "id"),  # full load: CRM list + after
    "asana": ("tasks", {}, "/tasks", "data", "gid"),  # offset tokens per project
    "jira": ("issues", {"page_size": 5}, "/search/jql", "issues", "id"),  # nextPageToken
    "monday": ("items", {"page_size": 7}, "/v2", "data/boards/0/items_page/items", "id"),  # GraphQL cursor
    "trello": ("actions", {}, "/actions", None, "id"),  # before=<last id>, bare lists
}
SOURCES = list(STYLES)


def run(sandbox: Any, conn: Any, source: str, **extra: Any):
    stream, options, *_ = STYLES[source]
    return extract_day(conn, sandbox, source, stream, **{**options, **extra})


def fails_cleanly(sandbox: Any, conn: Any, source: str, *expected: str) -> str:
    """Run the window, expect it to fail with one line naming source, stream and ``expected``; nothing stored."""
    stream = STYLES[source][0]
    before = raw_count(conn, source, stream), audit_counts(conn)
    with pytest.raises(Exception) as caught:
        run(sandbox, conn, source)
    message = str(caught.value)
    assert "\n" not in message
    assert source in message and stream in message, message
    for text in expected:
        assert text in message, message
    assert (raw_count(conn, source, stream), audit_counts(conn)) == before  # the window rolled back
    return message


REQUESTS_BEFORE_FIRST_PAGE = {"salesforce": 1}
"""Requests on the fault path before a window's first page (Salesforce counts the window first)."""


def fault(sandbox: Any, source: str, kind: str, **spec: Any) -> None:
    spec.setdefault("path", STYLES[source][2])
    spec["after"] = spec.get("after", 0) + REQUESTS_BEFORE_FIRST_PAGE.get(source, 0)
    sandbox.vendors[source].control.add_fault(kind, **spec)


def items_path(source: str, index: int) -> str:
    items = STYLES[source][3]
    return f"{items}/{index}" if items else str(index)


# ------------------------------------------------------------------- every connector


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", SOURCES)
def test_truncated_json(sandbox, warehouse_conn, source) -> None:
    fault(sandbox, source, "malformed_json")
    fails_cleanly(sandbox, warehouse_conn, source, "malformed JSON")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", SOURCES)
def test_html_error_page_with_status_200(sandbox, warehouse_conn, source) -> None:
    fault(sandbox, source, "html_page")
    message = fails_cleanly(sandbox, warehouse_conn, source, "malformed JSON")
    if source != "salesforce":  # simple-salesforce decodes the body itself
        assert "text/html" in message and "502 Bad Gateway" in message


@pytest.mark.timeout(120)
@pytest.mark.parametrize("source", SOURCES)
def test_page_of_50_mb_is_refused_by_the_size_limit(sandbox, warehouse_conn, source) -> None:
    fault(sandbox, source, "oversize", size=50 * MB)
    fails_cleanly(sandbox, warehouse_conn, source, "exceeds the 32 MB response-size limit", "max_response_mb")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", SOURCES)
def test_wrong_type_for_a_record_id(sandbox, warehouse_conn, source) -> None:
    id_field = STYLES[source][4]
    fault(sandbox, source, "rewrite", times=None, patch=[{"path": f"{items_path(source, 0)}/{id_field}",
                                                          "value": {"nested": "object"}}])
    fails_cleanly(sandbox, warehouse_conn, source, f"primary key field {id_field!r} has the wrong type: dict")


# (source, patch turning the next-page cursor into an object, a link to another host or None)
CURSORS = {
    "salesforce": [{"path": "done", "value": False}, {"path": "nextRecordsUrl", "value": {"x": 1}}],
    "hubspot": [{"path": "paging", "value": {"next": {"after": {"x": 1}}}}],
    "asana": [{"path": "next_page", "value": {"offset": {"x": 1}, "path": "/tasks"}}],
    "jira": [{"path": "isLast", "value": False}, {"path": "nextPageToken", "value": {"x": 1}}],
    "monday": [{"path": "data/boards/0/items_page/cursor", "value": {"x": 1}}],
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", list(CURSORS))
def test_wrong_type_for_a_paging_cursor(sandbox, warehouse_conn, source) -> None:
    fault(sandbox, source, "rewrite", times=None, patch=CURSORS[source])
    fails_cleanly(sandbox, warehouse_conn, source, "paging cursor of the wrong type: dict")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", SOURCES)
def test_wrong_type_for_a_record_cursor(sandbox, warehouse_conn, source) -> None:
    stream = STYLES[source][0]
    from passerelle.connectors.registry import get_source

    cursor_field = get_source(source).stream(stream).cursor_field
    path = f"{items_path(source, 0)}/{cursor_field.replace('.', '/')}"
    fault(sandbox, source, "rewrite", times=None, patch=[{"path": path, "value": [1, 2]}])
    fails_cleanly(sandbox, warehouse_conn, source, f"cursor field {cursor_field!r} is not a timestamp")


# ------------------------------------------------------------------- per paging style


class OtherHost:
    """A listening socket standing for another host: it must never see a connection."""

    def __enter__(self) -> "OtherHost":
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.url = f"https://localhost:{self.sock.getsockname()[1]}"
        return self

    def connections(self) -> int:
        count = 0
        while True:
            try:
                accepted, _ = self.sock.accept()
            except BlockingIOError:
                return count
            accepted.close()
            count += 1

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()


LINKS = {
    "salesforce": lambda url: [{"path": "done", "value": False},
                               {"path": "nextRecordsUrl", "value": f"{url}/services/data/v62.0/queryAll/01g-200"}],
    "hubspot": lambda url: [{"path": "paging", "value": {"next": {"after": "100", "link": f"{url}/crm/v3/x?after=100"}}}],
    "asana": lambda url: [{"path": "next_page", "value": {"offset": "eyJ0", "path": "/tasks?offset=eyJ0",
                                                          "uri": f"{url}/api/1.0/tasks?offset=eyJ0"}}],
}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", list(LINKS))
def test_next_link_to_another_host_is_refused(sandbox, warehouse_conn, source) -> None:
    with OtherHost() as other:
        fault(sandbox, source, "rewrite", times=None, patch=LINKS[source](other.url))
        fails_cleanly(sandbox, warehouse_conn, source, "points to another host", "refused")
        assert other.connections() == 0


def many_pages(sandbox: Any, source: str) -> None:
    control = sandbox.vendors[source].control
    control.set_clock(DAY1 + timedelta(hours=12))  # created inside the extracted window
    if source == "salesforce":
        control.bulk("Account", create=450)  # 3 pages of 200
    if source == "hubspot":
        control.bulk("companies", create=450)  # 3 search pages of 200


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", ["salesforce", "hubspot", "jira"])
def test_cursor_that_goes_backwards_is_refused(sandbox, warehouse_conn, source) -> None:
    """The second page answers with the first page again: its cursor was already followed."""
    many_pages(sandbox, source)
    fault(sandbox, source, "replay", times=None)
    fails_cleanly(sandbox, warehouse_conn, source, "already followed", "would loop forever")


EMPTY = {"salesforce": "records", "hubspot": "results", "jira": "issues"}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source", list(EMPTY))
def test_empty_pages_with_a_next_link_do_not_loop(sandbox, warehouse_conn, source) -> None:
    many_pages(sandbox, source)
    fault(sandbox, source, "replay", times=None, patch=[{"path": EMPTY[source], "value": []}])
    fails_cleanly(sandbox, warehouse_conn, source, "already followed")


@pytest.mark.timeout(10)
def test_endless_empty_pages_with_fresh_cursors_are_bounded() -> None:
    cursors = PageCursor("GET /tasks")
    with pytest.raises(UnusableResponseError, match="empty pages in a row still announce a next page"):
        for number in range(10_000):
            cursors.advance(f"token-{number}", 0)
    assert number == MAX_EMPTY_PAGES
    ordered = PageCursor("search", ordered=True)
    ordered.advance("200", 200)
    with pytest.raises(UnusableResponseError, match=r"went backwards \(100 after 200\)"):
        ordered.advance("100", 200)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("source, cursor_field, conflicts", [
    ("salesforce", "SystemModstamp", 1), ("jira", "fields/updated", 1),
    ("asana", "modified_at", 1), ("monday", "updated_at", 1),
])
def test_duplicate_ids_inside_a_page(sandbox, warehouse_conn, source, cursor_field, conflicts) -> None:
    """The same record twice loads once; two contents for one id and cursor go to quarantine."""
    stream, id_field = STYLES[source][0], STYLES[source][4]
    first, second, third = (items_path(source, i) for i in (0, 1, 2))
    fault(sandbox, source, "rewrite", after=1 if source == "monday" else 0, patch=[  # monday lists boards first
        {"path": second, "copy": first},  # an exact repeat
        {"path": f"{third}/{id_field}", "copy": f"{first}/{id_field}"},  # same id, other content...
        {"path": f"{third}/{cursor_field}", "copy": f"{first}/{cursor_field}"},  # ...at the same cursor
    ])
    clean = run(sandbox, warehouse_conn, source)
    assert clean.quarantined == conflicts
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM quality.quarantine WHERE source_system = %s"
                    " AND rule = 'raw.conflicting_duplicate'", (source,))
        assert cur.fetchone()[0] == conflicts
        cur.execute("SELECT count(*) FROM raw.records WHERE source = %s AND stream = %s"
                    " GROUP BY record_id ORDER BY 1 DESC LIMIT 1", (source, stream))
        assert cur.fetchone()[0] == 1  # no record stored twice
    warehouse_conn.rollback()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("source, obj, field", [("salesforce", "Account", "Description"), ("asana", "tasks", "notes")])
def test_record_of_10_mb_loads_intact(sandbox, warehouse_conn, source, obj, field) -> None:
    control = sandbox.vendors[source].control
    control.set_clock(DAY1 + timedelta(hours=12))
    id_field = STYLES[source][4]
    target = sorted(str(r[id_field]) for r in control.records(obj) if not r.get("IsDeleted"))[0]
    big = "é" * (5 * MB)  # 10 MB of UTF-8
    app = sandbox.vendors[source].app
    with app.lock:
        app.control_update(obj, target, {"fields": {field: big}})
    stats = run(sandbox, warehouse_conn, source)
    assert stats.unloadable == 0
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT octet_length(payload ->> %s), payload ->> %s = %s FROM raw.records"
                    " WHERE source = %s AND record_id = %s", (field, field, big, source, target))
        assert cur.fetchone() == (10 * MB, True)
    warehouse_conn.rollback()
