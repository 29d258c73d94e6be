"""EN 16931 amounts on worked examples: half-up rounding, percentage discounts, the full breakdown and
totals of each sample invoice, the EUR rate a foreign currency needs, and bad input named."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from passerelle.einvoice.amounts import allowance_amount, business_process, compute, line_net, round2, tax_amount
from passerelle.einvoice.model import CREDIT_NOTE, AllowanceCharge, InvoiceLine, ProcessingRule, VatCategory
from passerelle.invoicing.vat import EXPORT_SERVICES, INTRA_EU_GOODS, REVERSE_CHARGE, TRAINING
from passerelle_dev import samples

D = Decimal
S, E = VatCategory.STANDARD, VatCategory.EXEMPT


def item(quantity: str, price: str, *adjustments: AllowanceCharge, goods: bool = False) -> InvoiceLine:
    return InvoiceLine("1", "Conseil", D(quantity), "HUR", D(price), S, D("20"), allowances_charges=adjustments,
                       is_goods=goods)


@pytest.mark.parametrize(("value", "expected"), [
    ("0.005", "0.01"), ("1.225", "1.23"), ("0.045", "0.05"),  # half-even: 0.00, 1.22, 0.04
    ("1.004999", "1.00"), ("19.995", "20.00"), ("3", "3.00"), ("-0.005", "-0.01"),
])
def test_round2_takes_halves_up_to_the_cent(value: str, expected: str) -> None:
    rounded = round2(D(value))
    assert rounded == D(expected) and rounded.as_tuple().exponent == -2


def test_line_net_rounds_the_line_once_half_up() -> None:
    assert line_net(item("3", "0.335")) == D("1.01")  # 1.005: Python's default half-even would give 1.00
    assert D("1.005").quantize(D("0.01"), rounding=ROUND_HALF_EVEN) == D("1.00")
    assert line_net(item("0.3333", "149.99")) == D("49.99")  # 49.991667
    assert line_net(item("12.5", "85.004")) == D("1062.55")  # the price is not rounded before the product


def test_percentage_allowance_is_base_times_percent_to_the_cent() -> None:
    ten_percent = AllowanceCharge(False, D("0"), "Remise commerciale", "95", base_amount=D("1062.50"), percent=D("10"))
    assert allowance_amount(ten_percent) == D("106.25")
    assert allowance_amount(replace(ten_percent, base_amount=D("99.99"), percent=D("12.5"))) == D("12.50")  # 12.49875
    assert allowance_amount(replace(ten_percent, base_amount=D("0.10"), percent=D("5"))) == D("0.01")  # 0.005
    # without a base the stated amount counts as stated: beyond the cent it is refused, never rounded (BR-DEC-24)
    assert allowance_amount(AllowanceCharge(False, D("1.01"), "Geste commercial")) == D("1.01")
    with pytest.raises(ValueError, match="more than 2 decimals"):
        allowance_amount(AllowanceCharge(False, D("0.015"), "Geste commercial"))
    line = item("12.5", "85", ten_percent, AllowanceCharge(True, D("15"), "Frais de dossier", "ABK"))
    assert line_net(line) == D("1062.50") - D("106.25") + D("15.00")


def test_tax_is_rounded_once_per_rate_never_line_by_line() -> None:
    assert tax_amount(S, D("10.00"), D("12.25")) == D("1.23")  # 1.225 half-up
    assert tax_amount(S, D("2.10"), D("192.00")) == D("4.03")  # 4.032
    lines = [replace(item("1", "0.45"), line_id=str(n), vat_rate=D("10")) for n in range(1, 4)]
    computed = compute(samples.invoice(samples.BUYER_FR, ProcessingRule.B2B, lines))
    # once on the base: round2(1.35 × 10 %) = round2(0.135) = 0.14; line by line would give 3 × 0.05 = 0.15
    assert [(row.taxable_amount, row.tax_amount) for row in computed.vat_breakdown] == [(D("1.35"), D("0.14"))]
    assert computed.totals.tax_total == D("0.14")
    for category in (E, VatCategory.REVERSE_CHARGE, VatCategory.INTRA_EU, VatCategory.EXPORT):
        assert tax_amount(category, D("0.00"), D("1000.00")) == D("0.00")


def test_multi_rate_invoice_breakdown_and_totals() -> None:
    computed = compute(samples.b2b_multi_rate())
    assert computed.line_nets == (D("2850.00"), D("956.25"), D("224.00"), D("312.00"), D("192.00"), D("1300.00"))
    rows = [(row.category, row.rate, row.taxable_amount, row.tax_amount, row.exemption)
            for row in computed.vat_breakdown]
    assert rows == [
        (E, D("0.00"), D("1300.00"), D("0.00"), TRAINING),
        (S, D("20.00"), D("3791.25"), D("758.25"), None),  # 2850 + 956.25 − 50 allowance + 35 charge
        (S, D("10.00"), D("224.00"), D("22.40"), None),
        (S, D("5.50"), D("312.00"), D("17.16"), None),
        (S, D("2.10"), D("192.00"), D("4.03"), None),
    ]
    t = computed.totals
    assert (t.line_total, t.allowance_total, t.charge_total, t.tax_basis_total) == (
        D("5834.25"), D("50.00"), D("35.00"), D("5819.25"))
    assert (t.tax_total, t.grand_total, t.prepaid, t.rounding, t.due_payable) == (
        D("801.84"), D("6621.09"), D("0.00"), D("0.00"), D("6621.09"))
    assert t.tax_total_eur is None


def test_zero_rated_categories_each_carry_their_exemption() -> None:
    intra = compute(samples.intra_eu())
    assert [(row.category, row.taxable_amount, row.tax_amount, row.exemption) for row in intra.vat_breakdown] == [
        (VatCategory.REVERSE_CHARGE, D("2800.00"), D("0.00"), REVERSE_CHARGE),
        (VatCategory.INTRA_EU, D("1156.00"), D("0.00"), INTRA_EU_GOODS),
    ]
    export = compute(samples.export_chf())
    assert [(row.category, row.exemption) for row in export.vat_breakdown] == [(VatCategory.EXPORT, EXPORT_SERVICES)]
    assert export.totals.grand_total == D("4230.00") and export.totals.tax_total_eur == D("0.00")


def test_credit_note_totals_are_positive() -> None:
    note = samples.credit_note()
    assert note.type_code == CREDIT_NOTE and note.preceding[0].number == "MS2026-000001"
    t = compute(note).totals
    assert (t.line_total, t.tax_basis_total, t.tax_total, t.grand_total, t.due_payable) == (
        D("2850.00"), D("2850.00"), D("570.00"), D("3420.00"), D("3420.00"))


def test_foreign_currency_gives_the_vat_total_in_eur() -> None:
    t = compute(samples.usd_domestic()).totals
    assert (t.tax_total, t.tax_total_eur) == (D("777.60"), D("719.98"))  # 777.60 × 0.9259 = 719.97984
    eur_with_rate = replace(samples.b2c(), eur_per_unit=D("1.1"))
    assert compute(eur_with_rate).totals.tax_total_eur is None  # BT-111 only when BT-5 is not EUR


def test_missing_eur_rate_names_the_invoice_and_currency() -> None:
    with pytest.raises(ValueError, match=r"invoice MS2026-000001: currency USD needs an EUR rate for BT-111"):
        compute(replace(samples.usd_domestic(), eur_per_unit=None))


def test_document_allowance_without_vat_category_is_named() -> None:
    untaxed = AllowanceCharge(False, D("50.00"), "Remise de fidélité", "95")
    with pytest.raises(ValueError, match=r"'Remise de fidélité' has no VAT category \(BT-95/BT-102\)"):
        compute(replace(samples.b2c(), allowances_charges=(untaxed,)))


def test_prepaid_and_rounding_amounts_reach_the_amount_due() -> None:
    t = compute(replace(samples.b2c(), prepaid_amount=D("500.00"), rounding_amount=D("-0.15"))).totals
    assert (t.grand_total, t.prepaid, t.rounding, t.due_payable) == (
        D("1721.15"), D("500.00"), D("-0.15"), D("1221.00"))


def test_prepaid_amount_beyond_the_cent_is_refused_by_name() -> None:
    """BT-113 is money received: a third decimal is bad input, and must never leak into BT-115 (BR-DEC-18)
    nor make BT-115 disagree with the BT-113 written next to it (BR-CO-16)."""
    with pytest.raises(ValueError, match=r"invoice MS2026-000001: prepaid_amount 10\.005 .*BT-113"):
        compute(replace(samples.b2c(), prepaid_amount=D("10.005")))
    with pytest.raises(ValueError, match=r"invoice MS2026-000001: rounding_amount 0\.001 .*BT-114"):
        compute(replace(samples.b2c(), rounding_amount=D("0.001")))


@pytest.mark.parametrize(("goods", "expected"), [((True,), "B1"), ((False,), "S1"), ((True, False, True), "M1")])
def test_business_process_letter_follows_goods_and_services(goods: tuple[bool, ...], expected: str) -> None:
    assert business_process([item("1", "1", goods=kind) for kind in goods]) == expected
    assert business_process([item("1", "1", goods=kind) for kind in goods], "4")[1] == "4"
