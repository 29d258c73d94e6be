"""folk's day-by-day changes for the demo and the raw-vs-source check (see :mod:`passerelle_sandbox.scenario`).

Each day renames a company and changes another's description, creates one, and deletes a company and a
person (folk deletes for good: the extract sees them only as absences from the listing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from passerelle_sandbox.scenario import raw_id_differences

TRACKED = ("companies", "people", "users")


def apply_folk_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s folk changes at time ``at`` (nothing when the sandbox has no folk)."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    if "folk" not in sandbox.vendors:
        return counts
    control = sandbox.vendors["folk"].control
    control.set_clock(at)
    companies = control.records("companies")
    first, second = companies[(day * 2) % len(companies)], companies[(day * 2 + 1) % len(companies)]
    control.update("companies", first["id"], {"name": f"{first['name']} ({day + 1})"})
    control.update("companies", second["id"], {"description": f"Relance jour {day + 1}"})
    counts["updated"] += 2
    control.create("companies", {"name": f"Nouvelle Société folk {day + 1} SAS",
                                 "customFieldValues": {"Customer type": "B2B"}})
    counts["created"] += 1
    control.delete("companies", companies[-1]["id"])
    control.delete("people", control.records("people")[day]["id"])
    counts["deleted"] += 2
    return counts


def compare_folk_raw_with_source(conn: Any, sandbox: Any) -> list[str]:
    """Differences between folk's records and the latest non-deleted raw versions."""
    if "folk" not in sandbox.vendors:
        return []
    control = sandbox.vendors["folk"].control
    problems = [line for obj in TRACKED
                for line in raw_id_differences(conn, "folk", obj, {str(r["id"]) for r in control.records(obj)})]
    conn.rollback()
    return problems
