"""``make bench`` (second part): the staging transform and its validation at volume.

A raw layer of 100,000 Salesforce Accounts and an Asana workspace with 1,000,000 time entries
(2,000 projects, 40,000 tasks) is loaded with the real loader (COPY), then every step the
``transform_staging`` DAG runs is timed on it: each SQL model, each Great Expectations suite with its
quarantine (in a fresh process, as its Airflow task, with the peak RSS of the validation), and identity
resolution. Then a load touching 0.1 % of the time entries (updates, deletions, creations) is applied
by the incremental staging.time_entries run, timed beside a full rebuild of the same table. A few bad rows are planted (invalid SIRENs, negative and
over-long durations, orphan time entries) so the quarantine path is part of the measure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any

from passerelle.records import Page, Record, Window
from passerelle.settings import settings

WINDOW = Window(None, datetime(2026, 3, 1, tzinfo=timezone.utc))
VERSION_AT = "2026-02-28T12:00:00.000Z"
PAGE = 5_000
ASANA_USERS = 50


def pages(records: Iterator[Record], size: int = PAGE) -> Iterator[Page]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield Page(batch)
            batch = []
    if batch:
        yield Page(batch)


def accounts(n: int, bad_every: int) -> Iterator[Record]:
    from passerelle_sandbox.dataset import generate_bulk_salesforce

    for index, account in enumerate(generate_bulk_salesforce(n)):
        if account.get("SIREN__c") and index % bad_every == 0:  # a wrong check digit
            siren = account["SIREN__c"]
            account["SIREN__c"] = siren[:-1] + str((int(siren[-1]) + 1) % 10)
        yield Record(account["Id"], datetime.fromisoformat(account["SystemModstamp"].replace("Z", "+00:00")), account)


def gid(kind: int, number: int) -> str:
    return str(1_300_000_000_000_000 + kind * 100_000_000 + number)


def asana_stamp() -> datetime:
    return datetime.fromisoformat(VERSION_AT.replace("Z", "+00:00"))


def asana_users() -> Iterator[Record]:
    for u in range(ASANA_USERS):
        payload = {"gid": gid(1, u), "name": f"Consultant {u}", "email": f"consultant{u}@passerelle.example",
                   "resource_type": "user", "_passerelle": {"version_at": VERSION_AT}}
        yield Record(payload["gid"], asana_stamp(), payload)


def asana_projects(n: int) -> Iterator[Record]:
    for p in range(n):
        payload = {
            "gid": gid(2, p), "name": f"Client {p} — Déploiement", "archived": False, "completed": False,
            "created_at": "2025-09-01T08:00:00.000Z", "modified_at": VERSION_AT, "start_on": "2025-09-01",
            "due_on": "2026-06-30", "custom_fields": [], "resource_type": "project",
        }
        yield Record(payload["gid"], asana_stamp(), payload)


def asana_tasks(n: int, projects: int) -> Iterator[Record]:
    for t in range(n):
        project = gid(2, t % projects)
        payload = {
            "gid": gid(3, t), "name": f"Tâche {t}", "completed": t % 3 == 0,
            "completed_at": VERSION_AT if t % 3 == 0 else None, "modified_at": VERSION_AT,
            "created_at": "2025-09-02T08:00:00.000Z", "due_on": "2026-03-31", "resource_subtype": "default_task",
            "assignee": {"gid": gid(1, t % ASANA_USERS)},
            "memberships": [{"project": {"gid": project}, "section": {"name": "En cours"}}], "resource_type": "task",
        }
        yield Record(payload["gid"], asana_stamp(), payload)


def asana_time_entries(n: int, tasks: int, projects: int, bad_every: int) -> Iterator[Record]:
    rng = random.Random(7)
    first_day = date(2025, 12, 1)
    for e in range(n):
        task = e % tasks
        project = gid(2, task % projects)
        minutes = rng.choice((15, 30, 45, 60, 90, 120, 240, 420))
        if e % bad_every == 1:
            minutes = -minutes
        elif e % bad_every == 2:
            minutes = 30 * 60
        elif e % bad_every == 3:
            project = gid(2, projects + 1)  # no such project: an orphan
        payload = {
            "gid": gid(4, e), "task": {"gid": gid(3, task)}, "attributable_to": {"gid": project},
            "entered_on": (first_day + timedelta(days=e % 88)).isoformat(), "duration_minutes": minutes,
            "created_by": {"gid": gid(1, e % ASANA_USERS)}, "created_at": VERSION_AT,
            "billable_status": "billable" if e % 5 else "nonBillable", "description": "Développement",
            "resource_type": "time_tracking_entry", "_passerelle": {"version_at": VERSION_AT},
        }
        yield Record(payload["gid"], asana_stamp(), payload)


def load_raw(conn: Any, customers: int, time_entries: int, bad_every: int) -> dict[str, float]:
    from passerelle.load.raw_loader import load_window

    projects, tasks = max(1, time_entries // 500), max(1, time_entries // 25)
    streams = {
        ("salesforce", "Account"): accounts(customers, bad_every),
        ("asana", "users"): asana_users(),
        ("asana", "projects"): asana_projects(projects),
        ("asana", "tasks"): asana_tasks(tasks, projects),
        ("asana", "time_entries"): asana_time_entries(time_entries, tasks, projects, bad_every),
    }
    seconds = {}
    for (source, stream), records in streams.items():
        t0 = time.perf_counter()
        load_window(conn, source=source, stream=stream, window=WINDOW, pages=pages(records), run_id="bench")
        seconds[f"raw load {source}.{stream}"] = time.perf_counter() - t0
    return seconds


def changed_time_entries(time_entries: int, tasks: int, projects: int) -> list[Record]:
    """0.1 % of the time entries touched by one later load: updates, deletions (tombstones) and creations."""
    touched = max(10, time_entries // 1000)
    at = asana_stamp() + timedelta(days=1)
    changed = [record for record in asana_time_entries(touched, tasks, projects, bad_every=10**9)]
    records = []
    for number, record in enumerate(changed):
        step = max(1, time_entries // touched)
        record_id = gid(4, number * step)
        if number % 10 == 0:  # a deletion
            records.append(Record(record_id, at, {"gid": record_id}, deleted=True))
        elif number % 10 == 1:  # a new entry
            new_id = gid(4, time_entries + number)
            records.append(Record(new_id, at, {**record.payload, "gid": new_id}))
        else:  # an update: the duration corrected
            records.append(Record(record_id, at, {**record.payload, "gid": record_id, "duration_minutes": 50}))
    return records


def validate_in_worker(url: str, table: str) -> tuple[float, int, float]:
    """Validate ``table`` in this (fresh) process, as an Airflow task does: seconds, rows quarantined, and
    the peak RSS of the validation itself (MB; measured from after the imports)."""
    from passerelle.quality.validate import validate_table
    from passerelle.warehouse.settings import connect
    from passerelle_dev.peak_memory import peak_rss_mb, reset_peak

    conn = connect(url)
    try:
        reset_peak()
        t0 = time.perf_counter()
        outcome = validate_table(conn, table, run_id="bench")
        return time.perf_counter() - t0, outcome.quarantined, peak_rss_mb()
    finally:
        conn.close()


def run(url: str, customers: int, time_entries: int, bad_every: int) -> None:
    from passerelle.load.raw_loader import load_window
    from passerelle.transform.models import ANALYZE_RAW, IDENTITY_FILES, STAGING_MODELS, run_model
    from passerelle.warehouse.sql_files import run_sql_file
    from passerelle.warehouse.settings import connect

    conn = connect(url)
    steps: list[tuple[str, float, str]] = []
    for step, seconds in load_raw(conn, customers, time_entries, bad_every).items():
        steps.append((step, seconds, "setup"))
    transform_total = run_sql_file(conn, ANALYZE_RAW)
    steps.append(("analyze raw.records", transform_total, ""))
    peaks: dict[str, float] = {}
    # Each validation runs in a fresh process, as each is its own Airflow task.
    workers = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)
    for model in STAGING_MODELS:
        seconds = run_model(conn, model.name)
        transform_total += seconds
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {model.table}")
            rows = cur.fetchone()[0]
        conn.rollback()
        steps.append((f"build {model.table}", seconds, f"{rows:,} rows"))
        seconds, quarantined, peaks[model.table] = workers.submit(validate_in_worker, url, model.table).result()
        transform_total += seconds
        steps.append((f"validate {model.table}", seconds,
                      f"{quarantined:,} quarantined, peak RSS {peaks[model.table]:,.0f} MB"))
    workers.shutdown()
    for path in IDENTITY_FILES:
        seconds = run_sql_file(conn, path)
        transform_total += seconds
        steps.append((f"identity {path}", seconds, ""))
    projects, tasks = max(1, time_entries // 500), max(1, time_entries // 25)
    changes = changed_time_entries(time_entries, tasks, projects)
    load_window(conn, source="asana", stream="time_entries", window=WINDOW, pages=pages(iter(changes)), run_id="bench")
    incremental = run_model(conn, "time_entries", full_refresh=False)
    full = run_model(conn, "time_entries", full_refresh=True)
    from passerelle_dev.bench_invoicing import time_entry_lines

    invoicing_steps = time_entry_lines(conn, date(2026, 2, 28))
    conn.close()
    print(f"\n{'step':<44} {'seconds':>9}  notes")
    for step, seconds, note in steps:
        print(f"{step:<44} {seconds:>9.2f}  {note}")
    print(f"{'transform + validation total':<44} {transform_total:>9.2f}")
    print(f"{'staging.time_entries incremental':<44} {incremental:>9.2f}  "
          f"a load touching {len(changes):,} records ({len(changes) / time_entries:.1%})")
    print(f"{'staging.time_entries full rebuild':<44} {full:>9.2f}  ({full / incremental:.0f}x the incremental run)")
    for step, seconds, note in invoicing_steps:
        print(f"{step:<44} {seconds:>9.2f}  {note}")
    print(f"{'invoice lines from time entries total':<44} {sum(s for _, s, _ in invoicing_steps):>9.2f}")
    table, peak = max(peaks.items(), key=lambda item: item[1])
    print(f"peak RSS of a validation task: {peak:,.0f} MB ({table}, "
          f"{settings().chunk_rows:,} rows a chunk)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--time-entries", type=int, default=1_000_000)
    parser.add_argument("--bad-every", type=int, default=1_000, help="plant one bad row of each kind every N rows")
    args = parser.parse_args()
    from passerelle.warehouse.scratch import scratch_database
    from passerelle.warehouse.settings import warehouse_url

    with scratch_database(warehouse_url(), "passerelle_bench_staging") as url:
        print(f"staging benchmark: {args.customers:,} customers, {args.time_entries:,} time entries")
        run(url, args.customers, args.time_entries, args.bad_every)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
