"""The report's payments section: invoices paid, partly paid and overdue, and the payments left unmatched.

Basis: invoices (type 380) issued up to the end of the period, as they stand now (``marts.invoice_lifecycle``:
BT-115 less what ``billing.payments`` received); paid = nothing outstanding, its last payment received in the
period; overdue = something outstanding past its due date (BT-9) on the report's as-of day; unmatched = the
payments of the books received up to the end of the period that matching could not attribute, with the reason
(``marts.unmatched_payments``); and how many customers of the books identity resolution linked to a CRM customer
or left to a person (``staging.ledger_customer_links`` / ``_exceptions``). The section is drawn by the report's
``payments.html.j2`` template, its words from :mod:`passerelle.reports.labels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.payments.matching import Unmatched

LISTED = 50  # invoices shown per list (the counts and totals cover every one); unmatched payments are all listed


@dataclass(frozen=True)
class InvoiceDue:
    invoice_number: str
    buyer_name: str
    currency: str
    due_payable: Decimal
    amount_paid: Decimal
    outstanding: Decimal
    due_date: date
    last_paid_on: date | None


@dataclass(frozen=True)
class PaymentsSection:
    paid: tuple[InvoiceDue, ...]
    partly_paid: tuple[InvoiceDue, ...]
    overdue: tuple[InvoiceDue, ...]
    unmatched: tuple[Unmatched, ...]
    ledger_customers: tuple[int, int] = (0, 0)  # customers of the books linked to a CRM customer, left to a person


_INVOICES = """
    SELECT invoice_number, buyer_name, currency, due_payable, amount_paid, outstanding, due_date, last_paid_on
      FROM marts.invoice_lifecycle
     WHERE type_code = '380' AND issue_date <= %(end)s AND {condition}
     ORDER BY {order}"""
PAID = _INVOICES.format(condition="amount_paid > 0 AND outstanding <= 0 AND last_paid_on BETWEEN %(start)s AND %(end)s",
                        order="last_paid_on, invoice_number")
PARTLY_PAID = _INVOICES.format(condition="amount_paid > 0 AND outstanding > 0", order="invoice_number")
OVERDUE = _INVOICES.format(condition="outstanding > 0 AND due_date < %(as_of)s", order="due_date, invoice_number")
UNMATCHED = """
    SELECT source_system, payment_id, source_line, paid_on, amount, currency, customer_name, document_number,
           invoice_number, reason_code, reason
      FROM marts.unmatched_payments
     WHERE paid_on IS NULL OR paid_on <= %(end)s
     ORDER BY paid_on NULLS LAST, source_system, payment_id, source_line NULLS LAST"""
LEDGER_CUSTOMERS = """
    SELECT (SELECT count(*) FROM staging.ledger_customer_links),
           (SELECT count(*) FROM staging.ledger_customer_exceptions)"""


def load_payments(cur: Any, params: dict[str, Any]) -> PaymentsSection:
    def fetch(query: str) -> list[tuple]:
        cur.execute(query, params)
        return cur.fetchall()

    return PaymentsSection(
        paid=tuple(InvoiceDue(*row) for row in fetch(PAID)),
        partly_paid=tuple(InvoiceDue(*row) for row in fetch(PARTLY_PAID)),
        overdue=tuple(InvoiceDue(*row) for row in fetch(OVERDUE)),
        unmatched=tuple(Unmatched(*row) for row in fetch(UNMATCHED)),
        ledger_customers=fetch(LEDGER_CUSTOMERS)[0],
    )
