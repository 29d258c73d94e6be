"""``make bench`` (fourth part): the delivery → CRM sync on 10,000 linked deals, then a run with 1 % changed.

The HubSpot emulator holds 10,000 synthetic deals and ``marts.deal_delivery`` one row per deal (a scratch
database on the warehouse server). The first run writes every deal's figures; the second, after 100 deals'
hours changed, must write only those. Printed: run time, vendor calls, calls per changed deal (batching keeps
it well under one), peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEALS = 10_000
CHANGED_SHARE = 0.01


def fill(conn: Any, deal_ids: list[str]) -> None:
    with conn.cursor() as cur:
        cur.execute("TRUNCATE marts.deal_delivery")
        cur.executemany(
            """INSERT INTO marts.deal_delivery (deal_key, crm_system, crm_id, currency, projects, tasks_total, tasks_done,
                   percent_done, hours_billable, hours_non_billable, amount_to_invoice, amount_invoiced, amount_paid,
                   next_milestone, next_milestone_date)
               VALUES (%s, 'hubspot', %s, 'EUR', 'trello : Projet', 10, %s, %s, %s, 0, 1000.00, %s, 0, 'Recette', '2026-06-30')""",
            [(f"hubspot:{deal_id}", deal_id, n % 11, (n % 11) * 10, f"{n % 97}.25", f"{(n % 13) * 500}.00")
             for n, deal_id in enumerate(deal_ids)])
    conn.commit()


def one_run(conn: Any, api: Any, run_id: str) -> dict[str, Any]:
    from passerelle.sync.delivery_to_crm import apply, crm_writers, plan

    started = time.perf_counter()
    counts = plan(conn, ("hubspot",), run_id)
    planned = time.perf_counter()
    outcome = apply(conn, run_id, crm_writers(conn, run_id, {"hubspot": api}))
    return {"changed": counts["update"], "written": outcome.written, "calls": outcome.calls,
            "plan_s": planned - started, "apply_s": time.perf_counter() - planned, "refused": len(outcome.refused)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=DEALS)
    args = parser.parse_args()
    from passerelle.connectors.config import SourceConfig
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import retry_settings
    from passerelle.orchestration.airflow_env import sandbox_connections
    from passerelle.warehouse.scratch import scratch_database
    from passerelle.warehouse.settings import connect, warehouse_url
    from passerelle_sandbox.server import VENDOR_FACTORIES, start_sandbox

    print(f"sync benchmark: delivery → HubSpot on {args.deals:,} linked deals, then {CHANGED_SHARE:.0%} changed")
    with tempfile.TemporaryDirectory() as state, \
            start_sandbox(state_dir=Path(state), vendors={"hubspot": VENDOR_FACTORIES["hubspot"]}) as sandbox, \
            scratch_database(warehouse_url(), "passerelle_bench_sync") as url:
        control = sandbox.vendors["hubspot"].control
        created = control.bulk("deals", create=args.deals)["created_ids"]
        connection = sandbox_connections(sandbox.vendors, sandbox.ca_path)["passerelle_hubspot"]
        config = SourceConfig(host=connection["host"], login=connection.get("login"),
                              password=connection.get("password"), extra=connection["extra"])
        source = get_source("hubspot")
        api = source.connect(config, retry_settings(source, config))
        conn = connect(url)
        try:
            fill(conn, [str(i) for i in created])
            first = one_run(conn, api, "bench-sync-1")
            changed = created[:: int(1 / CHANGED_SHARE)][: int(args.deals * CHANGED_SHARE)]
            with conn.cursor() as cur:
                cur.execute("UPDATE marts.deal_delivery SET hours_billable = hours_billable + 1 WHERE crm_id = ANY(%s)",
                            ([str(i) for i in changed],))
            conn.commit()
            second = one_run(conn, api, "bench-sync-2")
        finally:
            conn.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name, run in (("first run (every deal)", first), (f"second run ({CHANGED_SHARE:.0%} changed)", second)):
        per_change = run["calls"] / run["changed"] if run["changed"] else 0.0
        print(f"  {name:<26} {run['changed']:>6,} deals changed, {run['written']:>6,} written, {run['refused']} refused, "
              f"{run['calls']:>4} calls ({per_change:.3f} per changed deal), plan {run['plan_s']:.2f} s, "
              f"apply {run['apply_s']:.2f} s")
    print(f"  peak RSS {peak:.0f} MB")
    ok = first["written"] == args.deals and second["written"] == len(changed) and not first["refused"]
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
