"""Invoice numbers on a real warehouse: gap-free, chronological, assigned once, safe under concurrency."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from passerelle.invoicing.numbering import NumberingError, format_number, issue_number
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


def test_format_respects_the_20_character_limit() -> None:
    assert format_number("ABCDEFGHI", 2026, 999_999) == "ABCDEFGHI2026-999999"
    assert len(format_number("ABCDEFGHI", 2026, 1)) == 20
    with pytest.raises(NumberingError, match="1 to 9 characters"):
        format_number("ABCDEFGHIJ", 2026, 1)
    with pytest.raises(NumberingError, match="does not fit 6 digits"):
        format_number("MS", 2026, 1_000_000)
