"""The filing calendar says "overdue" only where something was due and not produced; an empty period has
nothing to file, whatever its due date."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from passerelle.reports.data import load_report_data
from passerelle.reports.html import render_report
from tests.reports import add_invoice, add_payment

REGIME = "reel_normal_mensuel"


def calendar(conn: Any, *periods: tuple[str, str, str, str]) -> None:
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO marts.filing_calendar (regime, kind, period_start, period_end, due_date)"
                        " VALUES (%s, %s, %s, %s, %s)", [(REGIME, *period) for period in periods])
    conn.commit()


def test_empty_periods_have_nothing_to_file_and_only_missing_data_is_overdue(warehouse_conn: Any) -> None:
    # 1–10 March: a domestic B2B invoice only (e-invoiced, not e-reported); 11–20: a B2C sale, never filed;
    # payments of March: a B2C invoice taxed on receipt, paid; payments of April: nothing received.
    add_invoice(warehouse_conn, "F2026-000001", date(2026, 3, 5), [("S", "20.00", "100.00", "20.00")])
    add_invoice(warehouse_conn, "F2026-000002", date(2026, 3, 15), [("S", "20.00", "50.00", "10.00")], rule="B2C",
                vat_point="payment")
    add_payment(warehouse_conn, "F2026-000002", date(2026, 3, 16), "60.00")
    calendar(warehouse_conn, ("transactions", "2026-03-01", "2026-03-10", "2026-03-20"),
             ("transactions", "2026-03-11", "2026-03-20", "2026-03-31"),
             ("payments", "2026-03-01", "2026-03-31", "2026-04-10"),
             ("payments", "2026-04-01", "2026-04-30", "2026-05-10"))
    data = load_report_data(warehouse_conn, date(2026, 3, 1), date(2026, 4, 30), date(2026, 6, 1))
    status = {(f.kind, f.period_start.day, f.period_start.month): (f.has_data, f.overdue) for f in data.filings}
    assert status == {("transactions", 1, 3): (False, False), ("transactions", 11, 3): (True, True),
                      ("payments", 1, 3): (True, True), ("payments", 1, 4): (False, False)}
    page = render_report(data, "en")
    cells = re.findall(r"<td>(\d\d/\d\d/\d{4})</td><td>(?:<span[^>]*>)?([A-Za-z ]+)", page)
    assert cells == [("20/03/2026", "Nothing to file"), ("31/03/2026", "Overdue"), ("10/04/2026", "Overdue"),
                     ("10/05/2026", "Nothing to file")]
    assert "<dt>Filings overdue</dt><dd>2</dd>" in page
