"""Issued invoices to and from the marts: ``save`` writes every table of one invoice, ``load`` reads it back.

The marts are the record BI tools query, and credit notes and re-rendered documents are built from them, so
``load(save(x)) == x``: every field of the model has a column (JSON only for the BG-1 notes, the addresses and
the exemptions), and a rerun renders the same CII and UBL as the invoice issued.

Decimals come back equal in value and in one documented form, whatever scale they were written with:

* money (allowance/charge base, prepaid BT-113, rounding BT-114) with two decimals, as the documents print it;
* quantities, prices, rates, percentages and the exchange rate without trailing zeros (:func:`_normal`);
* the stated allowance/charge amount and the exemption keys' rates exactly as written (scale kept).

A value with more decimals than its column keeps is refused (:class:`StoreError`) rather than rounded by
Postgres: the stored invoice would no longer be the one issued.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.errors import PasserelleError
from passerelle.einvoice.amounts import Computed, allowance_amount
from passerelle.einvoice.model import (
    AllowanceCharge, Exemption, Invoice, InvoiceLine, Note, Party, PostalAddress, PrecedingInvoice, ProcessingRule,
    VatCategory, VatPoint,
)

DEFAULT_SCHEME = "0225"

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
    "buyer_reference", "project_reference", "contract_reference", "purchase_order", "payment_reference",
    "delivery_name", "seller_trading_name", "seller_email", "seller_electronic_scheme", "buyer_trading_name",
    "buyer_email",
)
LINE_COLUMNS = ("invoice_number", "line_id", "item_name", "description", "seller_item_id", "quantity", "unit_code",
                "net_price", "net_amount", "vat_category", "vat_rate", "is_goods", "period_start", "period_end",
                "item_count", "note", "position")
AC_COLUMNS = ("invoice_number", "line_id", "position", "is_charge", "amount", "base_amount", "percent", "reason",
              "reason_code", "vat_category", "vat_rate", "amount_given")
PRECEDING_COLUMNS = ("invoice_number", "position", "preceding_number", "preceding_issue_date")

# Decimals each NUMERIC(p, s) column keeps (0005_invoicing); more would be rounded away silently.
MONEY, QUANTITY, PRICE, RATE, PERCENT, EXCHANGE = 2, 4, 6, 2, 4, 6


class StoreError(PasserelleError):
    """The invoice holds a value its column cannot keep exactly; the message names the invoice and the field."""


def save(cur: Any, invoice: Invoice, computed: Computed, *, invoice_key: str, customer_key: str | None, status: str,
         run_id: str, billing_period: tuple[date, date] | None = None,
         item_counts: dict[str, int] | None = None) -> None:
    """Write ``invoice`` and its lines, allowances/charges, preceding invoices and VAT breakdown (no commit)."""
    _check_scales(invoice)
    t = computed.totals
    seller, buyer = invoice.seller, invoice.buyer
    first = invoice.preceding[0] if invoice.preceding else None
    exemptions = [{"category": cat.value, "rate": _text(rate), "reason": ex.reason, "code": ex.code}
                  for (cat, rate), ex in invoice.exemptions.items()]
    header = {
        "invoice_number": invoice.number, "invoice_key": invoice_key, "type_code": invoice.type_code,
        "issue_date": invoice.issue_date, "currency": invoice.currency, "tax_currency": invoice.tax_currency,
        "eur_per_unit": invoice.eur_per_unit, "profile": invoice.profile,
        "business_process": invoice.business_process, "vat_point": invoice.vat_point.value,
        "due_date": invoice.due_date, "payment_terms": invoice.payment_terms,
        "processing_rule": invoice.processing_rule.value, "customer_key": customer_key,
        "seller_name": seller.name, "seller_siren": seller.siren, "seller_siret": seller.siret,
        "seller_vat_number": seller.vat_number, "seller_electronic_address": seller.electronic_address,
        "seller_electronic_scheme": seller.electronic_address_scheme, "seller_address": _address(seller.address),
        "seller_trading_name": seller.trading_name, "seller_email": seller.email,
        "buyer_name": buyer.name, "buyer_siren": buyer.siren, "buyer_siret": buyer.siret,
        "buyer_vat_number": buyer.vat_number, "buyer_electronic_address": buyer.electronic_address,
        "buyer_electronic_scheme": buyer.electronic_address_scheme, "buyer_address": _address(buyer.address),
        "buyer_country_code": buyer.address.country_code, "buyer_trading_name": buyer.trading_name,
        "buyer_email": buyer.email,
        "buyer_reference": invoice.buyer_reference, "project_reference": invoice.project_reference,
        "contract_reference": invoice.contract_reference, "purchase_order": invoice.purchase_order,
        "payment_reference": invoice.payment_reference,
        "delivery_date": invoice.delivery_date, "delivery_name": invoice.delivery_name,
        "delivery_address": _address(invoice.delivery_address) if invoice.delivery_address else None,
        "period_start": invoice.period_start, "period_end": invoice.period_end,
        "payment_means_code": invoice.payment_means_code, "iban": invoice.iban, "bic": invoice.bic,
        "preceding_number": first.number if first else None,
        "preceding_issue_date": first.issue_date if first else None,
        "notes": json.dumps([{"subject": n.subject, "text": n.text} for n in invoice.notes], ensure_ascii=False),
        "exemptions": json.dumps(exemptions, ensure_ascii=False),
        "line_total": t.line_total, "allowance_total": t.allowance_total, "charge_total": t.charge_total,
        "tax_basis_total": t.tax_basis_total, "tax_total": t.tax_total, "tax_total_eur": t.tax_total_eur,
        "grand_total": t.grand_total, "prepaid_amount": t.prepaid, "rounding_amount": t.rounding,
        "due_payable": t.due_payable,
        "billing_period_start": billing_period[0] if billing_period else None,
        "billing_period_end": billing_period[1] if billing_period else None, "status": status, "run_id": run_id,
    }
    _insert(cur, "marts.invoices", INVOICE_COLUMNS, [tuple(header[name] for name in INVOICE_COLUMNS)])
    counts = item_counts or {}
    _insert(cur, "marts.invoice_lines", LINE_COLUMNS, [
        (invoice.number, line.line_id, line.item_name, line.description, line.seller_item_id, line.quantity,
         line.unit_code, line.net_price, net, line.vat_category.value, line.vat_rate, line.is_goods,
         line.period_start, line.period_end, counts.get(line.line_id, 1), line.note, position)
        for position, (line, net) in enumerate(zip(invoice.lines, computed.line_nets), start=1)])
    charges = [_ac_row(invoice.number, None, position, item)
               for position, item in enumerate(invoice.allowances_charges)]
    for line in invoice.lines:
        charges += [_ac_row(invoice.number, line.line_id, position, item)
                    for position, item in enumerate(line.allowances_charges)]
    _insert(cur, "marts.invoice_allowances_charges", AC_COLUMNS, charges)
    _insert(cur, "marts.invoice_preceding_invoices", PRECEDING_COLUMNS,
            [(invoice.number, position, ref.number, ref.issue_date)
             for position, ref in enumerate(invoice.preceding, start=1)])
    cur.executemany(
        "INSERT INTO marts.invoice_vat_breakdown (invoice_number, vat_category, vat_rate, taxable_amount, tax_amount,"
        " exemption_reason, exemption_code) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [(invoice.number, b.category.value, b.rate, b.taxable_amount, b.tax_amount,
          b.exemption.reason if b.exemption else None, b.exemption.code if b.exemption else None)
         for b in computed.vat_breakdown],
    )


def load(cur: Any, invoice_number: str) -> Invoice:
    """The invoice as issued (see the module docstring for the form Decimals come back in)."""
    cur.execute(f"SELECT {', '.join(INVOICE_COLUMNS)} FROM marts.invoices WHERE invoice_number = %s", (invoice_number,))
    found = cur.fetchone()
    if found is None:
        raise LookupError(f"invoice {invoice_number!r} is not in marts.invoices")
    h = dict(zip(INVOICE_COLUMNS, found))
    charges = _load_charges(cur, invoice_number)
    cur.execute(f"SELECT {', '.join(LINE_COLUMNS)} FROM marts.invoice_lines WHERE invoice_number = %s"
                " ORDER BY position NULLS LAST, length(line_id), line_id", (invoice_number,))
    lines = []
    for row in cur.fetchall():
        r = dict(zip(LINE_COLUMNS, row))
        lines.append(InvoiceLine(
            r["line_id"], r["item_name"], _normal(r["quantity"]), r["unit_code"], _normal(r["net_price"]),
            VatCategory(r["vat_category"]), _normal(r["vat_rate"]), description=r["description"],
            seller_item_id=r["seller_item_id"], allowances_charges=tuple(charges.get(r["line_id"], ())),
            period_start=r["period_start"], period_end=r["period_end"], is_goods=r["is_goods"], note=r["note"]))
    exemptions = {(VatCategory(e["category"]), Decimal(e["rate"]) if e["rate"] is not None else None):
                  Exemption(e["reason"], e["code"]) for e in h["exemptions"]}
    cur.execute(f"SELECT {', '.join(PRECEDING_COLUMNS)} FROM marts.invoice_preceding_invoices"
                " WHERE invoice_number = %s ORDER BY position", (invoice_number,))
    preceding = tuple(PrecedingInvoice(number, issued) for _, _, number, issued in cur.fetchall())
    if not preceding and h["preceding_number"]:  # a row written without the BG-3 table
        preceding = (PrecedingInvoice(h["preceding_number"], h["preceding_issue_date"]),)
    return Invoice(
        number=h["invoice_number"], issue_date=h["issue_date"], type_code=h["type_code"], currency=h["currency"],
        seller=_party(h, "seller"), buyer=_party(h, "buyer"),
        lines=tuple(lines), processing_rule=ProcessingRule(h["processing_rule"]), vat_point=VatPoint(h["vat_point"]),
        due_date=h["due_date"], payment_terms=h["payment_terms"],
        notes=tuple(Note(n["subject"], n["text"]) for n in h["notes"]), profile=h["profile"],
        business_process=h["business_process"], allowances_charges=tuple(charges.get(None, ())),
        exemptions=exemptions, eur_per_unit=_normal(h["eur_per_unit"]),
        buyer_reference=h["buyer_reference"], purchase_order=h["purchase_order"],
        contract_reference=h["contract_reference"], project_reference=h["project_reference"],
        period_start=h["period_start"], period_end=h["period_end"], delivery_date=h["delivery_date"],
        delivery_address=_postal(h["delivery_address"]) if h["delivery_address"] else None,
        delivery_name=h["delivery_name"], payment_means_code=h["payment_means_code"], iban=h["iban"], bic=h["bic"],
        payment_reference=h["payment_reference"], preceding=preceding,
        prepaid_amount=h["prepaid_amount"], rounding_amount=h["rounding_amount"],
    )


def _load_charges(cur: Any, invoice_number: str) -> dict[str | None, list[AllowanceCharge]]:
    """Allowances and charges by line id (None: document level), in document order."""
    cur.execute(f"SELECT {', '.join(AC_COLUMNS)} FROM marts.invoice_allowances_charges WHERE invoice_number = %s"
                " ORDER BY line_id NULLS FIRST, position", (invoice_number,))
    charges: dict[str | None, list[AllowanceCharge]] = {}
    for row in cur.fetchall():
        r = dict(zip(AC_COLUMNS, row))
        charges.setdefault(r["line_id"], []).append(AllowanceCharge(
            r["is_charge"], r["amount_given"] if r["amount_given"] is not None else r["amount"], r["reason"],
            r["reason_code"], r["base_amount"], _normal(r["percent"]),
            VatCategory(r["vat_category"]) if r["vat_category"] else None, _normal(r["vat_rate"])))
    return charges


def _party(h: dict[str, Any], role: str) -> Party:
    return Party(h[f"{role}_name"], _postal(h[f"{role}_address"]), siren=h[f"{role}_siren"],
                 siret=h[f"{role}_siret"], vat_number=h[f"{role}_vat_number"],
                 electronic_address=h[f"{role}_electronic_address"],
                 electronic_address_scheme=h[f"{role}_electronic_scheme"] or DEFAULT_SCHEME,
                 trading_name=h[f"{role}_trading_name"], email=h[f"{role}_email"])


def _insert(cur: Any, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if rows:
        cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                        rows)


def _check_scales(invoice: Invoice) -> None:
    """Refuse what NUMERIC(p, s) would round: the record must be the invoice issued, not a neighbour of it."""
    values: list[tuple[str, Decimal | None, int]] = [
        ("eur_per_unit", invoice.eur_per_unit, EXCHANGE), ("prepaid_amount (BT-113)", invoice.prepaid_amount, MONEY),
        ("rounding_amount (BT-114)", invoice.rounding_amount, MONEY)]
    items = [("document", item) for item in invoice.allowances_charges]
    for line in invoice.lines:
        values += [(f"line {line.line_id} quantity (BT-129)", line.quantity, QUANTITY),
                   (f"line {line.line_id} net_price (BT-146)", line.net_price, PRICE),
                   (f"line {line.line_id} vat_rate (BT-152)", line.vat_rate, RATE)]
        items += [(f"line {line.line_id}", item) for item in line.allowances_charges]
    for where, item in items:
        values += [(f"{where} allowance/charge {item.reason!r} base_amount", item.base_amount, MONEY),
                   (f"{where} allowance/charge {item.reason!r} percent", item.percent, PERCENT),
                   (f"{where} allowance/charge {item.reason!r} vat_rate", item.vat_rate, RATE)]
    for name, value, scale in values:
        if value is not None and value != value.quantize(Decimal(1).scaleb(-scale)):
            raise StoreError(f"invoice {invoice.number}: {name} = {value} has more than {scale} decimals, "
                             "which the warehouse cannot keep")


def _address(address: PostalAddress) -> str:
    return json.dumps({"street": address.street, "postcode": address.postcode, "city": address.city,
                       "country_code": address.country_code}, ensure_ascii=False)


def _postal(data: dict[str, Any]) -> PostalAddress:
    return PostalAddress(data.get("street"), data.get("postcode"), data.get("city"), data["country_code"])


def _ac_row(number: str, line_id: str | None, position: int, item: AllowanceCharge) -> tuple:
    return (number, line_id, position, item.is_charge, allowance_amount(item), item.base_amount, item.percent,
            item.reason, item.reason_code, item.vat_category.value if item.vat_category else None, item.vat_rate,
            item.amount)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _normal(value: Decimal | None) -> Decimal | None:
    """NUMERIC columns pad scale (20.00, 1.5000); the model keeps values as written, minus trailing zeros."""
    if value is None:
        return None
    normal = value.normalize()
    return normal if normal.as_tuple().exponent <= 0 else normal.quantize(Decimal(1))
