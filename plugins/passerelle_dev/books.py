"""Keep the books of issued invoices in the QuickBooks sandbox, as a bookkeeper would (demo and tests).

The bookkeeper types each issued invoice into QuickBooks under its number (``DocNumber`` = BT-1), for the
customer the books already know by that name (the CRM companies are there) or a new one with the SIREN in
its notes, one line per VAT rate so QuickBooks computes the same total; then records the money received as
QuickBooks payments. Everything goes through the sandbox's control API, as data the emulator then serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.warehouse.ddl import normalise

ITEM_FOR_RATE = {Decimal("20"): "1", Decimal("10"): "11", Decimal("5.5"): "12", Decimal("2.1"): "15",
                 Decimal("0"): "9"}
"""A catalogue item of the sandbox's books at each French VAT rate (``dataset_refdata.CATALOGUE`` order)."""


@dataclass(frozen=True)
class IssuedInvoice:
    number: str
    customer_key: str | None
    buyer_name: str
    buyer_siren: str | None
    issue_date: date
    due_date: date
    currency: str
    grand_total: Decimal
    due_payable: Decimal
    processing_rule: str
    vat_point: str
    taxable_by_rate: tuple[tuple[Decimal, Decimal], ...]


def issued_invoices(conn: Any) -> list[IssuedInvoice]:
    """The invoices (type 380) in ``marts.invoices``, oldest number first."""
    with conn.cursor() as cur:
        cur.execute("""
            SELECT i.invoice_number, i.customer_key, i.buyer_name, i.buyer_siren, i.issue_date, i.due_date,
                   i.currency, i.grand_total, i.due_payable, i.processing_rule, i.vat_point,
                   array_agg(ARRAY[coalesce(b.vat_rate, 0), b.taxable_amount] ORDER BY b.vat_rate)
              FROM marts.invoices i JOIN marts.invoice_vat_breakdown b USING (invoice_number)
             WHERE i.type_code = '380' GROUP BY i.invoice_number ORDER BY i.invoice_number""")
        found = cur.fetchall()
    conn.rollback()
    invoices = []
    for *head, rates in found:
        merged: dict[Decimal, Decimal] = {}
        for rate, taxable in rates:  # exempt, reverse-charge and zero-rated lines share the 0 % item
            merged[rate] = merged.get(rate, Decimal("0")) + taxable
        invoices.append(IssuedInvoice(*head, taxable_by_rate=tuple(sorted(merged.items()))))
    return invoices


class Books:
    """The QuickBooks sandbox's books, through its control client (``sandbox.vendors["quickbooks"].control``)."""

    def __init__(self, control: Any) -> None:
        self.control = control
        self.customers = {normalise(c["DisplayName"]): c["Id"] for c in control.records("Customer") if c["Active"]}
        self.booked: dict[str, dict[str, Any]] = {}

    def customer(self, name: str, siren: str | None = None) -> str:
        """The id of the active customer of that name, created (SIREN in the notes) when the books lack it."""
        key = normalise(name)
        if key not in self.customers:
            fields: dict[str, Any] = {"DisplayName": name, "CompanyName": name if siren else None}
            if siren:
                fields["Notes"] = f"SIREN {siren[:3]} {siren[3:6]} {siren[6:]}"
            self.customers[key] = self.control.create("Customer", {k: v for k, v in fields.items() if v})["id"]
        return self.customers[key]

    def book(self, invoice: IssuedInvoice, *, customer_id: str | None = None, number: str | None = None) -> dict[str, Any]:
        """Type ``invoice`` into the books (under another customer or number when given); the created record."""
        lines = [{"ItemRef": ITEM_FOR_RATE[rate], "Qty": 1, "UnitPrice": str(taxable),
                  "Description": f"Facture {invoice.number}, TVA {rate} %"}
                 for rate, taxable in invoice.taxable_by_rate if taxable]
        record = self.control.create("Invoice", {
            "CustomerRef": customer_id or self.customer(invoice.buyer_name, invoice.buyer_siren),
            "DocNumber": number or invoice.number, "TxnDate": invoice.issue_date.isoformat(),
            "DueDate": invoice.due_date.isoformat(), "Line": lines, "CurrencyRef": {"value": invoice.currency}})["record"]
        self.booked[record["DocNumber"]] = record
        return record

    def credit_memo(self, customer_id: str, amount: Decimal, number: str, currency: str = "EUR") -> dict[str, Any]:
        """A credit memo of ``amount`` (VAT included, at 20 %) for the customer."""
        net = (amount / Decimal("1.2")).quantize(Decimal("0.01"))
        return self.control.create("CreditMemo", {"CustomerRef": customer_id, "DocNumber": number,
                                                  "CurrencyRef": {"value": currency}, "Line": [
            {"ItemRef": ITEM_FOR_RATE[Decimal("20")], "Qty": 1, "UnitPrice": str(net), "Description": "Avoir"}]})["record"]

    def pay(self, customer_id: str, paid_on: date, lines: list[tuple[dict[str, Any], Decimal]],
            total: Decimal | None = None, note: str | None = None) -> dict[str, Any]:
        """A payment applying ``(document record, amount)`` lines; ``total`` defaults to the invoices less credits."""
        lines = [(record, Decimal(str(amount))) for record, amount in lines]  # the control client reads floats
        applied = [{"Amount": str(amount), "LinkedTxn": [{"TxnId": record["Id"],
                                                          "TxnType": "Invoice" if "DueDate" in record else "CreditMemo"}]}
                   for record, amount in lines]
        if total is None:
            total = sum((amount if "DueDate" in record else -amount for record, amount in lines), Decimal("0"))
        currency = dict(lines[0][0]["CurrencyRef"]) if lines else {"value": "EUR", "name": "Euro"}
        fields: dict[str, Any] = {"CustomerRef": customer_id, "TxnDate": paid_on.isoformat(), "Line": applied,
                                  "CurrencyRef": currency,
                                  "TotalAmt": str(total), "PaymentRefNum": f"VIR-{paid_on:%m%d}-{len(applied)}"}
        if note:
            fields["PrivateNote"] = note
        return self.control.create("Payment", fields)["record"]
