"""An :class:`Invoice` as the BT-keyed dictionary ``facturx.generate_xml`` turns into CII or UBL.

One mapping serves both syntaxes, so a CII and a UBL rendering of the same invoice cannot drift apart.
Every amount comes from :func:`passerelle.einvoice.amounts.compute` (or, for a line allowance, from
the same :func:`~passerelle.einvoice.amounts.allowance_amount` that ``compute`` uses): the documents
print the warehouse's arithmetic, they never redo it. Values are strings because ``factur-x`` would
format floats itself; Decimals are written as they are, with two decimals for money.

The dictionary is consumed (``factur-x`` edits it in place), so build a fresh one for every rendering.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from passerelle.errors import PasserelleError
from passerelle.einvoice.amounts import Computed, VatBreakdown, allowance_amount, compute
from passerelle.einvoice.model import AllowanceCharge, Invoice, InvoiceLine, Party, PostalAddress

SIRET_SCHEME = "0009"  # BT-29 / BT-46
SIREN_SCHEME = "0002"  # BT-30 / BT-47


class InvoiceDataError(PasserelleError):
    """The invoice lacks something every rendering needs; the message names the invoice and the field."""


def data_dict(invoice: Invoice, computed: Computed | None = None) -> dict[str, Any]:
    """The ``generate_xml`` input for ``invoice``; ``computed`` defaults to ``compute(invoice)``."""
    computed = computed or compute(invoice)
    if invoice.delivery_date is None and invoice.delivery_address is None:
        # factur-x 7.8 would write a nil ApplicableHeaderTradeDelivery, which the CII XSD rejects.
        raise InvoiceDataError(f"invoice {invoice.number}: delivery_date (BT-72) or delivery_address (BG-15) "
                               "is required")
    totals = computed.totals
    data: dict[str, Any] = {
        "BT-1": invoice.number,
        "BT-2": invoice.issue_date,
        "BT-3": invoice.type_code,
        "BT-5": invoice.currency,
        "BT-8": invoice.vat_point.value,
        "BT-20": invoice.payment_terms,
        "BT-23": invoice.business_process,
        "BT-24": invoice.profile,
        "BG-1": [{"BT-21": note.subject, "BT-22": note.text} for note in invoice.notes]
        + [{"BT-21": "BAR", "BT-22": invoice.processing_rule.value}],
        "BG-4": _party(invoice.seller),
        "BG-7": _party(invoice.buyer),
        "BT-81": invoice.payment_means_code,
        "BG-23": [_vat_row(row) for row in computed.vat_breakdown],
        "BG-25": [_line(line, net) for line, net in zip(invoice.lines, computed.line_nets)],
        "BT-106": _money(totals.line_total),
        "BT-109": _money(totals.tax_basis_total),
        "BT-110": _money(totals.tax_total),
        "BT-112": _money(totals.grand_total),
        "BT-115": _money(totals.due_payable),
    }
    optional = {
        "BT-6": invoice.tax_currency,
        # A credit note is not payable: no due date; BT-20 states how it is settled (BR-CO-25: BT-9 or BT-20).
        "BT-9": None if invoice.is_credit_note else invoice.due_date,
        "BT-10": invoice.buyer_reference,
        "BT-11": invoice.project_reference,
        "BT-12": invoice.contract_reference,
        "BT-13": invoice.purchase_order,
        "BT-72": invoice.delivery_date,
        "BT-73": invoice.period_start,
        "BT-74": invoice.period_end,
        "BT-83": invoice.payment_reference,
        "BT-84": "".join(invoice.iban.split()) if invoice.iban else None,
        "BT-86": invoice.bic,
        "BT-111": _money(totals.tax_total_eur) if totals.tax_total_eur is not None else None,
        "BT-113": _money(totals.prepaid) if totals.prepaid else None,
        "BT-114": _money(totals.rounding) if totals.rounding else None,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    if invoice.delivery_address is not None:
        # factur-x needs BT-70 for a CII ship-to party; without one the goods go to the buyer.
        data["BG-13"] = {"name": invoice.delivery_name or invoice.buyer.name} | _address(invoice.delivery_address)
    if invoice.preceding:
        data["BG-3"] = [{"BT-25": ref.number, "BT-26": ref.issue_date} for ref in invoice.preceding]
    allowances = [item for item in invoice.allowances_charges if not item.is_charge]
    charges = [item for item in invoice.allowances_charges if item.is_charge]
    if allowances:
        data["BG-20"] = [_document_allowance(invoice, item) for item in allowances]
        data["BT-107"] = _money(totals.allowance_total)
    if charges:
        data["BG-21"] = [_document_allowance(invoice, item) for item in charges]
        data["BT-108"] = _money(totals.charge_total)
    return data


def _party(party: Party) -> dict[str, Any]:
    """BG-4 / BG-7: SIRET as a 0009 global id, SIREN as the 0002 legal id, VAT, electronic address."""
    result: dict[str, Any] = {"name": party.name} | _address(party.address)
    if party.siret:
        result["identifiers"] = {SIRET_SCHEME: party.siret}
    if party.siren:
        result["legal_identifier"] = party.siren
        result["legal_identifier_schemeid"] = SIREN_SCHEME
    if party.vat_number:
        result["vat_identifier"] = party.vat_number
    if party.electronic_address:
        result["einvoicing_addr"] = party.electronic_address
        result["einvoicing_addr_schemeid"] = party.electronic_address_scheme
    if party.trading_name:
        result["biz_name"] = party.trading_name
    if party.email:
        result["contacts"] = [{"email": party.email}]
    return result


def _address(address: PostalAddress) -> dict[str, str]:
    fields = {"addr_l1": address.street, "postcode": address.postcode, "city": address.city,
              "country_code": address.country_code}
    return {key: value for key, value in fields.items() if value}


def _line(line: InvoiceLine, net: Decimal) -> dict[str, Any]:
    """BG-25 with its allowances (BG-27) and charges (BG-28); the line's VAT applies to them."""
    result: dict[str, Any] = {
        "BT-126": line.line_id,
        "BT-129": _number(line.quantity),
        "BT-130": line.unit_code,
        "BT-131": _money(net),
        "BT-146": _price(line.net_price),
        "BT-151": line.vat_category.value,
        "BT-153": line.item_name,
    }
    optional = {
        "BT-152": _number(line.vat_rate) if line.vat_rate is not None else None,
        "BT-154": line.description,
        "BT-155": line.seller_item_id,
        "BT-134": line.period_start,
        "BT-135": line.period_end,
    }
    result.update({key: value for key, value in optional.items() if value is not None})
    if line.note:
        result["BT-127-00"] = [{"BT-127": line.note}]
    allowances = [_allowance(item) for item in line.allowances_charges if not item.is_charge]
    charges = [_allowance(item) for item in line.allowances_charges if item.is_charge]
    if allowances:
        result["BG-27"] = allowances
    if charges:
        result["BG-28"] = charges
    return result


def _allowance(item: AllowanceCharge) -> dict[str, str]:
    """BT-136..140 / BT-141..145 (and the document-level BT-92..98 / BT-99..105 without the VAT)."""
    result = {"amount": _money(allowance_amount(item)), "reason": item.reason}
    if item.percent is not None and item.base_amount is not None:
        result["base_amount"] = _money(item.base_amount)
        result["rate"] = _number(item.percent)
    if item.reason_code:
        result["reason_code"] = item.reason_code
    return result


def _document_allowance(invoice: Invoice, item: AllowanceCharge) -> dict[str, str]:
    if item.vat_category is None:
        raise InvoiceDataError(f"invoice {invoice.number}: document-level allowance/charge {item.reason!r} "
                               "has no VAT category (BT-95/BT-102)")
    result = _allowance(item) | {"vat_category_code": item.vat_category.value}
    if item.vat_rate is not None:
        result["vat_rate"] = _number(item.vat_rate)
    return result


def _vat_row(row: VatBreakdown) -> dict[str, str]:
    """BG-23: base, tax, category, rate (none for O) and the exemption reason and VATEX code."""
    result = {"BT-116": _money(row.taxable_amount), "BT-117": _money(row.tax_amount), "BT-118": row.category.value}
    if row.rate is not None:
        result["BT-119"] = _number(row.rate)
    if row.exemption is not None:
        result["BT-120"] = row.exemption.reason
        if row.exemption.code:
            result["BT-121"] = row.exemption.code
    return result


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _price(price: Decimal) -> str:
    """BT-146: at least the cents, more only when the price has them (at most 6, BR-FR-DEC-03)."""
    decimals = -int(price.normalize().as_tuple().exponent)
    return f"{price:.{max(2, decimals)}f}"


def _number(value: Decimal) -> str:
    """Quantities, rates and percentages without trailing zeros: ``20``, ``5.5`` (BR-FR-16 compares text)."""
    return format(value.normalize(), "f")
