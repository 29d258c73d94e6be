"""Incremental staging models (tasks, time entries) give exactly what a full rebuild gives.

Raw is loaded window by window with the real loader: a base load, then three windows of creates,
updates and deletions (tombstones) of Asana time entries and tasks and Zoho Projects time logs and
tasks, one of which also changes the Asana tasks and projects the time entries look into. After each
window the incremental run is compared with a full rebuild of the same raw (run in a transaction
that is rolled back, so the incremental state carries on), with EXCEPT both ways. Rows of records no
load touched must not be rewritten (same ``xmin``), and a run with no new load changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg2 import sql

from passerelle.load.raw_loader import load_window
from passerelle.records import Page, Record, Window
from passerelle.transform.models import run_model
from passerelle.warehouse.sql_files import render
from passerelle_dev.bench_staging import asana_projects, asana_tasks, asana_time_entries, asana_users, gid

MODELS = ("tasks", "time_entries")
WINDOW = Window(None, datetime(2027, 1, 1, tzinfo=timezone.utc))
BASE = datetime(2026, 2, 28, 12, tzinfo=timezone.utc)
PROJECTS, TASKS, ENTRIES = 4, 40, 400


def load(conn: Any, source: str, stream: str, records: Iterator[Record] | list[Record]) -> None:
    load_window(conn, source=source, stream=stream, window=WINDOW, pages=[Page(list(records))], run_id="test")


def zoho_task(number: int, at: datetime, name: str = "Recette") -> Record:
    payload = {"id": f"T{number}", "name": name, "project": {"id": "ZP1"}, "status": {"name": "Open"},
               "owners": [{"zpuid": "U1"}], "end_date": "2026-04-30"}
    return Record(f"T{number}", at, payload)


def zoho_log(number: int, at: datetime, minutes: int = 90) -> Record:
    payload = {"id": f"L{number}", "project": {"id": "ZP1"}, "module": {"type": "task", "id": f"T{number % 5}"},
               "owner": {"zpuid": "U1"}, "date": "2026-02-20", "total_minutes": minutes, "bill_status": "Billable"}
    return Record(f"L{number}", at, payload)


def asana_entry(number: int, at: datetime, minutes: int, project: int = 0) -> Record:
    payload = {"gid": gid(4, number), "task": {"gid": gid(3, number % TASKS)}, "attributable_to": {"gid": gid(2, project)},
               "entered_on": "2026-02-20", "duration_minutes": minutes, "created_by": {"gid": gid(1, 0)},
               "billable_status": "notApplicable", "description": f"version {at:%H}"}
    return Record(gid(4, number), at, payload)


def asana_task(number: int, at: datetime, project: int, deleted: bool = False) -> Record:
    payload = {"gid": gid(3, number), "name": f"Tâche {number} (révisée)", "completed": False, "modified_at": at.isoformat(),
               "due_on": "2026-05-31", "resource_subtype": "default_task", "assignee": {"gid": gid(1, 1)},
               "memberships": [{"project": {"gid": gid(2, project)}, "section": {"name": "En cours"}}]}
    return Record(gid(3, number), at, payload, deleted=deleted)


def tombstone(record_id: str, at: datetime) -> Record:
    return Record(record_id, at, {"id": record_id}, deleted=True)


def rows(conn: Any, model: str) -> dict[str, tuple[str, ...]]:
    """Each staged row by key, with its ``xmin`` (the transaction that wrote it)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT xmin::text, t::text FROM {} AS t").format(sql.Identifier("staging", model)))
        found = {text: xmin for xmin, text in cur.fetchall()}
    conn.rollback()
    return found


def incremental_equals_full(conn: Any) -> dict[str, int]:
    """Compare every incremental model with a full rebuild of the same raw (rolled back); rows per model."""
    counts = {}
    with conn.cursor() as cur:
        for model in MODELS:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS incremental_copy; "
                                "CREATE TEMP TABLE incremental_copy AS SELECT * FROM {}")
                        .format(sql.Identifier("staging", model)))
            conn.commit()
            cur.execute(render(f"staging/{model}.sql", full_refresh=True))  # in this transaction only
            cur.execute(sql.SQL("SELECT (SELECT count(*) FROM (SELECT * FROM {t} EXCEPT ALL "
                                "SELECT * FROM incremental_copy) AS only_full), "
                                "(SELECT count(*) FROM (SELECT * FROM incremental_copy EXCEPT ALL "
                                "SELECT * FROM {t}) AS only_incremental), (SELECT count(*) FROM {t})")
                        .format(t=sql.Identifier("staging", model)))
            only_full, only_incremental, total = cur.fetchone()
            conn.rollback()
            assert (model, only_full, only_incremental) == (model, 0, 0)
            counts[model] = total
    return counts


def run_incremental(conn: Any) -> None:
    for model in MODELS:
        run_model(conn, model, full_refresh=False)


def modes(conn: Any) -> dict[tuple[str, str, str], tuple[int, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT model, source, stream, last_load_id, mode FROM audit.staging_watermarks")
        found = {(model, source, stream): (load_id, mode) for model, source, stream, load_id, mode in cur.fetchall()}
    conn.rollback()
    return found


def test_three_windows_applied_incrementally_equal_a_full_rebuild(warehouse_conn) -> None:
    conn = warehouse_conn
    load(conn, "asana", "users", asana_users())
    load(conn, "asana", "projects", asana_projects(PROJECTS))
    load(conn, "asana", "tasks", asana_tasks(TASKS, PROJECTS))
    load(conn, "asana", "time_entries", asana_time_entries(ENTRIES, TASKS, PROJECTS, bad_every=10**9))
    load(conn, "zoho_projects", "tasks", [zoho_task(n, BASE) for n in range(5)])
    load(conn, "zoho_projects", "timelogs", [zoho_log(n, BASE) for n in range(20)])
    run_incremental(conn)  # no watermark yet: every source is built whole
    assert incremental_equals_full(conn) == {"tasks": TASKS + 5, "time_entries": ENTRIES + 20}

    # Window 1: time entries only. Updates, creates, deletions: rebuilt record by record.
    at = BASE + timedelta(hours=1)
    before = rows(conn, "time_entries")
    load(conn, "asana", "time_entries", [asana_entry(1, at, 45), asana_entry(2, at, 600), asana_entry(ENTRIES, at, 30),
                                         asana_entry(ENTRIES + 1, at, 15), tombstone(gid(4, 3), at),
                                         tombstone(gid(4, 4), at)])
    load(conn, "zoho_projects", "timelogs", [tombstone("L7", at), zoho_log(20, at, 240)])
    run_incremental(conn)
    assert incremental_equals_full(conn) == {"tasks": TASKS + 5, "time_entries": ENTRIES + 20 + 2 - 2 - 1 + 1}
    after = rows(conn, "time_entries")
    kept = set(before) & set(after)
    assert len(kept) == ENTRIES + 20 - 2 - 2 - 1  # all but the updated and deleted rows
    assert all(before[row] == after[row] for row in kept)  # untouched rows were not rewritten
    assert modes(conn)[("time_entries", "asana", "time_entries")][1] == "incremental"

    # Window 2: an Asana task moves to another project and one is deleted (time entries read tasks: Asana
    # is rebuilt whole), a time entry changes, a Zoho task is created.
    at = BASE + timedelta(hours=2)
    load(conn, "asana", "tasks", [asana_task(5, at, project=3), asana_task(6, at, project=1, deleted=True)])
    load(conn, "asana", "time_entries", [asana_entry(9, at, 75)])
    load(conn, "zoho_projects", "tasks", [zoho_task(5, at, "Mise en production")])
    before = rows(conn, "tasks")
    run_incremental(conn)
    assert incremental_equals_full(conn) == {"tasks": TASKS + 5, "time_entries": ENTRIES + 20}
    after = rows(conn, "tasks")
    assert sum(1 for row in set(before) & set(after) if before[row] == after[row]) == TASKS + 5 - 2

    # Window 3: an Asana project's billable custom field (time entries read projects: Asana is rebuilt whole),
    # a deleted entry back, Zoho updates.
    at = BASE + timedelta(hours=3)
    project = next(asana_projects(1)).payload | {
        "custom_fields": [{"name": "Billable", "enum_value": {"name": "Non"}}], "modified_at": at.isoformat()}
    load(conn, "asana", "projects", [Record(project["gid"], at, project)])
    load(conn, "asana", "time_entries", [asana_entry(3, at, 50)])
    load(conn, "zoho_projects", "timelogs", [zoho_log(8, at, 5)])
    load(conn, "zoho_projects", "tasks", [tombstone("T2", at)])
    run_incremental(conn)
    assert incremental_equals_full(conn) == {"tasks": TASKS + 5 - 1, "time_entries": ENTRIES + 21}
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE billable = false) FROM staging.time_entries "
                    "WHERE project_key = %s", (f"asana:{gid(2, 0)}",))
        assert cur.fetchone()[0] > 0  # the project's new custom field reached its time entries
    conn.rollback()

    # No new load: nothing is rewritten, no watermark moves.
    snapshot = {model: rows(conn, model) for model in MODELS}
    watermarks = modes(conn)
    run_incremental(conn)
    assert {model: rows(conn, model) for model in MODELS} == snapshot
    assert {key: load_id for key, (load_id, _) in modes(conn).items()} == {
        key: load_id for key, (load_id, _) in watermarks.items()}


def test_full_refresh_rebuilds_every_row_and_moves_the_watermarks(warehouse_conn) -> None:
    conn = warehouse_conn
    load(conn, "asana", "users", asana_users())
    load(conn, "asana", "projects", asana_projects(2))
    load(conn, "asana", "tasks", asana_tasks(10, 2))
    load(conn, "asana", "time_entries", asana_time_entries(50, 10, 2, bad_every=10**9))
    run_incremental(conn)
    before = rows(conn, "time_entries")
    run_model(conn, "time_entries", full_refresh=True)
    after = rows(conn, "time_entries")
    assert set(before) == set(after) and len(after) == 50
    assert all(before[row] != after[row] for row in after)  # every row written again
    watermark = modes(conn)[("time_entries", "asana", "time_entries")]
    with conn.cursor() as cur:
        cur.execute("SELECT max(load_id) FROM raw.records WHERE source = 'asana' AND stream = 'time_entries'")
        assert watermark == (cur.fetchone()[0], "full")
    conn.rollback()
