"""QuickBooks Online day-by-day changes for the demo and the raw-vs-source check (:mod:`passerelle_sandbox.scenario`).

Each day a new customer arrives, one open invoice is paid in full and another in part (which moves
both invoices' ``LastUpdatedTime``), a payment is deleted (its invoice is open again), a time
activity is deleted, which only an id census sees since CDC does not cover TimeActivity, and a
customer is made inactive, which hides it from queries that do not ask ``Active IN (true, false)``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from passerelle_sandbox.scenario import raw_id_differences

STREAMS = {"customers": "Customer", "items": "Item", "invoices": "Invoice", "credit_memos": "CreditMemo",
           "payments": "Payment", "time_activities": "TimeActivity"}
"""The source's stream → the QuickBooks entity it reads."""


def _pay(control: Any, invoice: dict[str, Any], amount: Decimal) -> None:
    control.create("Payment", {"CustomerRef": invoice["CustomerRef"]["value"], "TotalAmt": str(amount), "Line": [
        {"Amount": str(amount), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})


def apply_quickbooks_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s QuickBooks changes at time ``at`` (nothing when the sandbox has no QuickBooks)."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    if "quickbooks" not in sandbox.vendors:
        return counts
    control = sandbox.vendors["quickbooks"].control
    control.set_clock(at)
    control.create("Customer", {"DisplayName": f"Nouvelle Société QuickBooks {day + 1} SAS",
                                "CompanyName": f"Nouvelle Société QuickBooks {day + 1} SAS",
                                "Notes": "SIREN à demander", "BillAddr": {"City": "Lyon", "Country": "FR"}})
    counts["created"] += 1
    open_invoices = [i for i in control.records("Invoice")
                     if Decimal(str(i["Balance"])) == Decimal(str(i["TotalAmt"])) > 0]
    full, partial = open_invoices[(2 * day) % len(open_invoices)], open_invoices[(2 * day + 1) % len(open_invoices)]
    _pay(control, full, Decimal(str(full["Balance"])))
    _pay(control, partial, (Decimal(str(partial["Balance"])) / 2).quantize(Decimal("0.01")))
    counts["created"] += 2
    counts["updated"] += 2  # the invoices' balances
    payments = [p for p in control.records("Payment") if p["Line"]]
    control.delete("Payment", payments[day % len(payments)]["Id"])
    activities = control.records("TimeActivity")
    control.delete("TimeActivity", activities[day % len(activities)]["Id"])
    counts["deleted"] += 2
    active = [c for c in control.records("Customer") if c["Active"]]
    control.update("Customer", active[(3 * day + 1) % len(active)]["Id"], {"Active": False})
    counts["updated"] += 1
    return counts


def compare_quickbooks_raw_with_source(conn: Any, sandbox: Any) -> list[str]:
    """Differences between the company's objects (inactive customers and items included) and the latest
    non-deleted raw versions of each stream."""
    if "quickbooks" not in sandbox.vendors:
        return []
    control = sandbox.vendors["quickbooks"].control
    problems = [line for stream, entity in STREAMS.items()
                for line in raw_id_differences(conn, "quickbooks", stream, {r["Id"] for r in control.records(entity)})]
    conn.rollback()
    return problems
