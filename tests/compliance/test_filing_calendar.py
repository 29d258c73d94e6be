"""The filing calendar recorded in the warehouse: reruns and overlapping ranges never collide."""

from __future__ import annotations

from datetime import date

from passerelle.compliance.ereporting_run import record_calendar
from passerelle_dev.samples import example_seller
from tests.db import tuples


def test_a_range_starting_mid_period_rerecords_the_period_it_overlaps(warehouse_conn) -> None:
    seller = example_seller()
    record_calendar(warehouse_conn, seller, date(2026, 1, 1), date(2026, 1, 31))
    first = tuples(warehouse_conn, "SELECT kind, period_start, period_end, due_date FROM marts.filing_calendar"
                                   " ORDER BY 1, 2")
    # 25 January falls inside the 21-31 January decade, already recorded by the first range
    record_calendar(warehouse_conn, seller, date(2026, 1, 25), date(2026, 2, 28))
    record_calendar(warehouse_conn, seller, date(2026, 1, 25), date(2026, 2, 28))  # a rerun
    rows = tuples(warehouse_conn, "SELECT kind, period_start, period_end, due_date FROM marts.filing_calendar"
                                  " ORDER BY 1, 2")
    assert set(first) <= set(rows)
    starts = [(kind, start) for kind, start, _, _ in rows]
    assert len(starts) == len(set(starts))  # one row per period
    assert ("transactions", date(2026, 2, 21)) in starts and ("payments", date(2026, 2, 1)) in starts
