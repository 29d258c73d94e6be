"""Amounts as French readers write them: ``1 234,56`` (narrow no-break space between thousands, decimal comma).

One place for the format outside the compliance report (a project summary and anything else people read),
written by Babel from CLDR's ``fr_FR`` data as the report's :mod:`passerelle.reports.formats` is, so they agree."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal


def montant(value: Decimal | None) -> str:
    """``1 234,56``; ``—`` for a missing amount."""
    return "—" if value is None else format_decimal(value, format="#,##0.00", locale="fr_FR")
