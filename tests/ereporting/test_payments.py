"""Status 212 payment data: the amount received split per VAT rate, cents exact; statuses and reasons."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.ereporting.payments import (
    MANDATORY_STATUSES, REASON_CODES, REASONS_BY_STATUS, STATUS_LABELS, CashedPart, cashed_per_rate, reason_allowed,
    requires_reason,
)
from passerelle.einvoice.amounts import compute
from passerelle.einvoice.model import InvoiceLine, ProcessingRule, VatCategory
from passerelle_dev import samples

D = Decimal
MULTI = samples.b2b_multi_rate()


def test_full_payment_gives_back_each_rates_total_and_vat() -> None:
    breakdown = compute(MULTI).vat_breakdown
    total = compute(MULTI).totals.grand_total
    parts = cashed_per_rate(MULTI, total)
    expected = {}
    for row in breakdown:
        incl, vat = expected.get(row.rate, (D(0), D(0)))
        expected[row.rate] = (incl + row.taxable_amount + row.tax_amount, vat + row.tax_amount)
    assert {part.rate: (part.amount_incl_vat, part.vat_amount) for part in parts} == expected
    assert [part.rate for part in parts] == [D("20.00"), D("0.00"), D("5.50"), D("10.00"), D("2.10")]


def test_partial_payment_is_split_in_proportion_and_sums_exactly() -> None:
    parts = cashed_per_rate(MULTI, D("1000.00"))
    assert parts == [
        CashedPart(D("20.00"), D("687.13"), D("114.52")),  # 1000 × 4549.50 / 6621.09; VAT 687.13 × 758.25 / 4549.50
        CashedPart(D("0.00"), D("196.34"), D("0.00")),
        CashedPart(D("5.50"), D("49.71"), D("2.59")),
        CashedPart(D("10.00"), D("37.21"), D("3.38")),
        CashedPart(D("2.10"), D("29.61"), D("0.61")),
    ]
    assert sum(part.amount_incl_vat for part in parts) == D("1000.00")


def test_the_rounding_cent_goes_to_the_largest_part() -> None:
    """Three rates at 120.00 each, one at 121.00 VAT included: 100.00 rounds to 25.16 + 3 × 24.95 = 100.01,
    so the 0 % part, the largest, gives back the extra cent."""
    rule = ProcessingRule.B2B
    invoice = samples.invoice(samples.BUYER_FR, rule, [
        InvoiceLine("1", "Conseil", D("1"), "C62", D("100.00"), VatCategory.STANDARD, D("20")),
        InvoiceLine("2", "Repas", D("1"), "C62", D("109.09"), VatCategory.STANDARD, D("10")),
        InvoiceLine("3", "Livre", D("1"), "C62", D("113.74"), VatCategory.STANDARD, D("5.5")),
        InvoiceLine("4", "Formation", D("1"), "C62", D("121.00"), VatCategory.EXEMPT, D("0")),
    ])
    parts = cashed_per_rate(invoice, D("100.00"))
    assert [(part.rate, part.amount_incl_vat) for part in parts] == [
        (D("0.00"), D("25.15")), (D("20.00"), D("24.95")), (D("10.00"), D("24.95")), (D("5.50"), D("24.95"))]
    assert sum(part.amount_incl_vat for part in parts) == D("100.00")


def test_rates_shared_by_several_categories_make_one_part() -> None:
    parts = cashed_per_rate(samples.intra_eu(), D("500.00"))  # AE and K, both at 0 %
    assert parts == [CashedPart(D("0.00"), D("500.00"), D("0.00"))]


@pytest.mark.parametrize("amount", ["0", "-5.00", "10.005", "10000000.00"])
def test_amounts_that_cannot_be_cashed_are_refused_naming_the_invoice(amount: str) -> None:
    with pytest.raises(ValueError, match="invoice MS2026-000001: amount received"):
        cashed_per_rate(MULTI, D(amount))


@given(cents=st.integers(1, 1_000_000), prices=st.lists(st.integers(1, 10_000_000), min_size=1, max_size=5))
def test_any_payment_splits_exactly_within_a_cent_of_the_proportion(cents: int, prices: list[int]) -> None:
    rates = [D("20"), D("10"), D("5.5"), D("2.1"), D("8.5")]
    lines = [InvoiceLine(str(n), "Article", D(1), "C62", D(price) / 100, VatCategory.STANDARD, rates[n])
             for n, price in enumerate(prices)]
    invoice = replace(MULTI, lines=tuple(lines), allowances_charges=(), exemptions={})
    total = compute(invoice).totals.grand_total
    amount = min(D(cents) / 100, total)
    parts = cashed_per_rate(invoice, amount)
    assert sum(part.amount_incl_vat for part in parts) == amount
    totals = {row.rate: row.taxable_amount + row.tax_amount for row in compute(invoice).vat_breakdown}
    for part in parts:
        assert abs(part.amount_incl_vat - amount * totals[part.rate] / total) <= D("0.01") * len(parts)
        assert 0 <= part.vat_amount <= part.amount_incl_vat


def test_statuses_and_the_reasons_they_require() -> None:
    assert (STATUS_LABELS[200], STATUS_LABELS[210], STATUS_LABELS[212], STATUS_LABELS[213]) == \
        ("Déposée", "Refusée", "Encaissée", "Rejetée")
    assert MANDATORY_STATUSES == {200, 210, 212, 213}
    assert {code for code in STATUS_LABELS if requires_reason(code)} == {206, 207, 208, 210, 213, 501}
    assert not requires_reason(212)


def test_reason_codes_follow_the_cdar_code_list() -> None:
    assert len(REASON_CODES) == len(set(REASON_CODES)) == 51
    assert {"TX_TVA_ERR", "DOUBLON", "DEST_ERR", "SIRET_ERR", "REJ_CONT_B2G"} <= set(REASON_CODES)
    assert all(reasons <= set(REASON_CODES) for reasons in REASONS_BY_STATUS.values())
    assert reason_allowed(213, "DOUBLON") and not reason_allowed(213, "TX_TVA_ERR")
    assert reason_allowed(212, "AUTRE") and not reason_allowed(212, "PAS_UN_CODE")
