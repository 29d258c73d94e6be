"""``make demo``: three daily windows of every extract DAG, then the staging transform, on the embedded warehouse.

The sandbox serves the default French dataset, or ``--dataset FILE`` (``make demo DATASET=FILE``). Before each
window, records are created, updated and deleted at the sources (inside that window, on the sandbox's clock);
then every extract DAG runs for the window with ``dag.test()``, and the raw layer is checked against the
sources' final state. Then the staging transform DAG (SQL models, Great Expectations suites with quarantine,
identity resolution) runs once; two monthly billing periods are invoiced and the compliance DAG reports on them
(:mod:`passerelle_dev.demo_invoicing`), and the two-way sync makes the won deals' projects and writes the
delivery figures back (:mod:`passerelle_dev.demo_sync`).

The terminal gets one line per stage and a summary from the warehouse; every log line goes to a file under the
state folder (:mod:`passerelle_dev.demo_output`), streamed as well when ``VERBOSE=1``. Airflow runs in a
throwaway home of its own (``<state>/demo-airflow``), so the runs never appear in the UI of ``make up``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from passerelle_dev.console import print_table
from passerelle_dev.demo_output import Progress, console, new_log_path, routed_output, say, totals, verbose_requested
from passerelle.orchestration.airflow_env import (
    configure_demo_airflow,
    export_connections,
    sandbox_connections,
    warehouse_connection,
)

DAYS = 3
FIRST_DAY = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m passerelle_dev.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, help="sandbox dataset JSON (default: the project's default dataset)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from passerelle_sandbox.dataset import DatasetError
    from passerelle_sandbox.server import resolve_dataset
    from passerelle.paths import state_dir

    try:
        dataset = resolve_dataset(args.dataset)
    except DatasetError as error:
        print(f"make demo: {error}", file=sys.stderr)
        return 2
    log_path = new_log_path(state_dir())
    verbose = verbose_requested()
    say(f"full log: {log_path}" + ("" if verbose else " (VERBOSE=1 streams it here)"))
    with routed_output(log_path, verbose=verbose):
        try:
            code = run(dataset, args.dataset)
        except Exception as error:
            logging.getLogger("passerelle_dev.demo").exception("the demo stopped")
            say(f"the demo stopped: {type(error).__name__}: {error}")
            code = 1
    say(f"full log: {log_path} ({log_path.stat().st_size // 1024} KiB)")
    return code


def change_count(changes: Any) -> int:
    """How many records a scenario's (nested) change counts add up to."""
    if isinstance(changes, dict):
        return sum(change_count(value) for value in changes.values())
    return changes if isinstance(changes, int) else 0


def run(dataset: dict[str, Any], dataset_file: Path | None) -> int:
    configure_demo_airflow()  # its dag.test() runs stay out of make up's UI
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

    progress = Progress()
    with progress.stage("warehouse") as counts:
        url = warehouse_url()
        migrate(url)
        counts[""] = mask(url)
    with start_sandbox(dataset) as sandbox:
        say(f"  {'sandbox':<30} {len(sandbox.vendors)} vendor emulators serving dataset {dataset.get('name', '?')} "
            f"(seed {dataset.get('seed', '?')}, {dataset_file or 'the project default'})")
        export_connections(sandbox_connections(sandbox.vendors, sandbox.ca_path))
        export_connections({"passerelle_warehouse": warehouse_connection(url)})

        from airflow.utils import db

        from passerelle.orchestration.runner import load_dags, run_interval

        with progress.stage("Airflow") as counts:
            db.initdb()
            dags = load_dags()
            counts["DAGs"] = len(dags)
        conn = connect(url)
        try:
            for day in range(DAYS):
                start = FIRST_DAY + timedelta(days=day)
                end = start + timedelta(days=1)
                with progress.stage(f"extract {start:%Y-%m-%d}") as counts:
                    changes = [apply_day_changes(sandbox, day, start + timedelta(hours=10)),
                               apply_pipedrive_day_changes(sandbox, day, start + timedelta(hours=10, minutes=30)),
                               apply_folk_day_changes(sandbox, day, start + timedelta(hours=10, minutes=45)),
                               apply_dynamics_day_changes(sandbox, day, start + timedelta(hours=10, minutes=40))]
                    changes += [apply_zoho_day_changes(sandbox, day, start + timedelta(hours=10, minutes=50), zoho)
                                for zoho in ("zoho_crm", "bigin")]
                    changes += [apply_pm_day_changes(sandbox, day, start + timedelta(hours=11)),
                                apply_planner_day_changes(sandbox, day, start + timedelta(hours=11, minutes=5)),
                                apply_project_for_the_web_day_changes(sandbox, day, start + timedelta(hours=11, minutes=10)),
                                apply_zoho_projects_day_changes(sandbox, day, start + timedelta(hours=11, minutes=15)),
                                apply_quickbooks_day_changes(sandbox, day, start + timedelta(hours=11, minutes=30))]
                    for vendor in sandbox.vendors.values():
                        vendor.control.set_clock(end + timedelta(minutes=30))
                    extracts = sorted(d for d in dags if d.startswith("extract_"))
                    for dag_id in extracts:
                        result = run_interval(dags[dag_id], end)
                        if str(result.state) != "success":
                            say(f"{dag_id} failed for the window starting {start:%Y-%m-%d}: see the full log")
                            return 1
                    counts["source changes"] = sum(change_count(c) for c in changes)
                    counts["DAGs ok"] = len(extracts)
                    counts.update(window_counts(conn, end))
            mismatches = compare_raw_with_sources(conn, sandbox) + compare_pipedrive_raw_with_source(conn, sandbox)
            mismatches += compare_folk_raw_with_source(conn, sandbox) + compare_dynamics_raw_with_source(conn, sandbox)
            mismatches += compare_quickbooks_raw_with_source(conn, sandbox)
            mismatches += compare_planner_raw_with_source(conn, sandbox)
            mismatches += compare_zoho_raw_with_source(conn, sandbox) + compare_zoho_raw_with_source(conn, sandbox, "bigin")
            mismatches += compare_zoho_projects_raw_with_source(conn, sandbox)
            conn.rollback()
            if mismatches:
                logging.getLogger(__name__).error("raw layer differs from the sources: %s", mismatches)
            say(f"  {'raw layer vs. sources':<30} "
                f"{f'{len(mismatches)} differences (listed in the full log)' if mismatches else 'identical'}")

            with progress.stage("staging (SQL, GX, identity)") as counts:
                transform = dags["transform_staging"].test()
                counts[""] = transform.state
                counts.update(staging_counts(conn, transform.run_id))
            from passerelle_dev.demo_invoicing import print_outcome, run as run_invoicing
            from passerelle_dev.demo_sync import print_report, run as run_sync

            invoiced = str(transform.state) == "success" and run_invoicing(dags, conn, sandbox, progress)
            synced = invoiced and run_sync(dags, conn, sandbox, progress)
            print_summary(conn)
            print_validation_summary(conn, transform.run_id)
            if invoiced:
                print_outcome(conn)
            if synced:
                print_report(conn)
        finally:
            conn.close()
    ok = not mismatches and invoiced and synced
    say(f"\ndemo {'succeeded' if ok else 'FAILED'} in {progress.total():.0f}s")
    return 0 if ok else 1


def rows(conn: Any, query: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        result = cur.fetchall()
    conn.rollback()
    return result


def window_counts(conn: Any, window_end: datetime) -> dict[str, object]:
    (received, inserted, updated, deleted), = rows(
        conn, "SELECT coalesce(sum(records_received), 0), coalesce(sum(inserted), 0), coalesce(sum(updated), 0),"
              " coalesce(sum(deleted), 0) FROM audit.load_log WHERE window_end = %s", (window_end,))
    return {"received": received, "inserted": inserted, "updated": updated, "deleted": deleted}


def staging_counts(conn: Any, run_id: str) -> dict[str, object]:
    from passerelle.quality.summary import validation_summary

    summaries = validation_summary(conn, run_id)
    conn.rollback()
    return {"tables validated": len(summaries), "rows": sum(s.rows_validated for s in summaries),
            "quarantined": sum(s.quarantined for s in summaries)}


def print_summary(conn: Any) -> None:
    print_table("rows per source, three windows (audit.load_log)",
                ("source", "streams", "received", "inserted", "updated", "deleted", "unchanged"),
                rows(conn, """SELECT source, count(DISTINCT stream), sum(records_received), sum(inserted),
                                     sum(updated), sum(deleted), sum(unchanged)
                                FROM audit.load_log GROUP BY source ORDER BY source"""),
                numeric_from=1, file=console())


def print_validation_summary(conn: Any, run_id: str) -> None:
    """What the transform run validated, quarantined and resolved, from the quality and staging tables."""
    from passerelle.quality.summary import validation_summary

    summaries = validation_summary(conn, run_id)
    conn.rollback()
    failed = [s.table for s in summaries if s.critical_rules_failed or s.quarantine_rules_failed]
    say(f"\nvalidation: {len(summaries)} staging tables, {sum(s.rows_validated for s in summaries)} rows; "
        f"rules failed on {len(failed)} ({', '.join(failed) or 'none'}); "
        f"warnings {sum(s.warning_rules_failed for s in summaries)}")
    docs = next((s.data_docs for s in summaries if s.data_docs), None)
    if docs:
        say(f"Data Docs: {docs}")
    print_table("open quarantine (quality.quarantine)", ("table", "rules", "rows", "example reason"),
                [(t, r, n, reason[:70]) for t, r, n, reason in rows(
                    conn, """SELECT table_name, count(DISTINCT rule), count(*), min(reason) FROM quality.quarantine
                              WHERE released_at IS NULL GROUP BY 1 ORDER BY 1""")] or [("none", "", "", "")],
                file=console())
    identity = rows(conn, """SELECT 'mapped ' || method, count(*) FROM staging.project_links GROUP BY method
                             UNION ALL
                             SELECT 'exception ' || problem, count(*) FROM staging.identity_exceptions GROUP BY problem
                             ORDER BY 1""")
    say(f"\nidentity resolution (projects): {totals(identity)}")


def mask(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


if __name__ == "__main__":
    sys.exit(main())
