"""Pipedrive's day-by-day changes for the demo and the raw-vs-source check (see :mod:`passerelle_sandbox.scenario`).

Each day renames and re-identifies organizations, creates one, deletes a person and a deal, changes a
deal product's quantity (which re-stamps its deal) and mass-updates persons with one identical stamp.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from passerelle_sandbox.scenario import raw_id_differences

MASS_UPDATE = 25
TRACKED = ("organizations", "persons", "deals", "products")


def _live(control: Any, obj: str) -> list[dict[str, Any]]:
    return sorted((r for r in control.records(obj) if not r.get("is_deleted")), key=lambda r: r["id"])


def apply_pipedrive_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s Pipedrive changes at time ``at`` (nothing when the sandbox has no Pipedrive)."""
    counts = {"created": 0, "updated": 0, "deleted": 0, "mass_updated": 0}
    if "pipedrive" not in sandbox.vendors:
        return counts
    control = sandbox.vendors["pipedrive"].control
    control.set_clock(at)
    organizations = _live(control, "organizations")
    for i in range(2):
        org = organizations[(day * 2 + i) % len(organizations)]
        control.update("organizations", str(org["id"]), {"name": f"{org['name']} ({day + 1})"})
        counts["updated"] += 1
    control.create("organizations", {"name": f"Nouvelle Société Pipedrive {day + 1} SARL",
                                     "custom_fields": {"Customer type": "B2B"}})
    counts["created"] += 1
    control.delete("persons", str(_live(control, "persons")[day]["id"]))
    deals = _live(control, "deals")
    control.delete("deals", str(deals[day]["id"]))
    counts["deleted"] += 2
    live_deals = {d["id"] for d in deals[day + 1:]}
    line = next(p for p in _live(control, "deal_products") if p["deal_id"] in live_deals)
    control.update("deal_products", str(line["id"]), {"quantity": day + 2})
    counts["updated"] += 1
    control.bulk("persons", create=0, touch=MASS_UPDATE)
    counts["mass_updated"] += MASS_UPDATE
    return counts


def compare_pipedrive_raw_with_source(conn: Any, sandbox: Any) -> list[str]:
    """Differences between Pipedrive's live records and the latest non-deleted raw versions."""
    if "pipedrive" not in sandbox.vendors:
        return []
    control = sandbox.vendors["pipedrive"].control
    problems = [line for obj in TRACKED
                for line in raw_id_differences(conn, "pipedrive", obj, {str(r["id"]) for r in _live(control, obj)})]
    conn.rollback()
    return problems
