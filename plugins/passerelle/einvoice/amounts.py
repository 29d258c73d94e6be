"""EN 16931 arithmetic: line nets, the VAT breakdown (BG-23) and the document totals (BG-22).

The order follows the norm's calculation model so every BR-CO rule holds exactly, not within a tolerance:
line net (BT-131, rounded to the cent) → BT-106 = Σ BT-131 → per (category, rate) base BT-116 = Σ line nets
+ Σ charges − Σ allowances of that pair → BT-117 = round2(BT-116 × rate), rounded once per rate and never line
by line → BT-110 = Σ BT-117 → BT-109 = BT-106 − BT-107 + BT-108 → BT-112 = BT-109 + BT-110 →
BT-115 = BT-112 − BT-113 + BT-114. Rounding is half-up, which equals XPath ``round()`` on the positive
amounts Passerelle issues (refunds are credit notes with positive amounts).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from passerelle.einvoice.model import AllowanceCharge, Exemption, Invoice, InvoiceLine, VatCategory

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def allowance_amount(item: AllowanceCharge) -> Decimal:
    """The amount of an allowance/charge: given, or round2(base × percent / 100) when it is a percentage.

    A percentage is computed and rounded half-up once, as the calculation model says, and the document
    states base, percent and the rounded amount. A given amount is never rounded: one with more than two
    decimals (BR-DEC-01/05/24/27) is refused, and issuing holds the draft before it gets here.
    """
    if item.percent is not None and item.base_amount is not None:
        return round2(item.base_amount * item.percent / 100)
    if item.amount != round2(item.amount):
        raise ValueError(f"allowance/charge {item.reason!r}: amount {item.amount} has more than 2 decimals (BR-DEC)")
    return round2(item.amount)


def line_net(line: InvoiceLine) -> Decimal:
    """BT-131: round2(quantity × net price) − line allowances + line charges."""
    net = round2(line.quantity * line.net_price)
    for item in line.allowances_charges:
        net += allowance_amount(item) if item.is_charge else -allowance_amount(item)
    return net


@dataclass(frozen=True, slots=True)
class VatBreakdown:
    """BG-23 for one (category, rate)."""

    category: VatCategory  # BT-118
    rate: Decimal | None  # BT-119
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117
    exemption: Exemption | None = None  # BT-120 / BT-121


@dataclass(frozen=True, slots=True)
class Totals:
    """BG-22."""

    line_total: Decimal  # BT-106
    allowance_total: Decimal  # BT-107
    charge_total: Decimal  # BT-108
    tax_basis_total: Decimal  # BT-109
    tax_total: Decimal  # BT-110, invoice currency
    tax_total_eur: Decimal | None  # BT-111, only when the invoice currency is not EUR
    grand_total: Decimal  # BT-112
    prepaid: Decimal  # BT-113
    rounding: Decimal  # BT-114
    due_payable: Decimal  # BT-115


@dataclass(frozen=True, slots=True)
class Computed:
    """What the norm derives from an invoice: one net per line (same order), the breakdown and the totals."""

    line_nets: tuple[Decimal, ...]
    vat_breakdown: tuple[VatBreakdown, ...]
    totals: Totals


def compute(invoice: Invoice) -> Computed:
    nets = tuple(line_net(line) for line in invoice.lines)
    bases: dict[tuple[VatCategory, Decimal | None], Decimal] = {}
    for line, net in zip(invoice.lines, nets):
        key = (line.vat_category, _rate(line.vat_category, line.vat_rate))
        bases[key] = bases.get(key, ZERO) + net
    allowances = charges = ZERO
    for item in invoice.allowances_charges:
        if item.vat_category is None:
            raise ValueError(f"document-level allowance/charge {item.reason!r} has no VAT category (BT-95/BT-102)")
        amount = allowance_amount(item)
        key = (item.vat_category, _rate(item.vat_category, item.vat_rate))
        if item.is_charge:
            charges += amount
            bases[key] = bases.get(key, ZERO) + amount
        else:
            allowances += amount
            bases[key] = bases.get(key, ZERO) - amount
    breakdown = tuple(
        VatBreakdown(category, rate, base, tax_amount(category, rate, base), invoice.exemptions.get((category, rate)))
        for (category, rate), base in sorted(bases.items(), key=_order)
    )
    line_total = sum(nets, ZERO)
    tax_basis = line_total - allowances + charges
    tax_total = sum((row.tax_amount for row in breakdown), ZERO)
    tax_total_eur = None
    if invoice.currency != "EUR":
        if invoice.eur_per_unit is None:
            raise ValueError(f"invoice {invoice.number}: currency {invoice.currency} needs an EUR rate for BT-111")
        tax_total_eur = round2(tax_total * invoice.eur_per_unit)
    grand_total = tax_basis + tax_total
    prepaid = _cents(invoice, "prepaid_amount", "BT-113")
    rounding = _cents(invoice, "rounding_amount", "BT-114")
    totals = Totals(line_total, allowances, charges, tax_basis, tax_total, tax_total_eur, grand_total,
                    prepaid, rounding, grand_total - prepaid + rounding)
    return Computed(nets, breakdown, totals)


def _cents(invoice: Invoice, field: str, term: str) -> Decimal:
    """An amount the invoice states (not computes): refused beyond the cent, so BT-115 agrees with it."""
    value = getattr(invoice, field)
    if value != round2(value):
        raise ValueError(f"invoice {invoice.number}: {field} {value} has more than 2 decimals ({term})")
    return round2(value)


def tax_amount(category: VatCategory, rate: Decimal | None, base: Decimal) -> Decimal:
    """BT-117: only the standard rate carries tax; every other French category is at 0."""
    if category is VatCategory.STANDARD and rate:
        return round2(base * rate / 100)
    return ZERO


def business_process(lines: tuple[InvoiceLine, ...] | list[InvoiceLine], process: str = "1") -> str:
    """BT-23: B (goods only), S (services only) or M (both), then the process digit (1: plain invoice)."""
    kinds = {line.is_goods for line in lines}
    nature = "M" if kinds == {True, False} else ("B" if kinds == {True} else "S")
    return nature + process


def _rate(category: VatCategory, rate: Decimal | None) -> Decimal | None:
    """Category O has no rate; every other one keeps its rate normalised to two decimals."""
    if category is VatCategory.OUT_OF_SCOPE:
        return None
    return (rate or ZERO).quantize(CENT)


def _order(item: tuple[tuple[VatCategory, Decimal | None], Decimal]) -> tuple[str, Decimal]:
    (category, rate), _ = item
    return (category.value, -(rate or ZERO))
