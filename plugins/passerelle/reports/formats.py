"""Amounts, counts, rates and dates as a French (or English) reader writes them, through Babel's CLDR data.

French: ``12 495,00 €``, ``5,5 %``, ``03/12/2026``, ``3 décembre 2026``, ``mars 2026`` (a narrow no-break
space between thousands and before ``%``, a no-break space before ``€``); English (British usage, the one
that writes euros ``€12,495.00`` and days ``03/12/2026`` as France does): ``€12,495.00``, ``5.5%``. Amounts
stay ``Decimal`` up to the text: Babel formats them without a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency, format_decimal

from passerelle.reports.labels import Language

LOCALES: dict[Language, str] = {"fr": "fr_FR", "en": "en_GB"}
NARROW_NBSP = "\u202f"
MISSING = "—"


@dataclass(frozen=True)
class Formats:
    """The formats of one language; every method shows ``—`` for a missing value."""

    language: Language

    @property
    def locale(self) -> str:
        return LOCALES[self.language]

    def money(self, value: Decimal | None, currency: str | None = "EUR") -> str:
        """``12 495,00 €`` / ``€12,495.00``; a plain amount when the currency is unknown."""
        if value is None:
            return MISSING
        if not currency:
            return format_decimal(value, format="#,##0.00", locale=self.locale)
        return format_currency(value, currency, locale=self.locale)

    def number(self, value: int | float | Decimal) -> str:
        """A figure of a chart: ``1 234,5`` (up to two decimals)."""
        return format_decimal(value, format="#,##0.##", locale=self.locale)

    def count(self, value: int | None) -> str:
        return MISSING if value is None else format_decimal(value, locale=self.locale)

    def _percent(self, value: Decimal, pattern: str) -> str:
        return format_decimal(value, format=pattern, locale=self.locale) + (NARROW_NBSP if self.language == "fr"
                                                                            else "") + "%"

    def percent(self, value: Decimal | None) -> str:
        """A share with one decimal: ``66,7 %``."""
        return MISSING if value is None else self._percent(value, "0.0")

    def rate(self, value: Decimal | None) -> str:
        """A VAT rate without trailing zeros: ``5,5 %``, ``20 %``."""
        return MISSING if value is None else self._percent(value, "0.##")

    def day(self, value: date | None) -> str:
        """``03/12/2026``: the short form tables use."""
        return MISSING if value is None else format_date(value, "dd/MM/y", locale=self.locale)

    def long_day(self, value: date | None) -> str:
        """``3 décembre 2026``: the form sentences use."""
        return MISSING if value is None else format_date(value, "long", locale=self.locale)

    def month(self, value: date) -> str:
        """``mars 2026``."""
        return format_skeleton("yMMMM", value, locale=self.locale)

    def moment(self, value: datetime | None) -> str:
        """``3 décembre 2026 14:05 UTC`` (a time without zone is taken as UTC, as the warehouse stores it)."""
        if value is None:
            return MISSING
        utc = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return format_datetime(utc, "d MMMM y HH:mm", tzinfo=timezone.utc, locale=self.locale) + " UTC"
