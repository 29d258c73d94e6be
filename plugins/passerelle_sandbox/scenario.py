"""Day-by-day source changes for the demo and the window tests, and the raw-vs-source check.

Each day creates, updates, deletes and mass-updates records at the sources, stamped inside that
day on the sandbox clock, so the next extract window must pick up exactly those changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MASS_UPDATE = 25  # records stamped with one identical modification time, per vendor and day

# (vendor, object, id field, deleted flag field)
TRACKED: tuple[tuple[str, str, str, str], ...] = (
    ("salesforce", "Account", "Id", "IsDeleted"),
    ("salesforce", "Contact", "Id", "IsDeleted"),
    ("salesforce", "Opportunity", "Id", "IsDeleted"),
    ("salesforce", "OpportunityLineItem", "Id", "IsDeleted"),
    ("salesforce", "Product2", "Id", "IsDeleted"),
    ("salesforce", "User", "Id", "IsDeleted"),
    ("hubspot", "companies", "id", "archived"),
    ("hubspot", "contacts", "id", "archived"),
    ("hubspot", "deals", "id", "archived"),
    ("hubspot", "line_items", "id", "archived"),
    ("hubspot", "products", "id", "archived"),
    ("hubspot", "owners", "id", "archived"),
)


def _live_ids(control: Any, obj: str, id_field: str, deleted_field: str) -> list[str]:
    return sorted(str(r[id_field]) for r in control.records(obj) if not r.get(deleted_field))


def apply_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Apply day ``day``'s changes at time ``at``; returns how many of each kind were made."""
    sf = sandbox.vendors["salesforce"].control
    hs = sandbox.vendors["hubspot"].control
    for control in (sf, hs):
        control.set_clock(at)
    counts = {"created": 0, "updated": 0, "deleted": 0, "mass_updated": 0}

    accounts = _live_ids(sf, "Account", "Id", "IsDeleted")
    for i in range(3):
        sf.update("Account", accounts[(day * 3 + i) % len(accounts)], {"Phone": f"+33 1 40 00 0{day}{i} 00"})
        counts["updated"] += 1
    opportunities = _live_ids(sf, "Opportunity", "Id", "IsDeleted")
    sf.update("Opportunity", opportunities[day % len(opportunities)], {"StageName": "Closed Won", "IsWon": True, "IsClosed": True})
    counts["updated"] += 1
    sf.delete("Contact", _live_ids(sf, "Contact", "Id", "IsDeleted")[day])
    counts["deleted"] += 1
    sf.create("Account", {"Name": f"Nouvelle Société {day + 1} SAS", "BillingCity": "Lyon", "BillingCountry": "France"})
    counts["created"] += 1
    sf.bulk("Contact", create=0, touch=MASS_UPDATE)
    counts["mass_updated"] += MASS_UPDATE

    companies = _live_ids(hs, "companies", "id", "archived")
    for i in range(3):
        hs.update("companies", companies[(day * 3 + i) % len(companies)], {"phone": f"+33 4 72 00 0{day}{i} 00"})
        counts["updated"] += 1
    hs.delete("deals", _live_ids(hs, "deals", "id", "archived")[day])
    counts["deleted"] += 1
    hs.create("contacts", {"email": f"contact{day + 1}@exemple.fr", "firstname": "Camille", "lastname": f"Martin{day + 1}"})
    counts["created"] += 1
    hs.bulk("line_items", create=0, touch=MASS_UPDATE)
    counts["mass_updated"] += MASS_UPDATE
    return counts


# Project tools: (vendor, object, id field, fields of an update), for records changed each day.
PM_CHANGES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("trello", "cards", "id", {"dueComplete": True}),
    ("asana", "tasks", "gid", {"completed": True}),
    ("jira", "issues", "id", {"status": "Done"}),
    ("monday", "items", "id", {"status": "Terminé"}),
)
PM_NEW_TIME: tuple[tuple[str, str], ...] = (("asana", "time_entries"), ("jira", "worklogs"), ("trello", "cards"), ("monday", "items"))


def apply_pm_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s changes in the project tools present in the sandbox: one task or card completed,
    one deleted, and new time recorded, all stamped at ``at``."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    for vendor, obj, id_field, update in PM_CHANGES:
        if vendor not in sandbox.vendors:
            continue
        control = sandbox.vendors[vendor].control
        control.set_clock(at)
        ids = sorted(str(r[id_field]) for r in control.records(obj))
        control.update(obj, ids[(2 * day) % len(ids)], update)
        control.delete(obj, ids[(2 * day + 1) % len(ids)])
        counts["updated"] += 1
        counts["deleted"] += 1
    for vendor, obj in PM_NEW_TIME:
        if vendor in sandbox.vendors:
            counts["created"] += len(sandbox.vendors[vendor].control.bulk(obj, create=2)["created_ids"])
    return counts


def raw_id_differences(conn: Any, source: str, stream: str, source_ids: set[str]) -> list[str]:
    """How the ids of a stream's latest non-deleted raw versions differ from ``source_ids`` (the records
    live at the source): nothing when they are the same, else one line counting the missing and the extra."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT record_id FROM (
                SELECT DISTINCT ON (record_id) record_id, is_deleted
                FROM raw.records WHERE source = %s AND stream = %s
                ORDER BY record_id, cursor_value DESC, is_deleted DESC
            ) latest WHERE NOT is_deleted
            """,
            (source, stream),
        )
        raw_ids = {row[0] for row in cur.fetchall()}
    if raw_ids == source_ids:
        return []
    return [f"{source}.{stream}: {len(source_ids - raw_ids)} missing in raw, {len(raw_ids - source_ids)} extra"]


def compare_raw_with_sources(conn: Any, sandbox: Any) -> list[str]:
    """Differences between each source's live records and the latest non-deleted raw versions."""
    problems: list[str] = []
    for vendor, obj, id_field, deleted_field in TRACKED:
        source_ids = set(_live_ids(sandbox.vendors[vendor].control, obj, id_field, deleted_field))
        problems += raw_id_differences(conn, vendor, obj, source_ids)
    conn.rollback()
    return problems
