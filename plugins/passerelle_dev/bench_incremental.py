"""``python -m passerelle_dev.bench_incremental``: a small incremental window right after a full load.

The case planner statistics decide: a stream receives its full history (200,000 Salesforce-shaped
Accounts by default) in one window, then the next window brings 200 changed records. Without fresh
statistics the second window's probes of ``raw.records`` are planned for the table as it was before
the full load. The loader is run twice on fresh databases, without and with its post-commit
``ANALYZE``, and the seconds of each step of both windows are printed.

Then the conflict check (records arriving twice in one window with different content) is timed on
both batches in its former shape (``jsonb_agg(DISTINCT payload)`` over every record) and in the
loader's current one, after checking that both quarantine exactly the same versions.

No sandbox or network is involved: records are generated in memory and handed to the real loader.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

SOURCE, STREAM = "salesforce", "Account"
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
FULL_END, INCREMENTAL_END = T0 + timedelta(days=1), T0 + timedelta(days=2)
PAGE_SIZE = 2000

# The conflict check as it was before it compared payloads only for keys that occur twice.
FORMER_CONFLICT_CHECK = """
SELECT record_id, cursor_value, is_deleted, jsonb_agg(DISTINCT payload) AS versions
  FROM passerelle_load_batch
 GROUP BY record_id, cursor_value, is_deleted
HAVING count(DISTINCT payload) > 1
"""


def account(number: int, modified: datetime, revision: int = 0) -> dict[str, Any]:
    """A Salesforce Account as the REST API returns it (about 1 kB of JSON)."""
    record_id = f"001{number:015d}"
    return {
        "attributes": {"type": "Account", "url": f"/services/data/v62.0/sobjects/Account/{record_id}"},
        "Id": record_id, "Name": f"Société {number} SAS", "AccountNumber": f"CUST-{number:07d}",
        "Type": "Customer - Direct", "Industry": ("Technology", "Consulting", "Retail")[number % 3],
        "AnnualRevenue": Decimal(f"{number * 137 % 9_000_000}.{number % 100:02d}"),
        "NumberOfEmployees": number % 5000, "Rating": ("Hot", "Warm", "Cold")[number % 3],
        "BillingStreet": f"{number % 200 + 1} rue de la République", "BillingCity": "Lyon",
        "BillingPostalCode": f"{69001 + number % 9}", "BillingCountry": "France", "BillingCountryCode": "FR",
        "Phone": f"+33 4 {number % 100:02d} {number // 100 % 100:02d} 00 00",
        "Website": f"https://societe-{number}.example.fr", "Description": f"Compte {number}, révision {revision}",
        "SIRET__c": f"{732829320 + number % 1000:09d}00074", "VAT_Number__c": f"FR44{732829320 + number % 1000:09d}",
        "OwnerId": f"005{number % 40:015d}", "IsDeleted": False,
        "CreatedDate": T0.replace(year=2024).isoformat(), "SystemModstamp": modified.isoformat(),
        "LastModifiedDate": modified.isoformat(),
    }


def full_history(records: int) -> Iterator[Any]:
    from passerelle.records import Page, Record

    for start in range(0, records, PAGE_SIZE):
        page = []
        for number in range(start, min(start + PAGE_SIZE, records)):
            modified = T0 + timedelta(seconds=number % 80_000)
            page.append(Record(f"001{number:015d}", modified, account(number, modified)))
        yield Page(page, f"full page {start // PAGE_SIZE + 1}")


def changes(records: int, changed: int) -> Iterator[Any]:
    """``changed`` existing records, spread over the stream, each with a newer version."""
    from passerelle.records import Page, Record

    step = max(records // changed, 1)
    modified = FULL_END + timedelta(hours=6)
    page = [Record(f"001{n:015d}", modified, account(n, modified, revision=1))
            for n in range(0, step * changed, step)]
    yield Page(page, "incremental page 1")


def run_windows(base_url: str, records: int, changed: int, analyze: bool) -> dict[str, Any]:
    """A full load then an incremental one on a fresh database; the steps' seconds of both."""
    from passerelle.load.raw_loader import load_window
    from passerelle.records import Window
    from passerelle.warehouse.scratch import scratch_database
    from passerelle.warehouse.settings import connect

    with scratch_database(base_url, f"passerelle_bench_incremental_{os.getpid()}") as url:
        conn = connect(url)
        try:
            full = load_window(conn, source=SOURCE, stream=STREAM, window=Window(None, FULL_END),
                               pages=full_history(records), run_id="bench-full", analyze=analyze)
            incremental = load_window(conn, source=SOURCE, stream=STREAM, window=Window(FULL_END, INCREMENTAL_END),
                                      pages=changes(records, changed), run_id="bench-incremental", analyze=analyze)
            conflicts = compare_conflict_checks(conn, records, changed)
        finally:
            conn.close()
    assert incremental.updated == changed and incremental.inserted == 0, incremental
    return {"full": full, "incremental": incremental, "conflicts": conflicts}


def compare_conflict_checks(conn: Any, records: int, changed: int, repeat: int = 5) -> dict[str, dict[str, float]]:
    """Median seconds of the former and the current conflict check on a full and an incremental batch
    (each with a few genuine conflicts), after checking both return the same versions."""
    from passerelle.load import raw_loader
    from passerelle.load.copy import copy_pages
    from passerelle.records import Page, Record

    figures: dict[str, dict[str, float]] = {}
    for name, pages in (("full", full_history(records)), ("incremental", changes(records, changed))):
        with conn.cursor() as cur:
            cur.execute(raw_loader._CREATE_TEMP)
            copy_pages(cur, raw_loader.TEMP_TABLE, pages, source=SOURCE, stream=STREAM)
            clash = T0 + timedelta(seconds=5)  # three records twice with other content at the same cursor
            copy_pages(cur, raw_loader.TEMP_TABLE, [Page([Record(f"001{n:015d}", clash, account(n, clash, revision=9))
                                                          for n in (5, 80_005, 160_005)])],
                       source=SOURCE, stream=STREAM)
            cur.execute(f"ANALYZE {raw_loader.TEMP_TABLE}")
            current = raw_loader.CONFLICTING_VERSIONS
            former_rows, former_times = _timed(cur, FORMER_CONFLICT_CHECK, repeat)
            current_rows, current_times = _timed(cur, current, repeat)
            if sorted(map(repr, former_rows)) != sorted(map(repr, current_rows)):
                raise AssertionError(f"the conflict checks disagree on the {name} batch")
            figures[name] = {"former": statistics.median(former_times), "current": statistics.median(current_times),
                             "conflicts": len(current_rows)}
        conn.rollback()
    return figures


def _timed(cur: Any, query: str, repeat: int) -> tuple[list[tuple], list[float]]:
    times = []
    rows: list[tuple] = []
    for _ in range(repeat):
        began = time.perf_counter()
        cur.execute(query)
        rows = cur.fetchall()
        times.append(time.perf_counter() - began)
    return rows, times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records in the full load (%(default)s)")
    parser.add_argument("--changed", type=int, default=200, help="changed records in the next window (%(default)s)")
    args = parser.parse_args()
    from passerelle.warehouse.settings import mask_url, warehouse_url

    base_url = warehouse_url()
    print(f"warehouse {mask_url(base_url)}: full load of {args.records:,} {SOURCE}.{STREAM}, "
          f"then {args.changed} changed records")
    steps = ("copy", "conflict_check", "insert_and_classify", "commit", "analyze")
    print(f"{'window':<28}" + "".join(f"{s:>21}" for s in steps) + f"{'total':>9}")
    last: dict[str, Any] = {}
    for analyze in (False, True):
        last = run_windows(base_url, args.records, args.changed, analyze)
        for window in ("full", "incremental"):
            stats = last[window]
            label = f"{window} {'with' if analyze else 'without'} ANALYZE"
            print(f"{label:<28}" + "".join(f"{_seconds(stats.timings.get(s)):>21}" for s in steps)
                  + f"{stats.seconds:>9.3f}", flush=True)
    print("\nconflict check (median of 5)   former: jsonb_agg(DISTINCT) over all   current")
    for batch, figures in last["conflicts"].items():
        print(f"{batch + ' batch':<31}{figures['former']:>35.4f} s{figures['current']:>10.4f} s"
              f"   ({figures['conflicts']} conflicting records found by both)")
    return 0


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f} s"


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
