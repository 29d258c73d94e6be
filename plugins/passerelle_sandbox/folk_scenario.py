"""folk's day-by-day changes for the demo and the raw-vs-source check (see :mod:`passerelle_sandbox.scenario`).

Each day renames a company and changes another's description, creates one, and deletes a company and a
person (folk deletes for good: the extract sees them only as absences from the listing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    problems: list[str] = []
    with conn.cursor() as cur:
        for obj in TRACKED:
            source_ids = {str(r["id"]) for r in control.records(obj)}
            cur.execute(
                """
                SELECT record_id FROM (
                    SELECT DISTINCT ON (record_id) record_id, is_deleted
                    FROM raw.records WHERE source = 'folk' AND stream = %s
                    ORDER BY record_id, cursor_value DESC, is_deleted DESC
                ) latest WHERE NOT is_deleted
                """,
                (obj,),
            )
            raw_ids = {row[0] for row in cur.fetchall()}
            if raw_ids != source_ids:
                problems.append(f"folk.{obj}: {len(source_ids - raw_ids)} missing in raw, "
                                f"{len(raw_ids - source_ids)} extra")
    conn.rollback()
    return problems
