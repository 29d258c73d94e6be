"""Issued invoices to and from the marts: ``save`` writes every table of one invoice, ``load`` reads it back.

The marts are the record BI tools query and the documents are rendered from; ``load(save(x)) == x`` so a
rerun re-renders byte-identical content and a credit note copies exactly what was invoiced.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.invoicing.amounts import Computed, allowance_amount
from passerelle.invoicing.model import (
    AllowanceCharge, Exemption, Invoice, InvoiceLine, Note, Party, PostalAddress, PrecedingInvoice, ProcessingRule,
    VatCategory, VatPoint,
)

INVOICE_COLUMNS = (
    "invoice_number", "invoice_key", "type_code", "issue_date", "currency", "tax_currency", "eur_per_unit", "profile",
    "business_process", "vat_point", "due_date", "payment_terms", "processing_rule", "customer_key",
    "seller_name", "seller_siren", "seller_siret", "seller_vat_number", "seller_electronic_address", "seller_address",
    "buyer_name", "buyer_siren", "buyer_siret", "buyer_vat_number", "buyer_electronic_address",
    "buyer_electronic_scheme", "buyer_address", "buyer_country_code", "delivery_date", "delivery_address",
    "period_start", "period_end", "payment_means_code", "iban", "bic", "preceding_number", "preceding_issue_date",
    "notes", "exemptions", "line_total", "allowance_total", "charge_total", "tax_basis_total", "tax_total",
    "tax_total_eur", "grand_total", "prepaid_amount", "rounding_amount", "due_payable", "billing_period_start",
    "billing_period_end", "status", "run_id",
)
LINE_COLUMNS = ("invoice_number", "line_id", "item_name", "description", "seller_item_id", "quantity", "unit_code",
                "net_price", "net_amount", "vat_category", "vat_rate", "is_goods", "period_start", "period_end",
                "item_count")
AC_COLUMNS = ("invoice_number", "line_id", "position", "is_charge", "amount", "base_amount", "percent", "reason",
              "reason_code", "vat_category", "vat_rate")


def save(cur: Any, invoice: Invoice, computed: Computed, *, invoice_key: str, customer_key: str | None, status: str,
         run_id: str, billing_period: tuple[date, date] | None = None,
         item_counts: dict[str, int] | None = None) -> None:
    t = computed.totals
    preceding = invoice.preceding[0] if invoice.preceding else None
    exemptions = [{"category": cat.value, "rate": _text(rate), "reason": ex.reason, "code": ex.code}
                  for (cat, rate), ex in invoice.exemptions.items()]
    row = (
        invoice.number, invoice_key, invoice.type_code, invoice.issue_date, invoice.currency, invoice.tax_currency,
        invoice.eur_per_unit, invoice.profile, invoice.business_process, invoice.vat_point.value, invoice.due_date,
        invoice.payment_terms, invoice.processing_rule.value, customer_key,
        invoice.seller.name, invoice.seller.siren, invoice.seller.siret, invoice.seller.vat_number,
        invoice.seller.electronic_address, _address(invoice.seller.address),
        invoice.buyer.name, invoice.buyer.siren, invoice.buyer.siret, invoice.buyer.vat_number,
        invoice.buyer.electronic_address, invoice.buyer.electronic_address_scheme, _address(invoice.buyer.address),
        invoice.buyer.address.country_code, invoice.delivery_date,
        _address(invoice.delivery_address) if invoice.delivery_address else None,
        invoice.period_start, invoice.period_end, invoice.payment_means_code, invoice.iban, invoice.bic,
        preceding.number if preceding else None, preceding.issue_date if preceding else None,
        json.dumps([{"subject": n.subject, "text": n.text} for n in invoice.notes], ensure_ascii=False),
        json.dumps(exemptions, ensure_ascii=False),
        t.line_total, t.allowance_total, t.charge_total, t.tax_basis_total, t.tax_total, t.tax_total_eur,
        t.grand_total, t.prepaid, t.rounding, t.due_payable,
        billing_period[0] if billing_period else None, billing_period[1] if billing_period else None, status, run_id,
    )
    cur.execute(f"INSERT INTO marts.invoices ({', '.join(INVOICE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(row))})",
                row)
    counts = item_counts or {}
    lines = [(invoice.number, line.line_id, line.item_name, line.description, line.seller_item_id, line.quantity,
              line.unit_code, line.net_price, net, line.vat_category.value, line.vat_rate, line.is_goods,
              line.period_start, line.period_end, counts.get(line.line_id, 1))
             for line, net in zip(invoice.lines, computed.line_nets)]
    cur.executemany(f"INSERT INTO marts.invoice_lines ({', '.join(LINE_COLUMNS)})"
                    f" VALUES ({', '.join(['%s'] * len(LINE_COLUMNS))})", lines)
    charges = [_ac_row(invoice.number, None, position, item) for position, item in enumerate(invoice.allowances_charges)]
    for line in invoice.lines:
        charges += [_ac_row(invoice.number, line.line_id, position, item)
                    for position, item in enumerate(line.allowances_charges)]
    cur.executemany(f"INSERT INTO marts.invoice_allowances_charges ({', '.join(AC_COLUMNS)})"
                    f" VALUES ({', '.join(['%s'] * len(AC_COLUMNS))})", charges)
    cur.executemany(
        "INSERT INTO marts.invoice_vat_breakdown (invoice_number, vat_category, vat_rate, taxable_amount, tax_amount,"
        " exemption_reason, exemption_code) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [(invoice.number, b.category.value, b.rate, b.taxable_amount, b.tax_amount,
          b.exemption.reason if b.exemption else None, b.exemption.code if b.exemption else None)
         for b in computed.vat_breakdown],
    )


def load(cur: Any, invoice_number: str) -> Invoice:
    cur.execute(f"SELECT {', '.join(INVOICE_COLUMNS)} FROM marts.invoices WHERE invoice_number = %s", (invoice_number,))
    found = cur.fetchone()
    if found is None:
        raise LookupError(f"invoice {invoice_number!r} is not in marts.invoices")
    h = dict(zip(INVOICE_COLUMNS, found))
    cur.execute(f"SELECT {', '.join(AC_COLUMNS)} FROM marts.invoice_allowances_charges WHERE invoice_number = %s"
                " ORDER BY line_id NULLS FIRST, position", (invoice_number,))
    charges: dict[str | None, list[AllowanceCharge]] = {}
    for row in cur.fetchall():
        r = dict(zip(AC_COLUMNS, row))
        charges.setdefault(r["line_id"], []).append(AllowanceCharge(
            r["is_charge"], r["amount"], r["reason"], r["reason_code"], r["base_amount"],
            _normal(r["percent"]), VatCategory(r["vat_category"]) if r["vat_category"] else None,
            _normal(r["vat_rate"])))
    cur.execute(f"SELECT {', '.join(LINE_COLUMNS)} FROM marts.invoice_lines WHERE invoice_number = %s"
                " ORDER BY length(line_id), line_id", (invoice_number,))
    lines = []
    for row in cur.fetchall():
        r = dict(zip(LINE_COLUMNS, row))
        lines.append(InvoiceLine(
            r["line_id"], r["item_name"], _normal(r["quantity"]), r["unit_code"], _normal(r["net_price"]),
            VatCategory(r["vat_category"]), _normal(r["vat_rate"]), description=r["description"],
            seller_item_id=r["seller_item_id"], allowances_charges=tuple(charges.get(r["line_id"], ())),
            period_start=r["period_start"], period_end=r["period_end"], is_goods=r["is_goods"]))
    exemptions = {(VatCategory(e["category"]), Decimal(e["rate"]) if e["rate"] is not None else None):
                  Exemption(e["reason"], e["code"]) for e in h["exemptions"]}
    preceding = ((PrecedingInvoice(h["preceding_number"], h["preceding_issue_date"]),)
                 if h["preceding_number"] else ())
    return Invoice(
        number=h["invoice_number"], issue_date=h["issue_date"], type_code=h["type_code"], currency=h["currency"],
        seller=Party(h["seller_name"], _postal(h["seller_address"]), siren=h["seller_siren"], siret=h["seller_siret"],
                     vat_number=h["seller_vat_number"], electronic_address=h["seller_electronic_address"]),
        buyer=Party(h["buyer_name"], _postal(h["buyer_address"]), siren=h["buyer_siren"], siret=h["buyer_siret"],
                    vat_number=h["buyer_vat_number"], electronic_address=h["buyer_electronic_address"],
                    electronic_address_scheme=h["buyer_electronic_scheme"] or "0225"),
        lines=tuple(lines), processing_rule=ProcessingRule(h["processing_rule"]), vat_point=VatPoint(h["vat_point"]),
        due_date=h["due_date"], payment_terms=h["payment_terms"],
        notes=tuple(Note(n["subject"], n["text"]) for n in h["notes"]), profile=h["profile"],
        business_process=h["business_process"], allowances_charges=tuple(charges.get(None, ())),
        exemptions=exemptions, eur_per_unit=_normal(h["eur_per_unit"]), period_start=h["period_start"],
        period_end=h["period_end"], delivery_date=h["delivery_date"],
        delivery_address=_postal(h["delivery_address"]) if h["delivery_address"] else None,
        payment_means_code=h["payment_means_code"], iban=h["iban"], bic=h["bic"], preceding=preceding,
        prepaid_amount=h["prepaid_amount"], rounding_amount=h["rounding_amount"],
    )


def _address(address: PostalAddress) -> str:
    return json.dumps({"street": address.street, "postcode": address.postcode, "city": address.city,
                       "country_code": address.country_code}, ensure_ascii=False)


def _postal(data: dict[str, Any]) -> PostalAddress:
    return PostalAddress(data.get("street"), data.get("postcode"), data.get("city"), data["country_code"])


def _ac_row(number: str, line_id: str | None, position: int, item: AllowanceCharge) -> tuple:
    return (number, line_id, position, item.is_charge, allowance_amount(item), item.base_amount, item.percent, item.reason,
            item.reason_code, item.vat_category.value if item.vat_category else None, item.vat_rate)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _normal(value: Decimal | None) -> Decimal | None:
    """NUMERIC columns pad scale (20.00, 1.5000); the model keeps values as written, minus trailing zeros."""
    if value is None:
        return None
    normal = value.normalize()
    return normal if normal.as_tuple().exponent <= 0 else normal.quantize(Decimal(1))
