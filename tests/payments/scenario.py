"""January 2026 issued on the staged sandbox warehouse, then booked and paid in the QuickBooks sandbox.

Each case of the matching is one named payment, created through the emulator's control API after the raw
layer's first window (clock 2026-03-02 00:30), so the next daily window (day 1) extracts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle.quality.validate import validate_staging
from passerelle.transform.models import run_staging
from passerelle_dev.books import Books, IssuedInvoice, issued_invoices
from passerelle_dev.examples import load_example_billing
from passerelle_dev.samples import example_seller
from tests.connectors.helpers import extract_day

LEDGER = ["ledger_customers", "ledger_invoices", "ledger_payments"]
STREAMS = ("customers", "invoices", "credit_memos", "payments")
PAID_ON = date(2026, 2, 20)


def issue_january(conn: Any) -> list[IssuedInvoice]:
    load_example_billing(conn)
    build_billable_items(conn, date(2026, 1, 31))
    with CiiValidator() as validator:
        issue_period(conn, example_seller(), validator, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31),
                     run_id="payments-test")
    return issued_invoices(conn)


def load_books(conn: Any, sandbox: Any, day: int) -> None:
    """Extract the books' streams for daily window ``day`` and rebuild + validate the ledger staging tables."""
    for stream in STREAMS:
        extract_day(conn, sandbox, "quickbooks", stream, day)
    run_staging(conn, LEDGER)
    validate_staging(conn, f"payments-test-{day}", tables=[f"staging.{name}" for name in LEDGER])


@dataclass
class Cases:
    """The QuickBooks payment id of each case and the issued invoices it concerns."""

    payments: dict[str, str] = field(default_factory=dict)
    invoices: dict[str, list[IssuedInvoice]] = field(default_factory=dict)


def book_cases(conn: Any, sandbox: Any, invoices: list[IssuedInvoice]) -> Cases:
    control = sandbox.vendors["quickbooks"].control
    control.set_clock("2026-03-02T00:30:00Z")
    books, cases = Books(control), Cases()
    b2b = [i for i in invoices if i.buyer_siren and i.processing_rule == "B2B"]
    by_customer: dict[str, list[IssuedInvoice]] = {}
    for invoice in b2b:
        by_customer.setdefault(invoice.customer_key, []).append(invoice)
    pair = next(group[:2] for group in by_customer.values() if len(group) >= 2)
    singles = [i for i in b2b if i not in pair]
    full, partial, over, netted, wrong_customer, by_hand, deleted, later = singles[:8]

    def case(name: str, concerned: list[IssuedInvoice], payment: dict[str, Any]) -> None:
        cases.payments[name] = payment["Id"]
        cases.invoices[name] = concerned

    def customer(invoice: IssuedInvoice) -> str:
        return books.customer(invoice.buyer_name, invoice.buyer_siren)

    record = books.book(full)
    case("full", [full], books.pay(customer(full), PAID_ON, [(record, full.grand_total)]))
    record = books.book(partial)
    half = (partial.grand_total / 2).quantize(Decimal("0.01"))
    case("partial", [partial], books.pay(customer(partial), PAID_ON, [(record, half)]))
    records = [books.book(invoice) for invoice in pair]
    case("two_invoices", pair, books.pay(customer(pair[0]), PAID_ON, [(r, i.grand_total) for r, i in zip(records, pair)]))
    record = books.book(over)
    case("over", [over], books.pay(customer(over), PAID_ON, [(record, over.grand_total)],
                                   total=over.grand_total + Decimal("50.00")))
    record = books.book(netted)
    memo = books.credit_memo(customer(netted), Decimal("120.00"), "AV-2026-0007", netted.currency)
    case("netted", [netted], books.pay(customer(netted), PAID_ON, [(record, netted.grand_total),
                                                                   (memo, memo["TotalAmt"])]))
    stranger = books.customer("Entreprise Sans Rapport SARL")
    record = books.book(wrong_customer, customer_id=stranger)
    case("customer_differs", [wrong_customer], books.pay(stranger, PAID_ON, [(record, wrong_customer.grand_total)]))
    record = books.book(full, number="MS2026-009999")  # a number Passerelle never issued
    case("unknown_number", [], books.pay(customer(full), PAID_ON, [(record, full.grand_total)]))
    record = books.book(later, number="F-2026-118")  # the books' own numbering
    case("foreign_number", [], books.pay(customer(later), PAID_ON, [(record, later.grand_total)]))
    record = books.book(by_hand)  # the bank already recorded it in Passerelle: QuickBooks' payment is one too many
    with conn.cursor() as cur:
        cur.execute("INSERT INTO billing.payments (invoice_number, paid_on, amount, reference) VALUES (%s, %s, %s, %s)",
                    (by_hand.number, date(2026, 2, 18), by_hand.grand_total, "relevé bancaire"))
    conn.commit()
    case("exceeds_due", [by_hand], books.pay(customer(by_hand), PAID_ON, [(record, by_hand.grand_total)]))
    case("unapplied", [], books.pay(customer(full), PAID_ON, [], total=Decimal("310.00"),
                                    note=f"Virement reçu pour la facture {later.number}"))
    record = books.book(deleted)
    case("deleted_later", [deleted], books.pay(customer(deleted), PAID_ON, [(record, deleted.grand_total)]))
    return cases
