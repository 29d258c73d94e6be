"""Salesforce windows above ``bulk_threshold`` go through Bulk API 2.0 queryAll jobs (sandbox, real warehouse)."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle import exact_json
from passerelle.connectors.options import validated
from passerelle.connectors.registry import get_source
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.sources.salesforce import SoqlWindowReader, connect
from passerelle.errors import SourceRequestError, SourceUnavailableError
from passerelle.records import Window
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count, raw_versions, source_config

BULK = {"bulk_threshold": 100, "bulk_page_size": 200}
REST = {"bulk_threshold": 1_000_000}


def live(sandbox: Any, obj: str) -> list[dict]:
    return [r for r in sandbox.vendors["salesforce"].control.records(obj) if not r.get("IsDeleted")]


def bulk_calls(sandbox: Any) -> dict[str, int]:
    """Bulk API 2.0 query requests by kind: job creations, polls, result pages."""
    counts = {"create": 0, "poll": 0, "results": 0}
    for path, n in sandbox.vendors["salesforce"].control.stats()["by_path"].items():
        if "/jobs/query" not in path:
            continue
        kind = "results" if path.endswith("/results") else "poll" if path.rstrip("/").split("/")[-1] != "query" else "create"
        counts[kind] += n
    return counts


def read_window(sandbox: Any, sobject: str, window: Window, **extra: Any) -> list[dict[str, Any]]:
    """The items the stream's reader yields for ``window``, as the raw layer receives them."""
    source = get_source("salesforce")
    config = validated(source_config(sandbox, "salesforce", **extra), source.options, "salesforce", "test")
    session = connect(config, RetrySettings(attempts=3, initial_wait=0.05, max_wait=0.2))
    stream = source.stream(sobject)
    return [item for page in SoqlWindowReader(sobject).pages(session, stream, window, {}) for item in page.items]


def test_window_at_or_below_the_threshold_reads_rest(sandbox, warehouse_conn) -> None:
    accounts = len(live(sandbox, "Account"))
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account", bulk_threshold=accounts)
    assert stats.inserted == accounts
    assert bulk_calls(sandbox) == {"create": 0, "poll": 0, "results": 0}


def test_bulk_off_reads_rest_without_counting(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=150)
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account", use_bulk=False, bulk_threshold=100)
    assert stats.inserted == len(live(sandbox, "Account")) > 100
    assert bulk_calls(sandbox) == {"create": 0, "poll": 0, "results": 0}
    rest_requests = sum(n for path, n in control.stats()["by_path"].items() if "/queryAll" in path)
    assert rest_requests == stats.pages  # the pages only: no COUNT() before them


def test_window_above_the_threshold_reads_a_bulk_job_page_by_page(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=450)
    control.config(bulk_query_polls_in_progress=2)
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account", **BULK)
    accounts = live(sandbox, "Account")
    assert stats.inserted == len(accounts) == raw_count(warehouse_conn, "salesforce", "Account")
    assert stats.pages == -(-len(accounts) // 200)
    assert bulk_calls(sandbox) == {"create": 1, "poll": 3, "results": stats.pages}
    rest_pages = sum(n for path, n in control.stats()["by_path"].items() if "/queryAll" in path)
    assert rest_pages == 1  # the COUNT() only


def test_a_bulk_page_is_handed_on_in_rest_sized_parts(sandbox) -> None:
    """A result page of 1,000 rows reaches the loader 300 records at a time (memory holds one part's dicts)."""
    sandbox.vendors["salesforce"].control.bulk("Account", create=1200)
    source = get_source("salesforce")
    config = validated(source_config(sandbox, "salesforce", bulk_threshold=0, bulk_page_size=1000, batch_size=300),
                       source.options, "salesforce", "test")
    session = connect(config, RetrySettings(attempts=3, initial_wait=0.05, max_wait=0.2))
    window = Window(None, DAY1 + timedelta(days=1))
    pages = list(SoqlWindowReader("Account").pages(session, source.stream("Account"), window, {}))
    accounts = len(live(sandbox, "Account"))
    parts = [min(300, rows - start) for page in range(0, accounts, 1000)
             for rows in [min(1000, accounts - page)] for start in range(0, rows, 300)]
    assert [len(p.items) for p in pages] == parts
    assert len({item["Id"] for p in pages for item in p.items}) == accounts
    assert bulk_calls(sandbox)["results"] == -(-accounts // 1000)


def test_the_next_result_page_is_requested_while_this_one_is_read(sandbox) -> None:
    """The server writes page 2 while page 1's rows become records: holding the first part of page 1
    unread, the request for page 2 has already been made (and no further one)."""
    sandbox.vendors["salesforce"].control.bulk("Account", create=1200)
    source = get_source("salesforce")
    config = validated(source_config(sandbox, "salesforce", bulk_threshold=0, bulk_page_size=500, batch_size=200),
                       source.options, "salesforce", "test")
    session = connect(config, RetrySettings(attempts=3, initial_wait=0.05, max_wait=0.2))
    pages = SoqlWindowReader("Account").pages(session, source.stream("Account"), Window(None, DAY1 + timedelta(days=1)), {})
    first = next(pages)
    assert len(first.items) == 200
    deadline = time.monotonic() + 10
    while bulk_calls(sandbox)["results"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bulk_calls(sandbox)["results"] == 2
    rest = [item for page in pages for item in page.items]
    assert len({item["Id"] for item in [*first.items, *rest]}) == len(live(sandbox, "Account"))
    assert bulk_calls(sandbox)["results"] == -(-len(live(sandbox, "Account")) // 500)


def test_bulk_window_carries_updates_and_deletions(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Contact", create=150)
    extract_day(warehouse_conn, sandbox, "salesforce", "Contact", day=0, **BULK)
    contacts = sorted(c["Id"] for c in live(sandbox, "Contact"))
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.update("Contact", contacts[0], {"Title": "Directrice financière"})
    control.delete("Contact", contacts[1])
    control.bulk("Contact", create=120)
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Contact", day=1, **BULK)
    assert bulk_calls(sandbox)["create"] == 2
    assert (stats.inserted, stats.updated, stats.deleted) == (120, 1, 1)
    versions = raw_versions(warehouse_conn, "salesforce", "Contact")
    assert [v[2] for v in versions if v[0] == contacts[1]] == [False, True]


def test_bulk_records_equal_rest_records(sandbox) -> None:
    """Same window, both paths: the same records, key for key, type for type, digit for digit."""
    control = sandbox.vendors["salesforce"].control
    app = sandbox.vendors["salesforce"].app
    control.set_clock(DAY1 + timedelta(hours=12))
    deal = sorted(o["Id"] for o in live(sandbox, "Opportunity"))[0]
    with app.lock:
        app.control_update("Opportunity", deal, {"fields": {
            "Amount": Decimal("99999999999999.99"), "Exact_Tiny__c": Decimal("1E-7"),
            "Exact_Big__c": 12345678901234567890123, "Description": 'Say "oui",\nthen, a new line'}})
    control.delete("Opportunity", sorted(o["Id"] for o in live(sandbox, "Opportunity"))[1])
    window = Window(None, DAY1 + timedelta(days=1))
    for sobject in ("Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "User"):
        rest = read_window(sandbox, sobject, window, **REST)
        bulk = read_window(sandbox, sobject, window, bulk_threshold=0, bulk_page_size=7)
        assert rest, sobject
        assert exact_json.dumps(bulk) == exact_json.dumps(rest), sobject
        assert [{k: type(v) for k, v in r.items()} for r in bulk] == [{k: type(v) for k, v in r.items()} for r in rest]
    opportunities = {r["Id"]: r for r in read_window(sandbox, "Opportunity", window, bulk_threshold=0)}
    assert opportunities[deal]["Amount"] == Decimal("99999999999999.99")
    assert opportunities[deal]["Exact_Big__c"] == 12345678901234567890123
    assert any(r["IsDeleted"] is True for r in opportunities.values())
    assert bulk_calls(sandbox)["create"] == 7


def test_rerun_of_a_rest_window_through_bulk_changes_nothing(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    extract_day(warehouse_conn, sandbox, "salesforce", "Opportunity", day=0, **REST)
    control.set_clock(DAY1 + timedelta(days=1, hours=11))
    control.bulk("Opportunity", create=150, touch=2)
    first = extract_day(warehouse_conn, sandbox, "salesforce", "Opportunity", day=1, **REST)
    again = extract_day(warehouse_conn, sandbox, "salesforce", "Opportunity", day=1, **BULK)
    assert bulk_calls(sandbox)["create"] == 1
    assert again.records == first.records == again.unchanged
    assert (again.inserted, again.updated, again.deleted, again.quarantined) == (0, 0, 0, 0)
    assert (again.window_start, again.window_end) == (first.window_start, first.window_end)


def test_watermark_and_windows_are_those_of_the_rest_path(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=150)
    day0 = extract_day(warehouse_conn, sandbox, "salesforce", "Account", day=0, **BULK)
    control.set_clock(DAY1 + timedelta(days=1, hours=3))
    control.bulk("Account", create=130, touch=5)
    day1 = extract_day(warehouse_conn, sandbox, "salesforce", "Account", day=1, **BULK)
    assert bulk_calls(sandbox)["create"] == 2
    assert day0.window_start is None and day0.window_end == day1.window_end - timedelta(days=1)
    assert day1.window_start == DAY1 + timedelta(days=1) - timedelta(minutes=10)  # the lookback
    assert (day1.inserted, day1.updated) == (130, 5)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT window_end FROM audit.watermarks WHERE source = 'salesforce' AND stream = 'Account'")
        assert cur.fetchone()[0] == day1.window_end
    warehouse_conn.rollback()


def test_failed_job_names_job_and_object_and_loads_nothing(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=150)
    control.config(bulk_query_failure="InternalServerError : Retried more than 15 times")
    with pytest.raises(SourceRequestError) as failure:
        extract_day(warehouse_conn, sandbox, "salesforce", "Account", **BULK)
    message = str(failure.value)
    job = next(path for path in control.stats()["by_path"] if "/jobs/query/750" in path).rsplit("/", 1)[-1]
    assert f"job {job} on Account ended Failed" in message and "Retried more than 15 times" in message
    assert raw_count(warehouse_conn, "salesforce", "Account") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_expired_session_mid_job_is_refreshed(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=450)
    control.config(bulk_query_polls_in_progress=1)
    control.add_fault("expire_tokens", path="/jobs/query/", after=2)  # two polls, then the first page
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account", **BULK)
    assert stats.inserted == len(live(sandbox, "Account"))
    assert control.stats()["by_status"].get("401", 0) == 1
    assert bulk_calls(sandbox)["create"] == 1


def test_job_still_running_after_bulk_timeout_is_aborted(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=150)
    control.config(bulk_query_polls_in_progress=1000)
    with pytest.raises(SourceUnavailableError, match=r"queryAll job \S+ on Account still InProgress after 1 s: aborted"):
        extract_day(warehouse_conn, sandbox, "salesforce", "Account", **BULK, bulk_timeout=1)
    app = sandbox.vendors["salesforce"].app
    assert [job.info["state"] for job in app.bulk_jobs.values()] == ["Aborted"]
    assert raw_count(warehouse_conn, "salesforce", "Account") == 0


@pytest.mark.parametrize("text", [
    'Id,Name\r\n001,"two\r\nlines"\r\n002,plain\r\n',
    'Id,Name\n001,"é\u2028 and \u0085 inside"\n002,\n',
    'Id\n"a\n\nb\n"\n',
    'Id\nlast line without its ending',
    '',
])
def test_bulk_csv_lines_read_as_a_csv_file_would(text: str) -> None:
    import csv
    import io

    from passerelle.connectors.sources.salesforce_bulk import csv_lines

    assert list(csv.reader(csv_lines(text))) == list(csv.reader(io.StringIO(text, newline="")))
