"""EN 16931 arithmetic on random invoices, checked with the official schematron formulas themselves.

Each property restates one rule of the CEN CII schematron (v1.3.16) the way its XPath test is written,
``round(x * 100) div 100`` included, on the values a rendered document would carry, and demands exact
equality even where the schematron tolerates ±1.00 (BR-S-09, BR-E-08...): Passerelle computes, it does
not approximate. The last property renders random invoices to CII and runs the real validator on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import Phase, find, given, settings
from lxml import etree

from passerelle.documents.render import render_cii
from passerelle.documents.validation import CiiValidator
from passerelle.einvoice.amounts import Computed, allowance_amount, compute
from passerelle.einvoice.model import EUR, Invoice, InvoiceLine, VatCategory
from tests.invoicing.strategies import invoices, reference_allowance, reference_line_net, vat_key

D = Decimal
ARITHMETIC = settings(max_examples=60, deadline=None)
NS = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
SUMMATION = ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation"


def xpath_round(value: Decimal) -> Decimal:
    """XPath ``fn:round``: to the nearest integer, halves toward positive infinity."""
    return (value + D("0.5")).to_integral_value(rounding=ROUND_FLOOR)


def xpath_round2(value: Decimal) -> Decimal:
    """The schematron's ``round(x * 100) div 100``."""
    return xpath_round(value * 100) / 100


def total(values: Iterable[Decimal]) -> Decimal:
    return sum(values, D(0))


def document_items(invoice: Invoice, *, charges: bool, category: VatCategory | None = None,
                   rate: Decimal | None = None) -> list[Decimal]:
    """BT-99 (charges) or BT-92 (allowances) as the document carries them, optionally of one category/rate."""
    return [allowance_amount(item) for item in invoice.allowances_charges
            if item.is_charge is charges
            and (category is None or item.vat_category is category)
            and (rate is None or vat_key(item.vat_category, item.vat_rate)[1] == rate)]


def decimals_of(value: Decimal) -> int:
    return -value.as_tuple().exponent


def categories(invoice: Invoice) -> set[VatCategory]:
    return {line.vat_category for line in invoice.lines}


def standard_rates(invoice: Invoice) -> set[Decimal]:
    return {line.vat_rate for line in invoice.lines if line.vat_category is VatCategory.STANDARD}


def half_cent(value: Decimal) -> bool:
    """Exactly x.xx5: where half-up and half-even rounding part ways."""
    thousandths = value * 1000
    return thousandths == thousandths.to_integral_value() and thousandths % 10 == 5


def both_line_discounts(line: InvoiceLine) -> bool:
    return [item.percent is not None for item in line.allowances_charges if not item.is_charge] == [True, False]


# Cases the generator must reach, or the properties below would hold vacuously.
REACHED: dict[str, Callable[[Invoice], bool]] = {
    "25 lines or more": lambda i: len(i.lines) >= 25,
    "every French standard rate": lambda i: standard_rates(i) >= {D("20"), D("10"), D("5.5"), D("2.1")},
    "exempt training next to a standard rate": lambda i: categories(i) >= {VatCategory.EXEMPT, VatCategory.STANDARD},
    "reverse charge and intra-EU goods": lambda i: categories(i) >= {VatCategory.REVERSE_CHARGE, VatCategory.INTRA_EU},
    "export": lambda i: categories(i) == {VatCategory.EXPORT},
    "4-decimal price and quantity": lambda i: any(decimals_of(line.net_price) == 4 for line in i.lines)
    and any(decimals_of(line.quantity) == 4 for line in i.lines),
    "percentage and fixed discounts on one line": lambda i: any(both_line_discounts(line) for line in i.lines),
    "document allowance in percent and a charge": lambda i: any(item.percent for item in i.allowances_charges)
    and any(item.is_charge for item in i.allowances_charges),
    "credit note": lambda i: i.is_credit_note,
    "USD": lambda i: i.currency == "USD" and i.eur_per_unit is not None,
    "CHF": lambda i: i.currency == "CHF" and i.eur_per_unit is not None,
    "prepaid and rounding": lambda i: i.prepaid_amount > 0 and i.rounding_amount != 0,
    "a half cent to round": lambda i: any(half_cent(line.quantity * line.net_price) for line in i.lines),
}


@pytest.mark.parametrize("case", REACHED)
def test_the_generator_reaches(case: str) -> None:
    first_found = settings(max_examples=500, database=None, phases=[Phase.generate])  # no shrinking: any will do
    assert REACHED[case](find(invoices(), REACHED[case], settings=first_found))


@given(invoices())
@ARITHMETIC
def test_line_nets_are_quantity_times_price_to_the_cent_less_discounts(invoice: Invoice) -> None:
    computed = compute(invoice)
    assert computed.line_nets == tuple(reference_line_net(line) for line in invoice.lines)
    for line in invoice.lines:
        for item in line.allowances_charges:  # BT-136 / BT-141 as written on the line
            assert allowance_amount(item) == reference_allowance(item)
    assert all(net >= 0 for net in computed.line_nets)


@given(invoices())
@ARITHMETIC
def test_document_totals_follow_br_co_10_to_16(invoice: Invoice) -> None:
    computed = compute(invoice)
    t = computed.totals
    assert t.line_total == xpath_round2(total(computed.line_nets)), "BR-CO-10"
    assert t.allowance_total == xpath_round2(total(document_items(invoice, charges=False))), "BR-CO-11"
    assert t.charge_total == xpath_round2(total(document_items(invoice, charges=True))), "BR-CO-12"
    assert t.tax_basis_total == xpath_round2(t.line_total - t.allowance_total + t.charge_total), "BR-CO-13"
    assert t.tax_total == xpath_round2(total(row.tax_amount for row in computed.vat_breakdown)), "BR-CO-14"
    assert t.grand_total == xpath_round2(t.tax_basis_total + t.tax_total), "BR-CO-15"
    assert t.due_payable == t.grand_total - t.prepaid + t.rounding, "BR-CO-16"
    assert total(row.taxable_amount for row in computed.vat_breakdown) == t.tax_basis_total
    assert t.grand_total >= 0  # credit notes too: a refund is a 381 with positive amounts (BR-27)


@given(invoices())
@ARITHMETIC
def test_each_breakdown_row_follows_its_category_rules(invoice: Invoice) -> None:
    computed = compute(invoice)
    nets = list(zip(invoice.lines, computed.line_nets))
    for row in computed.vat_breakdown:
        if row.category is VatCategory.STANDARD:  # BR-S-08 sums lines and items of this very rate
            key = (row.category, row.rate)
            line_sum = total(net for line, net in nets if vat_key(line.vat_category, line.vat_rate) == key)
            charges = document_items(invoice, charges=True, category=row.category, rate=row.rate)
            allowances = document_items(invoice, charges=False, category=row.category, rate=row.rate)
        else:  # BR-E-08, BR-AE-08, BR-IC-08, BR-G-08 sum the whole category
            line_sum = total(net for line, net in nets if line.vat_category is row.category)
            charges = document_items(invoice, charges=True, category=row.category)
            allowances = document_items(invoice, charges=False, category=row.category)
        expected_base = xpath_round2(line_sum) + xpath_round2(total(charges)) - xpath_round2(total(allowances))
        assert row.taxable_amount == expected_base, f"BR-{row.category.value}-08 for {row.rate} %"
        assert row.taxable_amount >= 0
        if row.category is VatCategory.STANDARD:
            assert row.rate > 0  # BR-S-05/BR-S-06
            # BR-S-09 as written, round(abs(BT-116) * BT-119) div 100, and BR-CO-17's form of the same product.
            assert abs(row.tax_amount) == xpath_round(abs(row.taxable_amount) * row.rate) / 100, "BR-S-09"
            assert abs(row.tax_amount) == xpath_round2(abs(row.taxable_amount) * (row.rate / 100)), "BR-CO-17"
            assert row.exemption is None
        else:
            assert row.rate == 0 and row.tax_amount == 0, f"BR-{row.category.value}-09"
            assert row.exemption is not None and row.exemption.code and row.exemption.reason, \
                f"BR-{row.category.value}-10"


@given(invoices())
@ARITHMETIC
def test_one_breakdown_per_category_and_rate_used(invoice: Invoice) -> None:
    rows = compute(invoice).vat_breakdown
    keys = [(row.category, row.rate) for row in rows]
    used = {vat_key(line.vat_category, line.vat_rate) for line in invoice.lines} | {
        vat_key(item.vat_category, item.vat_rate) for item in invoice.allowances_charges}
    assert rows, "BR-CO-18"
    assert len(keys) == len(set(keys)) and set(keys) == used, "BR-CO-18 / BR-S-01"
    categories = [row.category for row in rows if row.category is not VatCategory.STANDARD]
    assert len(categories) == len(set(categories))  # E, AE, K, G: exactly one breakdown each (BR-E-01...)


@given(invoices())
@ARITHMETIC
def test_every_amount_has_at_most_two_decimals_and_bt_111_follows_the_currency(invoice: Invoice) -> None:
    computed = compute(invoice)
    t = computed.totals
    amounts = [*computed.line_nets, t.line_total, t.allowance_total, t.charge_total, t.tax_basis_total, t.tax_total,
               t.grand_total, t.prepaid, t.rounding, t.due_payable]
    amounts += [value for row in computed.vat_breakdown for value in (row.taxable_amount, row.tax_amount)]
    amounts += [allowance_amount(item) for item in invoice.allowances_charges]
    amounts += [allowance_amount(item) for line in invoice.lines for item in line.allowances_charges]
    if t.tax_total_eur is not None:
        amounts.append(t.tax_total_eur)
    for amount in amounts:  # BR-DEC: as the text the renderer writes, not only as a number
        assert amount.as_tuple().exponent >= -2 and amount == amount.quantize(D("0.01")), amount
    if invoice.currency == EUR:
        assert t.tax_total_eur is None
    else:  # BR-FR-CO-12 / BR-53: the VAT total in EUR, at the invoice's exchange rate
        assert t.tax_total_eur == xpath_round2(t.tax_total * invoice.eur_per_unit)


# --- rendered and validated for real -------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Iterator[CiiValidator]:
    with CiiValidator() as compiled:  # the XSD and both schematrons compiled once for the module
        yield compiled


@given(invoice=invoices(max_lines=12))
@settings(max_examples=15, deadline=None)
def test_random_invoices_render_to_cii_the_official_rules_accept(validator: CiiValidator, invoice: Invoice) -> None:
    xml = render_cii(invoice)
    findings = validator.validate(xml)
    fatal = [f"{f.layer} {f.rule}: {f.message}" for f in findings if f.fatal]
    arithmetic = [f"{f.layer} {f.rule}: {f.message}" for f in findings if f.rule.startswith(("BR-CO", "BR-S-"))]
    computed = compute(invoice)
    assert fatal == [] and arithmetic == [], _summary(computed)
    # and the document carries the very totals compute() found, not amounts of its own
    summation = etree.fromstring(xml).find(SUMMATION, NS)
    t = computed.totals
    written = {name: D(summation.findtext(f"ram:{name}", namespaces=NS)) for name in
               ("LineTotalAmount", "TaxBasisTotalAmount", "GrandTotalAmount", "DuePayableAmount")}
    assert written == {"LineTotalAmount": t.line_total, "TaxBasisTotalAmount": t.tax_basis_total,
                       "GrandTotalAmount": t.grand_total, "DuePayableAmount": t.due_payable}
    tax_totals = {node.get("currencyID"): D(node.text) for node in summation.iterfind("ram:TaxTotalAmount", NS)}
    expected = {invoice.currency: t.tax_total} | ({EUR: t.tax_total_eur} if t.tax_total_eur is not None else {})
    assert tax_totals == expected


def _summary(computed: Computed) -> list[tuple[str, Decimal | None, Decimal, Decimal]]:
    return [(row.category.value, row.rate, row.taxable_amount, row.tax_amount) for row in computed.vat_breakdown]
