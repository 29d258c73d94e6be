"""``make backfill SOURCE=... START=... END=...``: re-extract a source's past daily windows.

The environment (``AIRFLOW_HOME``, the plugins on ``PYTHONPATH``) is set here, not by hand. When the local
Airflow's scheduler runs (``make up``), the backfill is created through its REST API (as ``airflow backfill
create`` would, without a second writer on its SQLite database), and the scheduler runs it. Without one, each window runs here, one after the other, with ``dag.test()``: the source's Connection
then comes from the environment or the metadata database, or from the sandbox with ``--sandbox``.
START and END are the first and last days whose window is extracted (Airflow's ``--from-date``/``--to-date``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from passerelle.paths import PROJECT_ROOT

USAGE = "usage: make backfill SOURCE=<source> START=<YYYY-MM-DD> END=<YYYY-MM-DD> [SANDBOX=1]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m passerelle_dev.backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a source name, e.g. salesforce")
    parser.add_argument("start", help="first day, YYYY-MM-DD")
    parser.add_argument("end", help="last day, YYYY-MM-DD")
    parser.add_argument("--sandbox", action="store_true",
                        help="without a scheduler: extract from the vendor sandbox started here")
    parser.add_argument("--here", action="store_true", help="run the windows here even if a scheduler runs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from passerelle.connectors.registry import SOURCES

    args = _parser().parse_args(argv)
    if args.source not in SOURCES:
        said = f"unknown source {args.source!r}" if args.source else "no SOURCE given"
        print(f"{said}; valid sources: {', '.join(sorted(SOURCES))}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        args.start, args.end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError:
        print(f"START and END must be days, YYYY-MM-DD (got {args.start!r}, {args.end!r})\n{USAGE}", file=sys.stderr)
        return 2
    if args.end < args.start:
        print(f"END {args.end} is before START {args.start}", file=sys.stderr)
        return 2
    from passerelle.orchestration.airflow_env import configure_airflow
    from passerelle_dev.airflow_api import AirflowApi, admin_password, base_url, healthy

    home = configure_airflow()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    dag_id = f"extract_{args.source}"
    password = admin_password(home)
    if not args.here and password and healthy(base_url(), ["scheduler"]):
        created = AirflowApi(base_url(), password).create_backfill(dag_id, args.start.isoformat(), args.end.isoformat())
        print(f"the scheduler at {base_url()} runs the backfill of {dag_id} (backfill {created['id']}, windows "
              f"starting {args.start} to {args.end}); follow it in the UI (Browse → Backfills)", flush=True)
        return 0
    print(f"no scheduler answers at {base_url()} (make up starts one): running {dag_id}'s windows here", flush=True)
    return run_here(dag_id, args.start, args.end, args.sandbox)


def windows(dag: Any, first: date, last: date) -> list[tuple[datetime, datetime]]:
    """The DAG's data intervals that start on ``first`` .. ``last`` (both included), as its timetable cuts them."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)  # the scheduler's, which cuts the intervals
    restriction = TimeRestriction(earliest=datetime.combine(first, datetime.min.time(), timezone.utc),
                                  latest=datetime.combine(last, datetime.min.time(), timezone.utc), catchup=True)
    found: list[tuple[datetime, datetime]] = []
    previous = None
    while info := timetable.next_dagrun_info(last_automated_data_interval=previous, restriction=restriction):
        previous = info.data_interval
        found.append((previous.start, previous.end))
    return found


def run_here(dag_id: str, first: date, last: date, sandbox: bool) -> int:
    """Each window of ``dag_id`` in turn with ``dag.test()``; 0 if all succeeded."""
    from contextlib import nullcontext

    from airflow.utils import db

    from passerelle.orchestration.airflow_env import export_connections, sandbox_connections, warehouse_connection
    from passerelle.orchestration.runner import load_dags, run_interval
    from passerelle.warehouse.migrate import migrate
    from passerelle.warehouse.settings import warehouse_url
    from passerelle_sandbox.server import start_sandbox

    url = warehouse_url()
    migrate(url)
    export_connections({"passerelle_warehouse": warehouse_connection(url)})
    with start_sandbox() if sandbox else nullcontext() as vendors:
        if vendors is not None:
            export_connections(sandbox_connections(vendors.vendors, vendors.ca_path))
        db.initdb()
        dag = load_dags()[dag_id]
        failed = 0
        for start, end in windows(dag, first, last):
            state = str(run_interval(dag, end).state)
            failed += state != "success"
            print(f"{dag_id} [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) UTC: {state}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
