"""Amounts as French readers write them: ``1 234,56`` (narrow no-break space between thousands, decimal comma).

One place for the format, so a report, a project summary and anything else people read agree."""

from __future__ import annotations

from decimal import Decimal

NARROW_NBSP = "\u202f"


def montant(value: Decimal | None) -> str:
    """``1 234,56``; ``—`` for a missing amount."""
    return "—" if value is None else f"{value:,.2f}".replace(",", NARROW_NBSP).replace(".", ",")
