"""Dynamics 365 day-by-day changes for the demo and the raw-vs-source check (see :mod:`passerelle_sandbox.scenario`).

Each day renames an account and gives another a new SIRET, creates one, deletes a contact and an
opportunity (whose products go with it), changes an opportunity product's quantity, wins an open
opportunity and mass-updates contacts with one identical ``modifiedon``. Deletions are seen only
through change tracking.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from passerelle_sandbox.dataset_ids import new_siret
from passerelle_sandbox.dynamics_model import TABLES
from passerelle_sandbox.scenario import raw_id_differences

MASS_UPDATE = 25
TRACKED = ("accounts", "contacts", "opportunities", "opportunityproducts", "products", "systemusers",
           "transactioncurrencies")


def apply_dynamics_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s Dynamics 365 changes at time ``at`` (nothing when the sandbox has no Dynamics)."""
    counts = {"created": 0, "updated": 0, "deleted": 0, "mass_updated": 0}
    if "dynamics" not in sandbox.vendors:
        return counts
    control = sandbox.vendors["dynamics"].control
    control.set_clock(at)
    accounts = control.records("accounts")
    renamed, moved = accounts[(day * 2) % len(accounts)], accounts[(day * 2 + 1) % len(accounts)]
    control.update("accounts", renamed["accountid"], {"name": f"{renamed['name']} ({day + 1})"})
    counts["updated"] += 1
    if moved["pa_siren"]:
        siret = new_siret(random.Random(f"dynamics:{day}"), moved["pa_siren"])
        control.update("accounts", moved["accountid"], {"pa_siret": siret})
        counts["updated"] += 1
    control.create("accounts", {"name": f"Nouvelle Société Dynamics {day + 1} SAS", "pa_customertype": "B2B",
                                "customertypecode": 3})
    counts["created"] += 1
    control.delete("contacts", control.records("contacts")[day]["contactid"])
    opportunities = control.records("opportunities")
    control.delete("opportunities", opportunities[day]["opportunityid"])
    counts["deleted"] += 2
    live = {o["opportunityid"] for o in opportunities[day + 1:]}
    line = next(p for p in control.records("opportunityproducts") if p["_opportunityid_value"] in live)
    control.update("opportunityproducts", line["opportunityproductid"], {"quantity": day + 2})
    won = next(o for o in opportunities[day + 1:] if o["statecode"] == 0)
    control.update("opportunities", won["opportunityid"], {
        "statecode": 1, "statuscode": 3, "closeprobability": 100, "actualvalue": won["estimatedvalue"],
        "actualclosedate": at.date().isoformat()})
    counts["updated"] += 2
    control.bulk("contacts", create=0, touch=MASS_UPDATE)
    counts["mass_updated"] += MASS_UPDATE
    return counts


def compare_dynamics_raw_with_source(conn: Any, sandbox: Any) -> list[str]:
    """Differences between the Dataverse org's rows and the latest non-deleted raw versions."""
    if "dynamics" not in sandbox.vendors:
        return []
    control = sandbox.vendors["dynamics"].control
    problems = [line for table in TRACKED
                for line in raw_id_differences(conn, "dynamics", table, {r[TABLES[table].pk] for r in control.records(table)})]
    conn.rollback()
    return problems

