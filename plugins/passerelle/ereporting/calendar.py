"""When e-reporting data is due: the filing periods of each VAT regime (décret 2022-1299, as read in §5.2).

========================  ===========================================  ====================================
Regime                    Transactions (10.1 / 10.3)                   Payments (10.2 / 10.4)
========================  ===========================================  ====================================
réel normal mensuel       decades: 1–10 due the 20th, 11–20 due the    monthly, due the 10th of M+1
                          month's last day, 21–end due the 10th of M+1
réel normal trimestriel   monthly, due the 10th of M+1                 monthly, due the 10th of M+1
réel simplifié            monthly, due the last day of M+1             monthly, due the last day of M+1
franchise en base         two months (Jan–Feb, Mar–Apr…), due the      same
                          last day of the following month
========================  ===========================================  ====================================

[UNCONFIRMED] for the simplified regime and the franchise the sources give "end of the month" or "between the
25th and the 30th"; the last day of the month is used here as the latest reading. The franchise's two-month
periods are taken aligned on the calendar year. Due dates are not moved off weekends or public holidays.
Check both against the consolidated CGI ann. II art. 242 nonies and the external specifications before go-live.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import date
from enum import Enum

from passerelle.invoicing.seller import VatRegime


class FlowKind(str, Enum):
    TRANSACTIONS = "transactions"  # 10.1 / 10.3
    PAYMENTS = "payments"  # 10.2 / 10.4


@dataclass(frozen=True, order=True)
class FilingPeriod:
    kind: FlowKind
    period_start: date
    period_end: date
    due_date: date


def filing_periods(regime: VatRegime, start: date, end: date, kind: FlowKind | None = None) -> list[FilingPeriod]:
    """Every whole period that overlaps ``start``..``end``: transactions first, then payments, each by date."""
    if end < start:
        raise ValueError(f"filing calendar: range ends {end} before it starts {start}")
    kinds = [kind] if kind else list(FlowKind)
    found = []
    for flow in kinds:
        month = _period_month(regime, start)
        while month <= end:
            found += [period for period in _periods_from(regime, flow, month)
                      if period.period_end >= start and period.period_start <= end]
            month = _add_months(month, _months_per_period(regime))
    return found


def period_containing(regime: VatRegime, kind: FlowKind, day: date) -> FilingPeriod:
    """The period of ``kind`` that ``day`` falls in, with its due date."""
    for period in _periods_from(regime, kind, _period_month(regime, day)):
        if period.period_start <= day <= period.period_end:
            return period
    raise AssertionError(f"no {kind.value} period contains {day}")  # the periods tile every month


def _periods_from(regime: VatRegime, kind: FlowKind, month: date) -> list[FilingPeriod]:
    """The periods that start in ``month`` (its first day)."""
    regime = VatRegime(regime)
    month_end = _month_end(month)
    next_month = _add_months(month, 1)
    if regime is VatRegime.REEL_NORMAL_MENSUEL and kind is FlowKind.TRANSACTIONS:
        return [
            FilingPeriod(kind, month, month.replace(day=10), month.replace(day=20)),
            FilingPeriod(kind, month.replace(day=11), month.replace(day=20), month_end),
            FilingPeriod(kind, month.replace(day=21), month_end, next_month.replace(day=10)),
        ]
    if regime in (VatRegime.REEL_NORMAL_MENSUEL, VatRegime.REEL_NORMAL_TRIMESTRIEL):
        return [FilingPeriod(kind, month, month_end, next_month.replace(day=10))]
    if regime is VatRegime.REEL_SIMPLIFIE:
        return [FilingPeriod(kind, month, month_end, _month_end(next_month))]
    second_month = _month_end(next_month)  # franchise: two months, due at the end of the third
    return [FilingPeriod(kind, month, second_month, _month_end(_add_months(month, 2)))]


def _months_per_period(regime: VatRegime) -> int:
    return 2 if VatRegime(regime) is VatRegime.FRANCHISE else 1


def _period_month(regime: VatRegime, day: date) -> date:
    """First day of the month in which ``day``'s period starts (odd months for the franchise's pairs)."""
    month = day.month - (day.month - 1) % _months_per_period(regime)
    return date(day.year, month, 1)


def _month_end(day: date) -> date:
    return day.replace(day=_calendar.monthrange(day.year, day.month)[1])


def _add_months(first_day: date, months: int) -> date:
    index = first_day.year * 12 + first_day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)
