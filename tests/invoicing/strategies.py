"""Hypothesis strategies for the invoices Passerelle issues: random lines, discounts, document-level
allowances and charges, VAT situations and currencies, always within what a compliant invoice allows.

The generators keep every amount positive (refunds are credit notes, BR-27), line discounts within their
line and document allowances within the base of their VAT rate, so that the properties test the norm's
arithmetic rather than inputs the pipeline never produces. Their own reckoning of line nets
(:func:`reference_line_net`) is independent of :mod:`passerelle.einvoice.amounts`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import strategies as st

from passerelle.einvoice.amounts import business_process
from passerelle.einvoice.model import (
    CREDIT_NOTE, INVOICE, AllowanceCharge, Exemption, Invoice, InvoiceLine, Note, Party, PostalAddress,
    PrecedingInvoice, ProcessingRule, VatCategory,
)
from passerelle.invoicing.seller import SellerConfig
from passerelle.invoicing.vat import line_vat
from passerelle_dev.samples import BUYER_B2C, BUYER_BE, BUYER_CH, BUYER_FR, example_seller, invoice

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


# --- every optional business term, or none ------------------------------------------------------------

# Text as people type it: accents, CJK, emoji, RTL and combining marks, beside whatever else XML and Postgres
# can hold (no control characters, surrogates or the two non-characters XML 1.0 forbids).
SAMPLE_TEXTS = ("Crème brûlée — Ærøskøbing ß œ", "東京都渋谷区神宮前１−２−３", "請求書 🧾💶✨ 👩🏽‍💻", "Zürich «Ölgasse» №5",
                "فاتورة رقم ٣٤", "e\u0301te\u0301 ﬁn ℃ ½", "Ελληνικά · Кириллица", "  espaces  autour  ")
XML_TEXT = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff")
texts = st.one_of(st.sampled_from(SAMPLE_TEXTS), st.text(XML_TEXT, min_size=1, max_size=40))
NOTE_SUBJECTS = ("AAB", "PMT", "PMD", "REG", "ABL", "AAI", "TXD")
ELECTRONIC_SCHEMES = ("0225", "EM", "0088")
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31))
EARLIER_INVOICE = PrecedingInvoice("MS2025-000042", date(2025, 12, 31))


def dates_from(start: date) -> st.SearchStrategy[date]:
    return st.dates(min_value=start, max_value=date(2027, 12, 31))


@st.composite
def _described_party(draw: st.DrawFn, party: Party) -> Party:
    """BT-27..34 / BT-44..49 and BT-43 / BT-58: every identifier, a trading name and a contact e-mail."""
    return replace(party, name=draw(texts), trading_name=draw(texts), email=draw(texts),
                   siren=party.siren or "100000009", siret=party.siret or "10000000900017",
                   vat_number=party.vat_number or "FR88100000009",
                   electronic_address=party.electronic_address or draw(texts),
                   electronic_address_scheme=draw(st.sampled_from(ELECTRONIC_SCHEMES)),
                   address=replace(party.address, street=draw(texts), postcode=draw(texts), city=draw(texts)))


@st.composite
def _described_line(draw: st.DrawFn, line: InvoiceLine, line_id: str) -> InvoiceLine:
    """BT-127, BT-134/135, BT-154, BT-155 set; a 1 % discount and a charge so BG-27 and BG-28 both appear."""
    gross = cents(line.quantity * line.net_price)
    start = draw(dates)
    extra = (AllowanceCharge(False, D("0"), draw(texts), "95", base_amount=gross, percent=D("1")),
             AllowanceCharge(True, draw(_decimals("0.01", "300", 2)), draw(texts), "ABK"))
    return replace(line, line_id=line_id, item_name=draw(texts), description=draw(texts), seller_item_id=draw(texts),
                   note=draw(texts), period_start=start, period_end=draw(dates_from(start)),
                   allowances_charges=line.allowances_charges + extra)


@st.composite
def fully_described_invoices(draw: st.DrawFn, max_lines: int = 8) -> Invoice:
    """Invoices carrying every optional BT the documents can emit, texts in any script.

    Line ids are any unique text, in no sort order: the stored line order has to be kept, not recomputed.
    The first preceding invoice is :data:`EARLIER_INVOICE`, which a warehouse must know (a foreign key).
    """
    base = draw(invoices(currencies=("USD", "CHF"), max_lines=max_lines))  # BT-6 and BT-111 need a foreign currency
    if not base.exemptions:  # BT-120/121: add the exempt training day a domestic invoice may carry
        vat = line_vat(rule=base.processing_rule, buyer_in_eu=True, product_rate=D(0), is_goods=False,
                       franchise=False)
        training = InvoiceLine(str(len(base.lines) + 1), "Formation", D(1), "DAY", D(650), vat.category, vat.rate)
        lines = base.lines + (training,)
        base = replace(base, lines=lines, business_process=business_process(lines),
                       exemptions={vat_key(vat.category, vat.rate): vat.exemption})
    ids = draw(st.lists(st.text(XML_TEXT, min_size=1, max_size=8), min_size=len(base.lines),
                        max_size=len(base.lines), unique=True))
    lines = tuple([draw(_described_line(line, line_id)) for line, line_id in zip(base.lines, ids)])
    category, rate = vat_key(lines[0].vat_category, lines[0].vat_rate)
    document = base.allowances_charges + (
        AllowanceCharge(True, draw(_decimals("0.01", "500", 2)), draw(texts), "FC", vat_category=category,
                        vat_rate=rate),
        AllowanceCharge(False, draw(_decimals("0.01", "0.01", 2)), draw(texts), "95", vat_category=category,
                        vat_rate=rate))
    preceding = tuple(PrecedingInvoice(number, issued) for number, issued in draw(st.lists(
        st.tuples(texts, dates), min_size=2, max_size=4)))
    preceding = (EARLIER_INVOICE,) + preceding
    start = draw(dates)
    delivery = base.delivery_address or base.buyer.address
    return replace(
        base, seller=draw(_described_party(base.seller)), buyer=draw(_described_party(base.buyer)), lines=lines,
        allowances_charges=document, preceding=preceding, type_code=draw(st.sampled_from((INVOICE, CREDIT_NOTE))),
        notes=tuple(draw(st.lists(st.builds(Note, st.sampled_from(NOTE_SUBJECTS), texts), min_size=1, max_size=4))),
        payment_terms=draw(texts), buyer_reference=draw(texts), purchase_order=draw(texts),
        contract_reference=draw(texts), project_reference=draw(texts), payment_reference=draw(texts),
        delivery_name=draw(texts), delivery_date=draw(dates), period_start=start,
        period_end=draw(dates_from(start)),
        delivery_address=replace(delivery, street=draw(texts), postcode=draw(texts), city=draw(texts)),
        prepaid_amount=draw(_decimals("0.01", "1", 2)), 
        rounding_amount=draw(st.one_of(_decimals("-0.49", "-0.01", 2), _decimals("0.01", "0.49", 2))),
        exemptions={key: Exemption(draw(texts), exemption.code) for key, exemption in base.exemptions.items()},
    )


@st.composite
def bare_invoices(draw: st.DrawFn, max_lines: int = 8) -> Invoice:
    """Invoices with no optional BT at all beyond what rendering needs (BT-72 stands in for BG-15)."""
    base = draw(invoices(max_lines=max_lines))
    bare_party = {"siren": None, "siret": None, "vat_number": None, "electronic_address": None,
                  "trading_name": None, "email": None}
    address = PostalAddress(None, None, None, base.buyer.address.country_code)
    lines = tuple(replace(line, description=None, seller_item_id=None, note=None, period_start=None,
                          period_end=None, allowances_charges=()) for line in base.lines)
    return replace(base, seller=replace(base.seller, **bare_party | {"siren": base.seller.siren}),
                   buyer=replace(base.buyer, address=address, **bare_party), lines=lines, notes=(),
                   allowances_charges=(), preceding=(), type_code=INVOICE, buyer_reference=None, purchase_order=None,
                   contract_reference=None, project_reference=None, payment_reference=None, delivery_name=None,
                   delivery_address=None, delivery_date=base.delivery_date or date(2026, 3, 31), period_start=None,
                   period_end=None, iban=None, bic=None, prepaid_amount=D("0"), rounding_amount=D("0"))
