"""The e-reporting calendar per VAT regime, with exact dates around February, leap years and year end."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.ereporting.calendar import FilingPeriod, FlowKind, filing_periods, period_containing
from passerelle.invoicing.seller import VatRegime

T, P = FlowKind.TRANSACTIONS, FlowKind.PAYMENTS


def spans(periods: list[FilingPeriod]) -> list[tuple[date, date, date]]:
    return [(p.period_start, p.period_end, p.due_date) for p in periods]


def test_reel_normal_mensuel_transactions_by_decade_in_february() -> None:
    assert spans(filing_periods(VatRegime.REEL_NORMAL_MENSUEL, date(2026, 2, 1), date(2026, 2, 28), T)) == [
        (date(2026, 2, 1), date(2026, 2, 10), date(2026, 2, 20)),
        (date(2026, 2, 11), date(2026, 2, 20), date(2026, 2, 28)),
        (date(2026, 2, 21), date(2026, 2, 28), date(2026, 3, 10)),
    ]


def test_reel_normal_mensuel_leap_february_and_year_end() -> None:
    february = filing_periods(VatRegime.REEL_NORMAL_MENSUEL, date(2028, 2, 15), date(2028, 2, 29), T)
    assert spans(february) == [(date(2028, 2, 11), date(2028, 2, 20), date(2028, 2, 29)),
                               (date(2028, 2, 21), date(2028, 2, 29), date(2028, 3, 10))]
    assert period_containing(VatRegime.REEL_NORMAL_MENSUEL, T, date(2026, 12, 31)) == \
        FilingPeriod(T, date(2026, 12, 21), date(2026, 12, 31), date(2027, 1, 10))
    assert period_containing(VatRegime.REEL_NORMAL_MENSUEL, P, date(2026, 12, 31)) == \
        FilingPeriod(P, date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 10))


def test_a_range_gives_every_overlapping_period_transactions_then_payments() -> None:
    periods = filing_periods(VatRegime.REEL_NORMAL_MENSUEL, date(2026, 1, 15), date(2026, 2, 5))
    assert [(p.kind, p.period_start, p.due_date) for p in periods] == [
        (T, date(2026, 1, 11), date(2026, 1, 31)),
        (T, date(2026, 1, 21), date(2026, 2, 10)),
        (T, date(2026, 2, 1), date(2026, 2, 20)),
        (P, date(2026, 1, 1), date(2026, 2, 10)),
        (P, date(2026, 2, 1), date(2026, 3, 10)),
    ]


def test_reel_normal_trimestriel_is_monthly_due_the_tenth() -> None:
    assert spans(filing_periods(VatRegime.REEL_NORMAL_TRIMESTRIEL, date(2026, 12, 1), date(2027, 2, 1), T)) == [
        (date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 10)),
        (date(2027, 1, 1), date(2027, 1, 31), date(2027, 2, 10)),
        (date(2027, 2, 1), date(2027, 2, 28), date(2027, 3, 10)),
    ]
    assert spans(filing_periods(VatRegime.REEL_NORMAL_TRIMESTRIEL, date(2026, 12, 1), date(2027, 2, 1), P)) == \
        spans(filing_periods(VatRegime.REEL_NORMAL_TRIMESTRIEL, date(2026, 12, 1), date(2027, 2, 1), T))


def test_reel_simplifie_is_monthly_due_the_last_day_of_the_next_month() -> None:
    assert spans(filing_periods(VatRegime.REEL_SIMPLIFIE, date(2027, 12, 31), date(2028, 1, 1), P)) == [
        (date(2027, 12, 1), date(2027, 12, 31), date(2028, 1, 31)),
        (date(2028, 1, 1), date(2028, 1, 31), date(2028, 2, 29)),
    ]


def test_franchise_is_every_two_months_due_at_the_end_of_the_following_month() -> None:
    assert spans(filing_periods(VatRegime.FRANCHISE, date(2028, 1, 10), date(2028, 3, 1), T)) == [
        (date(2028, 1, 1), date(2028, 2, 29), date(2028, 3, 31)),
        (date(2028, 3, 1), date(2028, 4, 30), date(2028, 5, 31)),
    ]
    assert period_containing(VatRegime.FRANCHISE, P, date(2026, 12, 15)) == \
        FilingPeriod(P, date(2026, 11, 1), date(2026, 12, 31), date(2027, 1, 31))


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(ValueError, match="range ends 2026-01-01 before it starts 2026-02-01"):
        filing_periods(VatRegime.FRANCHISE, date(2026, 2, 1), date(2026, 1, 1))


@given(regime=st.sampled_from(list(VatRegime)), kind=st.sampled_from(list(FlowKind)),
       start=st.dates(date(2025, 1, 1), date(2035, 12, 31)), days=st.integers(0, 400))
def test_periods_tile_the_range_without_gap_or_overlap_and_fall_due_after_they_end(
        regime: VatRegime, kind: FlowKind, start: date, days: int) -> None:
    periods = filing_periods(regime, start, start + timedelta(days=days), kind)
    assert periods[0].period_start <= start <= periods[0].period_end
    assert periods[-1].period_start <= start + timedelta(days=days) <= periods[-1].period_end
    for earlier, later in zip(periods, periods[1:]):
        assert later.period_start == earlier.period_end + timedelta(days=1)
    for period in periods:
        assert period.period_end < period.due_date <= period.period_end + timedelta(days=62)
        assert period_containing(regime, kind, period.period_start) == period
