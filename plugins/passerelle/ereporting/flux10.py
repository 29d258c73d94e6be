"""Flux 10 e-reporting XML for the PPF (``ereporting.xsd``, root ``Report``).

A transmission carries transactions (10.1 unitary B2B-international invoices, 10.3 B2C totals per day and
category) or payments (10.2 unitary, 10.4 B2C per day), never both (G6.29), so there is one builder for each.
The builders write what the data says and refuse only what cannot be written at all (an invoice that is not
B2BINT, a missing SIREN...); business rules (totals, rates in the French list, the buyer's identifier) are
the schematron's to judge, so a faulty report comes back with the PPF's own rule ids.
Amounts are ``Decimal`` written with two decimals; dates ``YYYYMMDD``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from lxml import etree

from passerelle.ereporting.categories import B2cCategory
from passerelle.ereporting.payments import cashed_per_rate
from passerelle.einvoice.amounts import allowance_amount, compute
from passerelle.einvoice.model import EUR, Invoice, Party, ProcessingRule, VatPoint

if TYPE_CHECKING:
    from passerelle.ereporting.invoice_amounts import IssuedAmounts

PROFILE = "urn.cpro.gouv.fr:1p0:ereporting"  # TT-29 (S1.12)
PLATFORM_SCHEME = "0238"  # TT-7: the approved platform's matricule
SIREN_SCHEME = "0002"
EU_SCHEME = "0223"  # company established in the EU outside France
NON_EU_SCHEME = "0227"
EU_COUNTRIES = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
VAT_POINT_CODES = {VatPoint.INVOICE: "5", VatPoint.DELIVERY: "29", VatPoint.PAYMENT: "72"}  # UNTDID 2475
CENT = Decimal("0.01")


class RateTotal(NamedTuple):
    """TG-32: one VAT rate of a B2C day, in EUR."""

    rate: Decimal
    base: Decimal
    vat: Decimal


class RateAmount(NamedTuple):
    """TG-36 / TG-39: the amount cashed (VAT included, EUR) at one VAT rate."""

    rate: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Platform:
    """The approved platform (PA) that sends the report: its 4-character PPF matricule (G6.22)."""

    matricule: str
    name: str


@dataclass(frozen=True)
class Transmission:
    """The ``ReportDocument`` envelope and the period the report covers."""

    id: str  # TT-1, at most 50 characters (G1.104)
    created_at: datetime  # TT-3
    platform: Platform  # TG-3, role WK
    declarant_siren: str  # TT-13, scheme 0002
    declarant_name: str  # TT-14
    period_start: date  # TT-17 / TT-89
    period_end: date  # TT-18 / TT-90
    corrective: bool = False  # TT-4: RE replaces an earlier transmission, IN otherwise
    declarant_role: str = "SE"  # TT-15: SE for sales, BY for purchases
    name: str | None = None  # TT-2


@dataclass(frozen=True)
class B2cDay:
    """10.3: one day × category of B2C sales; ``count`` is the number of transactions (TT-85)."""

    day: date
    category: B2cCategory
    rates: tuple[RateTotal, ...]
    count: int
    currency: str = EUR  # TT-78: the PPF expects the totals in EUR
    vat_point: VatPoint | None = None  # TT-80, when the VAT option must be stated


@dataclass(frozen=True)
class InvoicePayment:
    """10.2: a payment received for a B2B-international service invoice taxed on receipt."""

    invoice_number: str  # TT-91
    invoice_date: date  # TT-102
    paid_on: date  # TT-92
    amounts: tuple[RateAmount, ...]


@dataclass(frozen=True)
class B2cPaymentDay:
    """10.4: B2C payments received on one day, per VAT rate."""

    day: date
    amounts: tuple[RateAmount, ...]


def invoice_payment(invoice: Invoice, amount: Decimal, paid_on: date,
                    amounts: IssuedAmounts | None = None) -> InvoicePayment:
    """The 10.2 entry for ``amount`` received on ``paid_on``, split per rate like status 212 (over the
    issued invoice's stored breakdown when ``amounts`` is given)."""
    if invoice.currency != EUR:
        raise ValueError(f"invoice {invoice.number}: currency {invoice.currency}: Flux 10 payments are in EUR; "
                         "build the InvoicePayment from the amounts converted at the payment date")
    parts = cashed_per_rate(invoice, amount, amounts)
    return InvoicePayment(invoice.number, invoice.issue_date, paid_on,
                          tuple(RateAmount(part.rate, part.amount_incl_vat) for part in parts))


def transactions_report(transmission: Transmission, invoices: Iterable[Invoice] = (),
                        b2c_days: Iterable[B2cDay] = (), amounts: Mapping[str, IssuedAmounts] | None = None) -> bytes:
    """A 10.1 + 10.3 transmission: one ``Invoice`` per B2BINT invoice, one ``Transactions`` per B2C day.

    ``amounts`` (by invoice number) are the issued invoices' stored amounts
    (:mod:`passerelle.ereporting.invoice_amounts`); an invoice without them is reckoned from its lines.
    """
    root, body = _report(transmission, "TransactionsReport")
    for invoice in invoices:
        body.append(_invoice(invoice, (amounts or {}).get(invoice.number)))
    for day in b2c_days:
        body.append(_b2c_day(day))
    return _bytes(root)


def payments_report(transmission: Transmission, invoices: Iterable[InvoicePayment] = (),
                    b2c_days: Iterable[B2cPaymentDay] = ()) -> bytes:
    """A 10.2 + 10.4 transmission."""
    root, body = _report(transmission, "PaymentsReport")
    for payment in invoices:
        entry = _sub(body, "Invoice")
        _sub(entry, "InvoiceID", payment.invoice_number)
        _sub(entry, "IssueDate", _date(payment.invoice_date))
        _payment(entry, payment.paid_on, payment.amounts, f"payment of invoice {payment.invoice_number}")
    for day in b2c_days:
        _payment(_sub(body, "Transactions"), day.day, day.amounts, f"B2C payments of {day.day}")
    return _bytes(root)


def _report(transmission: Transmission, kind: str) -> tuple[etree._Element, etree._Element]:
    if transmission.period_end < transmission.period_start:
        raise ValueError(f"transmission {transmission.id}: period ends {transmission.period_end} "
                         f"before it starts {transmission.period_start}")
    root = etree.Element("Report")
    document = _sub(root, "ReportDocument")
    _sub(document, "Id", transmission.id)
    if transmission.name:
        _sub(document, "Name", transmission.name)
    _sub(_sub(document, "IssueDateTime"), "DateTimeString", transmission.created_at.strftime("%Y%m%d%H%M%S"))
    _sub(document, "TypeCode", "RE" if transmission.corrective else "IN")
    _party(_sub(document, "Sender"), PLATFORM_SCHEME, transmission.platform.matricule, transmission.platform.name,
           "WK")
    _party(_sub(document, "Issuer"), SIREN_SCHEME, transmission.declarant_siren, transmission.declarant_name,
           transmission.declarant_role)
    body = _sub(root, kind)
    period = _sub(body, "ReportPeriod")
    _sub(period, "StartDate", _date(transmission.period_start))
    _sub(period, "EndDate", _date(transmission.period_end))
    return root, body


def _party(element: etree._Element, scheme: str, identifier: str, name: str, role: str) -> None:
    _sub(element, "Id", identifier, schemeId=scheme)
    _sub(element, "Name", name)
    _sub(element, "RoleCode", role)


def _invoice(invoice: Invoice, amounts: IssuedAmounts | None = None) -> etree._Element:
    """TG-8 from the invoice and its amounts: as issued when given, else computed from its lines."""
    record = f"invoice {invoice.number}"
    if invoice.processing_rule is not ProcessingRule.B2BINT:
        raise ValueError(f"{record}: processing rule {invoice.processing_rule.value} is not e-reported invoice by "
                         "invoice (10.1 takes B2BINT; B2C goes into the daily totals)")
    if not invoice.seller.siren:
        raise ValueError(f"{record}: seller.siren (TT-33) is missing")
    if amounts is None:
        computed = compute(invoice)
        tax_basis_total = computed.totals.tax_basis_total
        vat_eur = computed.totals.tax_total if invoice.currency == EUR else computed.totals.tax_total_eur
        breakdown = computed.vat_breakdown
    else:
        tax_basis_total, vat_eur, breakdown = amounts.tax_basis_total, amounts.tax_total_eur, amounts.vat_breakdown
    element = etree.Element("Invoice")
    _sub(element, "ID", invoice.number)
    _sub(element, "IssueDate", _date(invoice.issue_date))
    _sub(element, "TypeCode", invoice.type_code)
    _sub(element, "CurrencyCode", invoice.currency)
    _optional(element, "DueDate", _date(invoice.due_date))
    _sub(element, "TaxDueDateTypeCode", VAT_POINT_CODES[invoice.vat_point])
    process = _sub(element, "BusinessProcess")
    _sub(process, "ID", invoice.business_process)
    _sub(process, "TypeID", PROFILE)
    for preceding in invoice.preceding:
        reference = _sub(element, "ReferencedDocument")
        _sub(reference, "ID", preceding.number)
        _sub(reference, "IssueDate", _date(preceding.issue_date))
    seller = _sub(element, "Seller")
    _sub(seller, "CompanyId", invoice.seller.siren, schemeId=SIREN_SCHEME)
    _vat_number(seller, invoice.seller)
    _sub(_sub(seller, "PostalAddress"), "CountryId", invoice.seller.address.country_code)
    _buyer(_sub(element, "Buyer"), invoice.buyer)
    if invoice.delivery_date or invoice.delivery_address:
        _delivery(_sub(element, "Delivery"), invoice)
    if invoice.period_start or invoice.period_end:
        period = _sub(element, "InvoicePeriod")
        _optional(period, "StartDate", _date(invoice.period_start))
        _optional(period, "EndDate", _date(invoice.period_end))
    for item in invoice.allowances_charges:
        allowance = _sub(element, "AllowanceCharge", ChargeIndicator="true" if item.is_charge else "false")
        _sub(allowance, "Amount", _amount(allowance_amount(item)))
        _optional(allowance, "TaxCategoryCode", item.vat_category.value if item.vat_category else None)
        _sub(allowance, "TaxPercent", _amount(item.vat_rate or Decimal(0)))
    monetary = _sub(element, "MonetaryTotal")
    _sub(monetary, "TaxExclusiveAmount", _amount(tax_basis_total))
    _sub(monetary, "TaxAmount", _amount(vat_eur), CurrencyCode=EUR)  # G6.23: always in EUR (BT-111)
    for row in breakdown:
        subtotal = _sub(element, "TaxSubTotal")
        _sub(subtotal, "TaxableAmount", _amount(row.taxable_amount))
        _sub(subtotal, "TaxAmount", _amount(row.tax_amount))
        category = _sub(subtotal, "TaxCategory")
        _sub(category, "Code", row.category.value)
        _sub(category, "Percent", _amount(row.rate or Decimal(0)))
        if row.exemption:
            _optional(category, "TaxExemptionReason", row.exemption.reason)
            _optional(category, "TaxExemptionReasonCode", row.exemption.code)
    return element


def _buyer(element: etree._Element, buyer: Party) -> None:
    """TT-36 scheme 0223 (EU, the VAT number) or 0227 (elsewhere); left out when the buyer has none (G6.28)."""
    country = buyer.address.country_code
    identifier = buyer.siren if country == "FR" else buyer.vat_number
    if identifier:
        scheme = SIREN_SCHEME if country == "FR" else EU_SCHEME if country in EU_COUNTRIES else NON_EU_SCHEME
        _sub(element, "CompanyId", identifier, schemeId=scheme)
    _vat_number(element, buyer)
    _sub(_sub(element, "PostalAddress"), "CountryId", country)


def _vat_number(element: etree._Element, party: Party) -> None:
    if party.vat_number:
        _sub(element, "TaxRegistrationId", party.vat_number, qualifyingId="VAT")


def _delivery(element: etree._Element, invoice: Invoice) -> None:
    _optional(element, "Date", _date(invoice.delivery_date))
    address = invoice.delivery_address
    if address:
        location = _sub(element, "Location")
        _optional(location, "LineOne", address.street)
        _optional(location, "CityName", address.city)
        _optional(location, "PostalZone", address.postcode)
        _sub(location, "CountryId", address.country_code)


def _b2c_day(day: B2cDay) -> etree._Element:
    """TG-31; the totals are the sums of the per-rate rows, so G1.53 holds by construction."""
    if not day.rates:
        raise ValueError(f"B2C day {day.day} {day.category.value}: no VAT rate row (TG-32 is mandatory)")
    element = etree.Element("Transactions")
    _sub(element, "Date", _date(day.day))
    _sub(element, "TransactionsCurrency", day.currency)
    if day.vat_point:
        _sub(element, "TaxDueDateTypeCode", VAT_POINT_CODES[day.vat_point])
    _sub(element, "CategoryCode", B2cCategory(day.category).value)
    _sub(element, "TaxExclusiveAmount", _amount(sum((row.base for row in day.rates), Decimal(0))))
    _sub(element, "TaxTotal", _amount(sum((row.vat for row in day.rates), Decimal(0))))
    _sub(element, "TransactionsCount", str(day.count))
    for row in day.rates:
        subtotal = _sub(element, "TaxSubtotal")
        _sub(subtotal, "TaxPercent", _amount(row.rate))
        _sub(subtotal, "TaxableAmount", _amount(row.base))
        _sub(subtotal, "TaxTotal", _amount(row.vat))
    return element


def _payment(parent: etree._Element, paid_on: date, amounts: Sequence[RateAmount], record: str) -> None:
    if not amounts:
        raise ValueError(f"{record}: no amount per VAT rate (TG-36/TG-39 is mandatory)")
    payment = _sub(parent, "Payment")
    _sub(payment, "Date", _date(paid_on))
    for row in amounts:
        subtotal = _sub(payment, "SubTotals")
        _sub(subtotal, "TaxPercent", _amount(row.rate))
        _sub(subtotal, "CurrencyCode", EUR)
        _sub(subtotal, "Amount", _amount(row.amount))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _optional(parent: etree._Element, tag: str, text: str | None) -> None:
    """An optional leaf: written only when there is a value."""
    if text is not None and text != "":
        _sub(parent, tag, text)


def _amount(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).quantize(CENT), "f")


def _date(value: date | None) -> str | None:
    return None if value is None else value.strftime("%Y%m%d")


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
