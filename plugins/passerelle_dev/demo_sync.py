"""The demo's two-way sync: won deals become Trello boards, delivery figures go back to HubSpot deals.

Runs the ``sync_deals_to_projects`` and ``sync_delivery_to_crm`` DAGs in ``apply`` mode with the demo's sync
file (HubSpot and Salesforce deals won since 1 January 2026 → Trello; figures → HubSpot), then runs both again
to show that a rerun writes nothing, and prints the sync report from ``sync.plan_items`` and ``sync.writes``.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Any

from passerelle.settings import settings
from passerelle_dev.console import print_table

SYNC_FILE = """[deal_to_project]
mode = "apply"
won_after = 2026-01-01

[[deal_to_project.routes]]
crm = "hubspot"
pm = "trello"

[[deal_to_project.routes]]
crm = "salesforce"
pm = "trello"

[delivery_to_crm]
mode = "apply"
crms = ["hubspot"]
"""
RUNS = (datetime(2026, 3, 4, 6, tzinfo=timezone.utc), datetime(2026, 3, 4, 7, tzinfo=timezone.utc))


def run(dags: dict[str, Any], conn: Any) -> bool:
    path = settings().state_dir / "demo-sync.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SYNC_FILE, encoding="utf-8")
    os.environ["PASSERELLE_SYNC_FILE"] = str(path)
    print("\ntwo-way sync (won deal → Trello board; delivery → HubSpot deal fields), twice")
    ok = True
    for logical in RUNS:
        for dag_id in ("sync_deals_to_projects", "sync_delivery_to_crm"):
            t0 = time.monotonic()
            result = dags[dag_id].test(logical_date=logical)
            print(f"  {dag_id} ({result.run_id}): {result.state} in {time.monotonic() - t0:.1f}s")
            ok &= str(result.state) == "success"
    print_report(conn)
    return ok


def print_report(conn: Any) -> None:
    """The sync report: what each run planned and what the vendors answered."""
    with conn.cursor() as cur:
        cur.execute("""SELECT run_id, flow, coalesce(pm_system, crm_system), operation, coalesce(outcome, '—'), count(*)
                         FROM sync.plan_items GROUP BY 1, 2, 3, 4, 5 ORDER BY min(planned_at), 2, 3, 4, 5""")
        planned = cur.fetchall()
        cur.execute("""SELECT vendor, operation, outcome, count(*) FROM sync.writes
                        WHERE method <> 'GET' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""")
        writes = cur.fetchall()
        cur.execute("SELECT state, count(*) FROM sync.links GROUP BY 1 ORDER BY 1")
        links = cur.fetchall()
    conn.rollback()
    print_table("sync plan and outcome (sync.plan_items)", ("run", "flow", "system", "operation", "outcome", "items"),
                planned, numeric_from=5)
    print_table("vendor writes (sync.writes)", ("vendor", "operation", "outcome", "calls"), writes, numeric_from=3)
    print_table("links (sync.links)", ("state", "links"), links, numeric_from=1)
