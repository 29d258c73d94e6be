"""Which VAT category, rate and exemption a line gets, from where the buyer is and what is sold.

French VAT territoriality, as far as an invoicing pipeline must decide it (the categories, codes, mentions
and their legal sources are in :mod:`passerelle.invoicing.vat_rules`):

* seller under *franchise en base* (art. 293 B CGI): every line is E with ``VATEX-FR-FRANCHISE``;
* buyer in France (company or individual): the product's French rate, category S; a 0 % product is an
  exempt supply (E), the only one in the catalogue being continuing vocational training (art. 261-4-4° a);
* company elsewhere in the EU: services are located in the buyer's state and reverse-charged (AE,
  art. 259-1 CGI, art. 44 and 196 of the VAT directive), goods are an exempt intra-community supply
  (K, art. 262 ter I);
* buyer outside the EU: export (G) — goods under art. 262 I; services to a foreign business are outside
  French VAT (art. 259-1) and are declared with the same export category, since category O would forbid
  the seller's VAT number on the invoice (BR-O-02);
* an individual outside France is charged French VAT (distance-sales thresholds are not modelled).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from passerelle.einvoice.model import Exemption, ProcessingRule, VatCategory
from passerelle.invoicing.vat_rules import (  # noqa: F401  (re-exported: the mentions by name)
    EXPORT_GOODS, EXPORT_GOODS_AND_SERVICES, EXPORT_SERVICES, FRANCHISE, INTRA_EU_GOODS, REVERSE_CHARGE, RULES,
    TRAINING, VatCase,
)

FRENCH_RATES = frozenset(Decimal(rate) for rate in ("20", "10", "8.5", "5.5", "2.1", "13", "7", "1.05", "0.9",
                                                      "1.75", "9.2", "9.6", "19.6", "20.6", "0"))
ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class LineVat:
    category: VatCategory
    rate: Decimal
    exemption: Exemption | None


def processing_rule(customer_type: str | None, country_code: str | None) -> ProcessingRule:
    """B2C for individuals, B2BINT for companies not established in France, B2B otherwise."""
    if customer_type == "B2C":
        return ProcessingRule.B2C
    if country_code and country_code != "FR":
        return ProcessingRule.B2BINT
    return ProcessingRule.B2B


def vat_case(*, rule: ProcessingRule, buyer_in_eu: bool, product_rate: Decimal | None, is_goods: bool,
             franchise: bool) -> VatCase:
    """The row of the rule table a line falls under."""
    if franchise:
        return VatCase.FRANCHISE
    if rule is ProcessingRule.B2BINT:
        if buyer_in_eu:
            return VatCase.INTRA_EU_GOODS if is_goods else VatCase.INTRA_EU_SERVICES
        return VatCase.EXPORT_GOODS if is_goods else VatCase.EXPORT_SERVICES
    if product_rate is None:
        raise ValueError("a domestic line needs a VAT rate")
    if product_rate not in FRENCH_RATES:
        raise ValueError(f"VAT rate {product_rate} % is not a French rate")
    return VatCase.DOMESTIC_TRAINING if product_rate == ZERO else VatCase.DOMESTIC


def line_vat(*, rule: ProcessingRule, buyer_in_eu: bool, product_rate: Decimal | None, is_goods: bool,
             franchise: bool) -> LineVat:
    """The category, rate and exemption of one line. ``product_rate`` is the French rate in percent."""
    row = RULES[vat_case(rule=rule, buyer_in_eu=buyer_in_eu, product_rate=product_rate, is_goods=is_goods,
                         franchise=franchise)]
    rate = row.rate if row.rate is not None else product_rate
    assert rate is not None  # vat_case refused a domestic line without a rate
    return LineVat(row.category, rate, row.exemption)
