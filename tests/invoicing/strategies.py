"""Hypothesis strategies for the invoices Passerelle issues: random lines, discounts, document-level
allowances and charges, VAT situations and currencies, always within what a compliant invoice allows.

The generators keep every amount positive (refunds are credit notes, BR-27), line discounts within their
line and document allowances within the base of their VAT rate, so that the properties test the norm's
arithmetic rather than inputs the pipeline never produces. Their own reckoning of line nets
(:func:`reference_line_net`) is independent of :mod:`passerelle.invoicing.amounts`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import strategies as st

from passerelle.invoicing.model import (
    CREDIT_NOTE, INVOICE, AllowanceCharge, Invoice, InvoiceLine, Party, PrecedingInvoice, ProcessingRule, VatCategory,
)
from passerelle.invoicing.seller import SellerConfig
from passerelle.invoicing.vat import line_vat
from passerelle.invoicing.samples import BUYER_B2C, BUYER_BE, BUYER_CH, BUYER_FR, example_seller, invoice

D = Decimal
CENT = D("0.01")
DOMESTIC_RATES = ("20", "10", "5.5", "2.1", "0")  # 0: exempt continuing training (E, VATEX-FR-CGI261-4)
CURRENCIES = ("EUR", "USD", "CHF")
UNITS = ("C62", "HUR", "DAY", "LS")

SELLER: SellerConfig = example_seller()


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(low), max_value=D(high), places=places, allow_nan=False, allow_infinity=False)


# BT-129: whole units most of the time, hours in hundredths, and the 4 decimals BR-FR-DEC allows.
quantities = st.one_of(st.integers(1, 250).map(Decimal), _decimals("0.01", "400", 2), _decimals("0.0001", "50", 4))
# BT-146: cents, and some 4-decimal unit prices (per-unit licences, energy), never zero or negative.
net_prices = st.one_of(_decimals("0.01", "25000", 2), _decimals("0.0001", "400", 4))
percents = _decimals("0.01", "100", 2)
eur_rates = _decimals("0.5000", "1.5000", 4)


@dataclass(frozen=True)
class Scenario:
    """Who buys and how the lines are taxed: the buyer decides the VAT category (see ``vat.line_vat``)."""

    name: str
    buyer: Party
    rule: ProcessingRule
    buyer_in_eu: bool


# BR-FR-12 makes BT-49 mandatory for every buyer: foreign companies outside the French directory are
# reached by e-mail (EAS ``EM``).
FOREIGN_EU = replace(BUYER_BE, electronic_address="ap@brussels-consulting.example", electronic_address_scheme="EM")
FOREIGN = replace(BUYER_CH, electronic_address="kreditoren@zuerich-handels.example", electronic_address_scheme="EM")

DOMESTIC_B2B = Scenario("domestic_b2b", BUYER_FR, ProcessingRule.B2B, True)
DOMESTIC_B2C = Scenario("domestic_b2c", BUYER_B2C, ProcessingRule.B2C, True)
INTRA_EU = Scenario("intra_eu", FOREIGN_EU, ProcessingRule.B2BINT, True)  # AE services, K goods
EXPORT = Scenario("export", FOREIGN, ProcessingRule.B2BINT, False)  # G
SCENARIOS = (DOMESTIC_B2B, DOMESTIC_B2C, INTRA_EU, EXPORT)


def reference_allowance(item: AllowanceCharge) -> Decimal:
    """BT-136/BT-141/BT-92/BT-99: base × percent / 100 to the cent, or the amount given."""
    if item.percent is not None and item.base_amount is not None:
        return cents(item.base_amount * item.percent / 100)
    return cents(item.amount)


def reference_line_net(line: InvoiceLine) -> Decimal:
    """BT-131 = quantity × net price to the cent − line allowances + line charges."""
    net = cents(line.quantity * line.net_price)
    for item in line.allowances_charges:
        net += reference_allowance(item) if item.is_charge else -reference_allowance(item)
    return net


def vat_key(category: VatCategory, rate: Decimal | None) -> tuple[VatCategory, Decimal]:
    return category, (rate or D(0)).quantize(CENT)


@st.composite
def line_adjustments(draw: st.DrawFn, gross: Decimal) -> tuple[AllowanceCharge, ...]:
    """A percentage discount on the line amount, a fixed discount within what is left, a rare line charge."""
    items: list[AllowanceCharge] = []
    left = gross
    if draw(st.booleans()):
        percent = draw(percents)
        amount = cents(gross * percent / 100)
        items.append(AllowanceCharge(False, amount, "Remise commerciale", "95", base_amount=gross, percent=percent))
        left -= amount
    if left >= CENT and draw(st.booleans()):
        amount = draw(st.decimals(min_value=CENT, max_value=left, places=2))
        items.append(AllowanceCharge(False, amount, "Remise exceptionnelle", "95"))
    if draw(st.integers(0, 4)) == 0:
        items.append(AllowanceCharge(True, draw(_decimals("0.01", "300", 2)), "Frais de dossier", "ABK"))
    return tuple(items)


@st.composite
def invoice_lines(draw: st.DrawFn, scenario: Scenario, max_lines: int = 30) -> list[InvoiceLine]:
    count = draw(st.integers(1, max_lines))
    lines = []
    for number in range(1, count + 1):
        quantity, price = draw(quantities), draw(net_prices)
        goods = draw(st.booleans())
        rate = D(draw(st.sampled_from(DOMESTIC_RATES))) if scenario.rule is not ProcessingRule.B2BINT else None
        vat = line_vat(rule=scenario.rule, buyer_in_eu=scenario.buyer_in_eu, product_rate=rate, is_goods=goods,
                       franchise=False)
        adjustments = draw(line_adjustments(cents(quantity * price))) if draw(st.booleans()) else ()
        lines.append(InvoiceLine(str(number), f"Article {number}", quantity, draw(st.sampled_from(UNITS)), price,
                                 vat.category, vat.rate, allowances_charges=adjustments, is_goods=goods))
    return lines


@st.composite
def document_adjustments(draw: st.DrawFn, lines: list[InvoiceLine]) -> tuple[AllowanceCharge, ...]:
    """Up to three BG-20/BG-21 on VAT rates the lines use; allowances never exceed their rate's base."""
    bases: dict[tuple[VatCategory, Decimal], Decimal] = {}
    for line in lines:
        key = vat_key(line.vat_category, line.vat_rate)
        bases[key] = bases.get(key, D("0.00")) + reference_line_net(line)
    items = []
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(bases, key=lambda k: (k[0].value, k[1]))))
        category, rate = key
        if draw(st.booleans()):
            amount = draw(_decimals("0.01", "500", 2))
            items.append(AllowanceCharge(True, amount, "Frais de port", "FC", vat_category=category, vat_rate=rate))
            bases[key] += amount
        elif bases[key] >= CENT:
            if draw(st.booleans()):
                percent = draw(_decimals("0.01", "50", 2))
                base, amount = bases[key], cents(bases[key] * percent / 100)
                items.append(AllowanceCharge(False, amount, "Remise de fidélité", "95", base_amount=base,
                                             percent=percent, vat_category=category, vat_rate=rate))
            else:
                amount = draw(st.decimals(min_value=CENT, max_value=min(bases[key], D(500)), places=2))
                items.append(AllowanceCharge(False, amount, "Remise de fidélité", "95", vat_category=category,
                                             vat_rate=rate))
            bases[key] -= amount
    return tuple(items)


@st.composite
def invoices(draw: st.DrawFn, scenarios: tuple[Scenario, ...] = SCENARIOS, currencies: tuple[str, ...] = CURRENCIES,
             max_lines: int = 30) -> Invoice:
    """A complete invoice or credit note: seller mentions, exemptions for its categories, random amounts."""
    scenario = draw(st.sampled_from(scenarios))
    lines = draw(invoice_lines(scenario, max_lines))
    adjustments = draw(document_adjustments(lines))
    currency = draw(st.sampled_from(currencies))
    extra: dict[str, object] = {}
    if any(line.vat_category is VatCategory.INTRA_EU for line in lines):
        extra["delivery_address"] = scenario.buyer.address  # BR-IC-12: goods leave for the buyer's country
    if draw(st.integers(0, 3)) == 0:
        extra.update(type_code=CREDIT_NOTE, preceding=(PrecedingInvoice("MS2026-000001", date(2026, 3, 2)),))
    else:
        extra.update(type_code=INVOICE)
    basis = sum((reference_line_net(line) for line in lines), D("0.00")) + sum(
        (item.amount if item.is_charge else -item.amount for item in adjustments), D("0.00"))
    if basis >= 2 and draw(st.integers(0, 3)) == 0:  # a down payment already received, and a cash rounding
        extra["prepaid_amount"] = cents(basis * draw(_decimals("0.01", "0.50", 2)))
        extra["rounding_amount"] = draw(_decimals("-0.49", "0.49", 2))
    return invoice(scenario.buyer, scenario.rule, lines, currency=currency, seller=SELLER,
                   eur_per_unit=draw(eur_rates) if currency != "EUR" else None, allowances_charges=adjustments,
                   **extra)
