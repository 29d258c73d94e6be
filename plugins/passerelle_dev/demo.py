"""``make demo``: three daily windows of every extract DAG, then the staging transform, on the embedded warehouse.

The sandbox serves the default French dataset. Before each window, records are created, updated and
deleted at the sources (inside that window, on the sandbox's clock); then every extract DAG runs for
the window with ``dag.test()``. The load summary comes from ``audit.load_log``, and the raw layer is
checked against the sources' final state. Then the staging transform DAG (SQL models, Great
Expectations suites with quarantine, identity resolution) runs once and its validation summary,
quarantine, identity-resolution outcome and Data Docs path are printed. Finally two monthly billing
periods are invoiced and the compliance DAG reports on the last one (:mod:`passerelle_dev.demo_invoicing`), and
the two-way sync makes the won deals' projects and writes the delivery figures back (:mod:`passerelle_dev.demo_sync`).
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime, timedelta, timezone

from passerelle_dev.console import print_table
from passerelle.orchestration.airflow_env import (
    configure_airflow,
    export_connections,
    sandbox_connections,
    warehouse_connection,
)

DAYS = 3
FIRST_DAY = datetime(2026, 3, 1, tzinfo=timezone.utc)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_airflow()
    from passerelle_sandbox.dynamics_scenario import apply_dynamics_day_changes, compare_dynamics_raw_with_source
    from passerelle_sandbox.folk_scenario import apply_folk_day_changes, compare_folk_raw_with_source
    from passerelle_sandbox.pipedrive_scenario import apply_pipedrive_day_changes, compare_pipedrive_raw_with_source
    from passerelle_sandbox.planner_scenario import (apply_planner_day_changes, apply_project_for_the_web_day_changes,
                                                     compare_planner_raw_with_source)
    from passerelle_sandbox.quickbooks_scenario import apply_quickbooks_day_changes, compare_quickbooks_raw_with_source
    from passerelle_sandbox.scenario import apply_day_changes, apply_pm_day_changes, compare_raw_with_sources
    from passerelle_sandbox.server import start_sandbox
    from passerelle_sandbox.zoho_scenario import apply_zoho_day_changes, compare_zoho_raw_with_source
    from passerelle_sandbox.zoho_projects_scenario import (apply_zoho_projects_day_changes,
                                                           compare_zoho_projects_raw_with_source)
    from passerelle.warehouse.migrate import migrate
    from passerelle.warehouse.settings import connect, warehouse_url

    started = time.monotonic()
    url = warehouse_url()
    migrate(url)
    print(f"warehouse: {mask(url)}")
    with start_sandbox() as sandbox:
        for name, vendor in sandbox.vendors.items():
            print(f"sandbox {name}: {vendor.base_url}")
        export_connections(sandbox_connections(sandbox.vendors, sandbox.ca_path))
        export_connections({"passerelle_warehouse": warehouse_connection(url)})

        from airflow.utils import db

        from passerelle.orchestration.runner import load_dags, run_interval

        db.initdb()
        dags = load_dags()
        timings: list[tuple[str, str, float, str]] = []
        for day in range(DAYS):
            start = FIRST_DAY + timedelta(days=day)
            end = start + timedelta(days=1)
            changes = apply_day_changes(sandbox, day, start + timedelta(hours=10))
            changes["pipedrive"] = apply_pipedrive_day_changes(sandbox, day, start + timedelta(hours=10, minutes=30))
            changes["folk"] = apply_folk_day_changes(sandbox, day, start + timedelta(hours=10, minutes=45))
            changes["dynamics"] = apply_dynamics_day_changes(sandbox, day, start + timedelta(hours=10, minutes=40))
            for zoho in ("zoho_crm", "bigin"):
                changes[zoho] = apply_zoho_day_changes(sandbox, day, start + timedelta(hours=10, minutes=50), zoho)
            pm_changes = apply_pm_day_changes(sandbox, day, start + timedelta(hours=11))
            pm_changes["planner"] = apply_planner_day_changes(sandbox, day, start + timedelta(hours=11, minutes=5))
            pm_changes["project_for_the_web"] = apply_project_for_the_web_day_changes(
                sandbox, day, start + timedelta(hours=11, minutes=10))
            pm_changes["zoho_projects"] = apply_zoho_projects_day_changes(sandbox, day, start + timedelta(hours=11, minutes=15))
            books = apply_quickbooks_day_changes(sandbox, day, start + timedelta(hours=11, minutes=30))
            print(f"\nwindow [{start:%Y-%m-%d}, {end:%Y-%m-%d}): CRM changes {changes}, project-tool changes {pm_changes}, "
                  f"QuickBooks changes {books}")
            for vendor in sandbox.vendors.values():
                vendor.control.set_clock(end + timedelta(minutes=30))
            for dag_id in sorted(d for d in dags if d.startswith("extract_")):
                t0 = time.monotonic()
                run = run_interval(dags[dag_id], end)
                timings.append((dag_id, f"{start:%Y-%m-%d}", time.monotonic() - t0, str(run.state)))
                print(f"  {dag_id}: {run.state} in {time.monotonic() - t0:.1f}s")
                if str(run.state) != "success":
                    print(f"{dag_id} failed for window starting {start:%Y-%m-%d}; see the task logs above", file=sys.stderr)
                    return 1
        conn = connect(url)
        try:
            print_summary(conn)
            mismatches = compare_raw_with_sources(conn, sandbox) + compare_pipedrive_raw_with_source(conn, sandbox)
            mismatches += compare_folk_raw_with_source(conn, sandbox) + compare_dynamics_raw_with_source(conn, sandbox)
            mismatches += compare_quickbooks_raw_with_source(conn, sandbox)
            mismatches += compare_planner_raw_with_source(conn, sandbox)
            mismatches += compare_zoho_raw_with_source(conn, sandbox) + compare_zoho_raw_with_source(conn, sandbox, "bigin")
            mismatches += compare_zoho_projects_raw_with_source(conn, sandbox)
        finally:
            conn.close()
        print(f"\nraw layer vs. sources (CRMs, QuickBooks): {'identical' if not mismatches else mismatches}")

        print("\nstaging transform (raw → staging, Great Expectations, identity resolution)")
        t0 = time.monotonic()
        transform = dags["transform_staging"].test()
        print(f"  transform_staging: {transform.state} in {time.monotonic() - t0:.1f}s")
        conn = connect(url)
        try:
            print_validation_summary(conn, transform.run_id)
            from passerelle_dev.demo_invoicing import run as run_invoicing

            invoiced = str(transform.state) == "success" and run_invoicing(dags, conn, sandbox)
            from passerelle_dev.demo_sync import run as run_sync

            synced = invoiced and run_sync(dags, conn, sandbox)
        finally:
            conn.close()
    print(f"total time: {time.monotonic() - started:.1f}s")
    return 0 if not mismatches and invoiced and synced else 1


def print_summary(conn) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT source, stream, to_char(window_end - interval '1 day', 'YYYY-MM-DD') AS day,
                   records_received, inserted, updated, deleted, unchanged,
                   round(extract(epoch FROM finished_at - started_at)::numeric, 2)
            FROM audit.load_log ORDER BY source, stream, window_end
            """
        )
        rows = cur.fetchall()
    header = ("source", "stream", "window", "received", "inserted", "updated", "deleted", "unchanged", "seconds")
    print_table("rows per source / stream / window (audit.load_log)", header, rows, numeric_from=3)


def print_validation_summary(conn, run_id: str) -> None:
    """What the transform run validated, quarantined and resolved, from the quality and staging tables."""
    from passerelle.quality.summary import format_summary, validation_summary

    summaries = validation_summary(conn, run_id)
    with conn.cursor() as cur:
        cur.execute(
            """SELECT table_name, rule, count(*), min(reason) FROM quality.quarantine WHERE released_at IS NULL
                GROUP BY 1, 2 ORDER BY 1, 2""")
        quarantine = cur.fetchall()
        cur.execute("""SELECT 'mapped: ' || method, count(*) FROM staging.project_links GROUP BY method
                       UNION ALL
                       SELECT 'exception: ' || problem, count(*) FROM staging.identity_exceptions GROUP BY problem
                       ORDER BY 1""")
        identity = cur.fetchall()
    conn.rollback()
    print("\nvalidation summary (quality.validation_runs / quality.validation_results)")
    print("  " + format_summary(summaries).replace("\n", "\n  "))
    print_table("open quarantine (quality.quarantine)", ("table", "rule", "rows", "example reason"),
                [(t, r, n, reason[:90]) for t, r, n, reason in quarantine])
    print_table("identity resolution (staging.project_links / staging.identity_exceptions)", ("outcome", "projects"),
                identity)


def mask(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


if __name__ == "__main__":
    sys.exit(main())
