"""Zoho CRM and Bigin day-by-day changes for the demo and the raw-vs-source check (see :mod:`passerelle_sandbox.scenario`).

Each day renames two accounts, creates one, deletes a contact and a deal (both to the recycle bin),
wins a deal by moving it to the renamed won stage and mass-updates contacts with one identical stamp.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from passerelle_sandbox.dataset_zoho import PRODUCTS, STAGES
from passerelle_sandbox.scenario import raw_id_differences

MASS_UPDATE = 25
VENDORS = ("zoho_crm", "bigin")


def _live(control: Any, obj: str) -> list[dict[str, Any]]:
    return sorted(control.records(obj), key=lambda r: int(r["id"]))


def apply_zoho_day_changes(sandbox: Any, day: int, at: datetime, vendor: str = "zoho_crm") -> dict[str, int]:
    """Day ``day``'s changes to ``vendor`` (Zoho CRM or Bigin) at time ``at``; nothing when it is not served."""
    counts = {"created": 0, "updated": 0, "deleted": 0, "mass_updated": 0}
    if vendor not in sandbox.vendors:
        return counts
    control, deals = sandbox.vendors[vendor].control, PRODUCTS[vendor].deals_module
    control.set_clock(at)
    accounts = _live(control, "Accounts")
    for i in range(2):
        account = accounts[(day * 2 + i) % len(accounts)]
        control.update("Accounts", account["id"], {"Account_Name": f"{account['Account_Name']} ({day + 1})"})
        counts["updated"] += 1
    control.create("Accounts", {"Account_Name": f"Nouvelle Société Zoho {day + 1} SARL", "Customer_Type": "B2B"})
    counts["created"] += 1
    control.delete("Contacts", _live(control, "Contacts")[day]["id"])
    live_deals = _live(control, deals)
    control.delete(deals, live_deals[day]["id"])
    counts["deleted"] += 2
    won = next(d for d in live_deals[day + 1:] if d["Stage"] != STAGES["won"][0])
    control.update(deals, won["id"], {"Stage": STAGES["won"][0], "Probability": 100})
    counts["updated"] += 1
    control.bulk("Contacts", create=0, touch=MASS_UPDATE)
    counts["mass_updated"] += MASS_UPDATE
    return counts


def compare_zoho_raw_with_source(conn: Any, sandbox: Any, vendor: str = "zoho_crm") -> list[str]:
    """Differences between ``vendor``'s live records and the latest non-deleted raw versions."""
    if vendor not in sandbox.vendors:
        return []
    control = sandbox.vendors[vendor].control
    problems = [line for obj in ("Accounts", "Contacts", PRODUCTS[vendor].deals_module, "Products")
                for line in raw_id_differences(conn, vendor, obj, {r["id"] for r in control.records(obj)})]
    conn.rollback()
    return problems
