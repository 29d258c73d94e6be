"""The VAT rule table: for each situation, the category, rate, VATEX code (BT-121) and mention (BT-120).

One row per case a French seller meets; :mod:`passerelle.invoicing.vat` picks the row, the drafts copy its
exemption into the breakdown (BG-23) of its (category, rate). Every code is in the CEF VATEX list the
EN 16931 schematron checks (BR-CL-22); the legal source of each mention is in the comment beside it.

EN 16931 allows exactly one breakdown row per exempt category (BR-E-01, BR-AE-01, BR-IC-01, BR-G-01), so two
cases that share a category must share a row. The only pair that can meet on one invoice is export goods and
services to a business outside the EU (both G, VATEX-EU-G, different articles): their row then carries
:data:`EXPORT_GOODS_AND_SERVICES`, one text naming both articles (see :func:`combined`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from passerelle.einvoice.model import Exemption, VatCategory

ZERO = Decimal("0")


class VatCase(str, Enum):
    """What decides a line's VAT: the seller's regime, where the buyer is, goods or services."""

    FRANCHISE = "franchise"
    DOMESTIC = "domestic"
    DOMESTIC_TRAINING = "domestic_training"
    INTRA_EU_SERVICES = "intra_eu_services"
    INTRA_EU_GOODS = "intra_eu_goods"
    EXPORT_GOODS = "export_goods"
    EXPORT_SERVICES = "export_services"


@dataclass(frozen=True, slots=True)
class VatRule:
    category: VatCategory
    rate: Decimal | None  # None: the product's French rate
    exemption: Exemption | None


# Seller under the franchise en base: no VAT charged. CGI art. 293 B (mention required by art. 293 B III).
FRANCHISE = Exemption("TVA non applicable, article 293 B du CGI", "VATEX-FR-FRANCHISE")
# Continuing vocational training: exempt. CGI art. 261-4-4° a (directive 2006/112/CE art. 132-1 i).
TRAINING = Exemption("Exonération de TVA, article 261-4-4° a du CGI (formation professionnelle continue)",
                     "VATEX-FR-CGI261-4")
# Services to a business established in another member state: located where the buyer is established
# (CGI art. 259-1, directive art. 44), VAT due by the buyer (directive art. 196). The invoice says
# "Autoliquidation" (CGI art. 242 nonies A, I-13° of annex II; directive art. 226-11 bis).
# CGI art. 283-2 is the opposite case (a foreign supplier to a French buyer) and does not belong here.
REVERSE_CHARGE = Exemption("Autoliquidation, article 196 de la directive 2006/112/CE (prestation de services "
                           "située dans l'État membre du preneur, article 259-1 du CGI)", "VATEX-EU-AE")
# Goods dispatched to a business in another member state: exempt intra-community supply.
# CGI art. 262 ter I (directive art. 138).
INTRA_EU_GOODS = Exemption("Exonération de TVA, article 262 ter I du CGI (livraison intracommunautaire)",
                           "VATEX-EU-IC")
# Goods shipped outside the EU: exempt export. CGI art. 262 I (directive art. 146).
EXPORT_GOODS = Exemption("Exonération de TVA, article 262 I du CGI (exportation)", "VATEX-EU-G")
# Services to a business established outside the EU: located outside France, CGI art. 259-1 (directive
# art. 44). Declared under G, not O, because O forbids the seller's VAT number on the invoice (BR-O-02).
EXPORT_SERVICES = Exemption("TVA non applicable, article 259-1 du CGI (prestation à un preneur hors UE)",
                            "VATEX-EU-G")
# Both of the above on one invoice: one G row (BR-G-01), one text naming both articles.
EXPORT_GOODS_AND_SERVICES = Exemption(
    "Exonération de TVA, article 262 I du CGI (exportation de biens) ; TVA non applicable, article 259-1 du CGI "
    "(prestations à un preneur hors UE)", "VATEX-EU-G")

RULES: dict[VatCase, VatRule] = {
    VatCase.FRANCHISE: VatRule(VatCategory.EXEMPT, ZERO, FRANCHISE),
    VatCase.DOMESTIC: VatRule(VatCategory.STANDARD, None, None),
    VatCase.DOMESTIC_TRAINING: VatRule(VatCategory.EXEMPT, ZERO, TRAINING),
    VatCase.INTRA_EU_SERVICES: VatRule(VatCategory.REVERSE_CHARGE, ZERO, REVERSE_CHARGE),
    VatCase.INTRA_EU_GOODS: VatRule(VatCategory.INTRA_EU, ZERO, INTRA_EU_GOODS),
    VatCase.EXPORT_GOODS: VatRule(VatCategory.EXPORT, ZERO, EXPORT_GOODS),
    VatCase.EXPORT_SERVICES: VatRule(VatCategory.EXPORT, ZERO, EXPORT_SERVICES),
}

# Mentions that may share one breakdown row, and the single text that row then carries.
COMBINED: dict[frozenset[Exemption], Exemption] = {
    frozenset({EXPORT_GOODS, EXPORT_SERVICES}): EXPORT_GOODS_AND_SERVICES,
}


def combined(current: Exemption | None, new: Exemption) -> Exemption:
    """The mention of a breakdown row that already has ``current`` and receives a line needing ``new``.

    Raises ``ValueError`` for two mentions no single row can carry (one would be silently lost).
    """
    if current is None or current == new:
        return new
    parts = {current, new}
    for pair, text in COMBINED.items():
        if parts <= pair | {text}:
            return text
    raise ValueError(f"one VAT breakdown row cannot carry both {current.reason!r} and {new.reason!r}")
