"""Invoice numbers on a real warehouse: gap-free, chronological, assigned once, safe under concurrency."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from passerelle.invoicing.numbering import NumberingError, format_number, issue_number, issuing_lock
from passerelle.warehouse.settings import connect
from tests.db import tuples

SIREN = "732829320"


def issue(conn, key: str, day: date = date(2026, 3, 15), prefix: str = "MS", run_id: str = "run-1") -> tuple[str, bool]:
    with conn.cursor() as cur:
        issued = issue_number(cur, seller_siren=SIREN, prefix=prefix, invoice_key=key, issue_date=day, run_id=run_id)
    conn.commit()
    return issued.invoice_number, issued.new


def test_numbers_follow_each_other_and_restart_each_year(warehouse_conn) -> None:
    assert [issue(warehouse_conn, f"inv-{n}")[0] for n in range(3)] == [
        "MS2026-000001", "MS2026-000002", "MS2026-000003"]
    assert issue(warehouse_conn, "next-year", date(2027, 1, 4)) == ("MS2027-000001", True)


def test_asking_again_for_the_same_invoice_returns_its_number(warehouse_conn) -> None:
    first = issue(warehouse_conn, "deal-42/2026-03")
    assert issue(warehouse_conn, "deal-42/2026-03", run_id="backfill") == (first[0], False)
    assert tuples(warehouse_conn, "SELECT count(*), max(run_id) FROM marts.invoice_numbers") == [(1, "run-1")]


def test_a_rolled_back_issue_leaves_no_gap(warehouse_conn) -> None:
    issue(warehouse_conn, "a")
    with warehouse_conn.cursor() as cur:
        lost = issue_number(cur, seller_siren=SIREN, prefix="MS", invoice_key="b", issue_date=date(2026, 3, 15),
                            run_id="run-1")
    warehouse_conn.rollback()  # e.g. the document failed to render: the invoice is not issued
    assert lost.invoice_number == "MS2026-000002"
    assert issue(warehouse_conn, "c") == ("MS2026-000002", True)  # the same number, used by the next invoice


def test_numbers_cannot_go_back_in_time(warehouse_conn) -> None:
    issue(warehouse_conn, "march", date(2026, 3, 15))
    with pytest.raises(NumberingError, match="dated 2026-03-14 cannot be numbered: number 1 of 2026"):
        issue(warehouse_conn, "earlier", date(2026, 3, 14))
    warehouse_conn.rollback()
    assert issue(warehouse_conn, "same-day", date(2026, 3, 15)) == ("MS2026-000002", True)


def test_concurrent_issuers_queue_and_leave_neither_gaps_nor_duplicates(warehouse_url: str) -> None:
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        conn = connect(warehouse_url)
        try:
            for n in range(15):
                issue(conn, f"{name}-{n}")
                issue(conn, f"shared-{n}")  # both workers ask for the same invoices too
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    conn = connect(warehouse_url)
    try:
        sequences = [row[0] for row in tuples(conn, "SELECT sequence FROM marts.invoice_numbers ORDER BY 1")]
        keys = tuples(conn, "SELECT count(DISTINCT invoice_key) FROM marts.invoice_numbers")
    finally:
        conn.close()
    assert sequences == list(range(1, 46)) and keys == [(45,)]


def _free(conn, siren: str = SIREN) -> bool:
    """Whether another session could take the seller's issuing lock now (taking and releasing it)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"passerelle.issuing:{siren}",))
        free = cur.fetchone()[0]
        if free:
            cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (f"passerelle.issuing:{siren}",))
    conn.rollback()
    return free


def test_issuing_lock_is_per_seller_reentrant_and_leaves_the_callers_transaction_alone(warehouse_conn,
                                                                                       warehouse_url) -> None:
    other = connect(warehouse_url)
    try:
        with warehouse_conn.cursor() as cur:
            cur.execute("INSERT INTO audit.invoice_counters (seller_siren, fiscal_year) VALUES ('pending', 2026)")
        with issuing_lock(warehouse_conn, SIREN):
            assert not _free(other) and _free(other, "552100554")
            with issuing_lock(warehouse_conn, SIREN):  # a credit note writing its documents takes it again
                pass
            assert not _free(other)
        assert _free(other)
        assert tuples(other, "SELECT count(*) FROM audit.invoice_counters WHERE seller_siren = 'pending'") == [(0,)]
        warehouse_conn.rollback()  # the caller's pending work was neither committed nor lost by the lock
        assert tuples(warehouse_conn, "SELECT count(*) FROM audit.invoice_counters") == [(0,)]
    finally:
        other.close()


def test_issuing_lock_queues_a_second_run_and_dies_with_its_session(warehouse_url: str) -> None:
    first, second = connect(warehouse_url), connect(warehouse_url)
    order: list[str] = []
    try:
        with issuing_lock(first, SIREN):
            waiter = threading.Thread(target=lambda: _take(second, order))
            waiter.start()
            waiter.join(0.5)
            assert waiter.is_alive() and order == []  # queued behind the first run
            order.append("first done")
        waiter.join(10)
        assert order == ["first done", "second ran"]
        killed = connect(warehouse_url)
        with killed.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"passerelle.issuing:{SIREN}",))
        assert not _free(first)
        killed.close()  # a run killed while holding it: the session goes, the lock with it
        deadline = time.monotonic() + 5
        while not _free(first) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _free(first)
    finally:
        first.close()
        second.close()


def _take(conn, order: list[str]) -> None:
    with issuing_lock(conn, SIREN):
        order.append("second ran")


def test_format_respects_the_20_character_limit() -> None:
    assert format_number("ABCDEFGHI", 2026, 999_999) == "ABCDEFGHI2026-999999"
    assert len(format_number("ABCDEFGHI", 2026, 1)) == 20
    with pytest.raises(NumberingError, match="1 to 9 characters"):
        format_number("ABCDEFGHIJ", 2026, 1)
    with pytest.raises(NumberingError, match="does not fit 6 digits"):
        format_number("MS", 2026, 1_000_000)
