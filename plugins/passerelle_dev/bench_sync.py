"""``make bench`` (fourth part): the delivery → CRM sync per CRM writer, a first run on every linked deal, then a
run with 1 % changed.

Each CRM's emulator holds synthetic deals (10,000 for HubSpot, 1,000 for the others by default) and
``marts.deal_delivery`` one row per deal (a scratch database on the warehouse server). The first run creates
the fields and writes every deal's figures; the second, after 1 % of the deals' hours changed, must write only
those. Printed per CRM: vendor calls, calls per changed deal (batching keeps it well under one, except where
the vendor has no batch update: Pipedrive), run times, peak RSS.
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

DEALS = {"hubspot": 10_000}
OTHER_DEALS = 1_000
CHANGED_SHARE = 0.01
DEAL_OBJECTS = {"salesforce": "Opportunity", "hubspot": "deals", "zoho_crm": "Deals", "bigin": "Pipelines",
                "pipedrive": "deals", "dynamics": "opportunities"}
"""The emulator's object holding each CRM's deals (what its control API creates in bulk)."""


def fill(conn: Any, crm: str, deal_ids: list[str]) -> None:
    with conn.cursor() as cur:
        cur.execute("TRUNCATE marts.deal_delivery")
        cur.executemany(
            """INSERT INTO marts.deal_delivery (deal_key, crm_system, crm_id, currency, projects, tasks_total, tasks_done,
                   percent_done, hours_billable, hours_non_billable, amount_to_invoice, amount_invoiced, amount_paid,
                   next_milestone, next_milestone_date)
               VALUES (%s, %s, %s, 'EUR', 'trello : Projet', 10, %s, %s, %s, 0, 1000.00, %s, 0, 'Recette', '2026-06-30')""",
            [(f"{crm}:{deal_id}", crm, deal_id, n % 11, (n % 11) * 10, f"{n % 97}.25", f"{(n % 13) * 500}.00")
             for n, deal_id in enumerate(deal_ids)])
    conn.commit()


def one_run(conn: Any, crm: str, api: Any, run_id: str) -> dict[str, Any]:
    from passerelle.sync.delivery_to_crm import apply, crm_writers, plan

    started = time.perf_counter()
    counts = plan(conn, (crm,), run_id)
    planned = time.perf_counter()
    outcome = apply(conn, run_id, crm_writers(conn, run_id, {crm: api}), crm=crm)
    return {"changed": counts["update"], "written": outcome.written, "calls": outcome.calls,
            "plan_s": planned - started, "apply_s": time.perf_counter() - planned, "refused": len(outcome.refused)}


def bench_crm(crm: str, deals: int) -> bool:
    """Both runs on ``crm``'s emulator; prints them; whether every figure went where it should."""
    from passerelle.connectors.config import SourceConfig
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import retry_settings
    from passerelle.orchestration.airflow_env import sandbox_connections
    from passerelle.warehouse.scratch import scratch_database
    from passerelle.warehouse.settings import connect, warehouse_url
    from passerelle_sandbox.server import VENDOR_FACTORIES, start_sandbox

    with tempfile.TemporaryDirectory() as state, \
            start_sandbox(state_dir=Path(state), vendors={crm: VENDOR_FACTORIES[crm]}) as sandbox, \
            scratch_database(warehouse_url(), "passerelle_bench_sync") as url:
        control = sandbox.vendors[crm].control
        if "enforce_rate_limits" in control.config():
            control.config(enforce_rate_limits=False)
        created = [str(i) for i in control.bulk(DEAL_OBJECTS[crm], create=deals)["created_ids"]]
        connection = sandbox_connections(sandbox.vendors, sandbox.ca_path)[f"passerelle_{crm}"]
        config = SourceConfig(host=connection["host"], login=connection.get("login"),
                              password=connection.get("password"), extra=connection["extra"])
        source = get_source(crm)
        api = source.connect(config, retry_settings(source, config))
        conn = connect(url)
        try:
            fill(conn, crm, created)
            first = one_run(conn, crm, api, f"bench-sync-{crm}-1")
            changed = created[:: int(1 / CHANGED_SHARE)][: int(deals * CHANGED_SHARE)]
            with conn.cursor() as cur:
                cur.execute("UPDATE marts.deal_delivery SET hours_billable = hours_billable + 1 WHERE crm_id = ANY(%s)",
                            (changed,))
            conn.commit()
            second = one_run(conn, crm, api, f"bench-sync-{crm}-2")
        finally:
            conn.close()
    print(f"  {crm} ({deals:,} linked deals)")
    for name, run in (("first run (every deal)", first), (f"second run ({CHANGED_SHARE:.0%} changed)", second)):
        per_change = run["calls"] / run["changed"] if run["changed"] else 0.0
        print(f"    {name:<26} {run['changed']:>6,} deals changed, {run['written']:>6,} written, {run['refused']} "
              f"refused, {run['calls']:>5} calls ({per_change:.3f} per changed deal), plan {run['plan_s']:.2f} s, "
              f"apply {run['apply_s']:.2f} s")
    return first["written"] == deals and second["written"] == len(changed) and not first["refused"]


def main() -> int:
    from passerelle.sync.config import CRM_WRITERS

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crms", nargs="*", choices=CRM_WRITERS, default=list(CRM_WRITERS))
    parser.add_argument("--deals", type=int, default=None, help="linked deals per CRM (default: 10,000 for HubSpot, "
                                                                 f"{OTHER_DEALS:,} for the others)")
    args = parser.parse_args()
    print(f"sync benchmark: delivery → CRM, every linked deal, then {CHANGED_SHARE:.0%} changed")
    ok = all([bench_crm(crm, args.deals or DEALS.get(crm, OTHER_DEALS)) for crm in args.crms])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {peak:.0f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PASSERELLE_LOG_LEVEL", "WARNING")
    sys.exit(main())
