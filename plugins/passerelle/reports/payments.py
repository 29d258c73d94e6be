"""The report's payments section: invoices paid, partly paid and overdue, and the payments left unmatched.

Basis: invoices (type 380) issued up to the end of the period, as they stand now (``marts.invoice_lifecycle``:
BT-115 less what ``billing.payments`` received); paid = nothing outstanding, its last payment received in the
period; overdue = something outstanding past its due date (BT-9) on the report's as-of day; unmatched = the
payments of the books received up to the end of the period that matching could not attribute, with the reason
(``marts.unmatched_payments``); and how many customers of the books identity resolution linked to a CRM customer
or left to a person (``staging.ledger_customer_links`` / ``_exceptions``). Labels are French, amounts in the
French format (1 234,56).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.french_numbers import montant
from passerelle.payments.matching import Unmatched

LISTED = 50  # invoices shown per list (the counts and totals cover every one); unmatched payments are all listed
NUM = ' class="num"'

REASONS = {
    "unknown_document": "document inconnu de la comptabilité",
    "foreign_number": "numéro propre à la comptabilité",
    "unknown_number": "numéro jamais émis par Passerelle",
    "not_an_invoice": "pas une facture",
    "customer_differs": "client différent de l'acheteur",
    "currency_differs": "devise différente",
    "total_differs": "montant total différent",
    "exceeds_due": "dépasse le reste dû",
    "netting_ambiguous": "compensation d'avoir ambiguë",
    "unapplied": "non affecté",
    "deleted_after_212": "supprimé après statut 212",
    "changed_after_212": "modifié après statut 212",
}


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


def _table(headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    def cells(values: list[str], tag: str) -> str:
        return "".join(f"<{tag}{NUM if i in numeric else ''}>{html.escape(v)}</{tag}>" for i, v in enumerate(values))
    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f"<table><thead><tr>{cells(headers, 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _invoices(title: str, empty: str, invoices: tuple[InvoiceDue, ...], last_column: str) -> str:
    if not invoices:  # a heading always heads a table in this report: an empty list is a sentence
        return f"<p class=\"muted\"><strong>{html.escape(title)}</strong> : {html.escape(empty)}</p>"
    total: dict[str, Decimal] = {}
    for invoice in invoices:
        total[invoice.currency] = total.get(invoice.currency, Decimal("0.00")) + invoice.outstanding
    left = ", ".join(f"{montant(value)} {currency}" for currency, value in sorted(total.items()))
    head = (f"<h3>{html.escape(title)} : {len(invoices)} facture{'s' if len(invoices) > 1 else ''}</h3>"
            f"<p class=\"muted\">Reste dû : {html.escape(left)}"
            f"{f' ; {LISTED} premières listées' if len(invoices) > LISTED else ''}</p>")
    def day(invoice: InvoiceDue) -> str:
        value = invoice.last_paid_on if last_column == "Dernier paiement" else invoice.due_date
        return value.isoformat() if value else "—"

    rows = [[i.invoice_number, i.buyer_name, i.currency, montant(i.due_payable), montant(i.amount_paid),
             montant(i.outstanding), day(i)] for i in invoices[:LISTED]]
    return head + _table(["Facture", "Acheteur", "Devise", "Montant dû", "Encaissé", "Reste dû", last_column], rows,
                         {3, 4, 5})


def render_payments(section: PaymentsSection) -> str:
    """The ``Paiements`` section of the report (HTML)."""
    parts = [
        '<p class="muted">Factures émises jusqu\'à la fin de la période, selon les encaissements enregistrés '
        "(billing.payments) ; paiements de la comptabilité non rapprochés (marts.unmatched_payments), jamais "
        "attribués au hasard.</p>",
        f'<p class="muted">Clients de la comptabilité : {section.ledger_customers[0]} rapprochés d\'un client du CRM, '
        f"{section.ledger_customers[1]} à examiner (staging.ledger_customer_exceptions).</p>",
        _invoices("Payées", "Aucune facture soldée dans la période.", section.paid, "Dernier paiement"),
        _invoices("Partiellement payées", "Aucune facture partiellement payée.", section.partly_paid,
                  "Dernier paiement"),
        _invoices("En retard", "Aucune facture échue impayée.", section.overdue, "Échéance"),
    ]
    if section.unmatched:
        rows = [[f"{u.source_system} {u.payment_id}" + (f" ligne {u.source_line}" if u.source_line else ""),
                 u.paid_on.isoformat() if u.paid_on else "—", montant(u.amount), u.currency or "",
                 u.customer_name or "", u.document_number or "", REASONS.get(u.reason_code, u.reason_code), u.reason]
                for u in section.unmatched]  # every one: each needs a person's decision
        parts.append(f"<h3>Paiements non rapprochés : {len(section.unmatched)}</h3>" + _table(
            ["Paiement", "Date", "Montant", "Devise", "Client (comptabilité)", "Document", "Motif", "Détail"],
            rows, {2}))
    else:
        parts.append('<p class="muted"><strong>Paiements non rapprochés</strong> : aucun, tous les paiements '
                     "de la comptabilité sont rapprochés.</p>")
    return f'<section id="paiements"><h2>Paiements</h2>{"".join(parts)}</section>'
