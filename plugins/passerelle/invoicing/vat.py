"""Which VAT category, rate and exemption a line gets, from where the buyer is and what is sold.

French VAT territoriality, as far as an invoicing pipeline must decide it:

* seller under *franchise en base* (art. 293 B CGI): every line is E with ``VATEX-FR-FRANCHISE``;
* buyer in France (company or individual): the product's French rate, category S; a 0 % product is an
  exempt supply (E), the only one in the catalogue being continuing vocational training (art. 261-4-4° a);
* company elsewhere in the EU: services are reverse-charged (AE, art. 283-2 / 196 of the VAT directive),
  goods are an exempt intra-community supply (K, art. 262 ter I);
* buyer outside the EU: export (G) — goods under art. 262 I; services to a foreign business are outside
  French VAT (art. 259-1) and are declared with the same export category, since category O would forbid
  the seller's VAT number on the invoice (BR-O-02);
* an individual outside France is charged French VAT (distance-sales thresholds are not modelled).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from passerelle.invoicing.model import Exemption, ProcessingRule, VatCategory

FRENCH_RATES = frozenset(Decimal(rate) for rate in ("20", "10", "8.5", "5.5", "2.1", "13", "7", "1.05", "0.9",
                                                      "1.75", "9.2", "9.6", "19.6", "20.6", "0"))
ZERO = Decimal("0")

FRANCHISE = Exemption("TVA non applicable, article 293 B du CGI", "VATEX-FR-FRANCHISE")
TRAINING = Exemption("Exonération de TVA, article 261-4-4° a du CGI (formation professionnelle continue)",
                     "VATEX-FR-CGI261-4")
REVERSE_CHARGE = Exemption("Autoliquidation, article 283-2 du CGI et article 196 de la directive 2006/112/CE",
                           "VATEX-EU-AE")
INTRA_EU_GOODS = Exemption("Exonération de TVA, article 262 ter I du CGI (livraison intracommunautaire)",
                           "VATEX-EU-IC")
EXPORT_GOODS = Exemption("Exonération de TVA, article 262 I du CGI (exportation)", "VATEX-EU-G")
EXPORT_SERVICES = Exemption("TVA non applicable, article 259-1 du CGI (prestation à un preneur hors UE)",
                            "VATEX-EU-G")


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


def line_vat(*, rule: ProcessingRule, buyer_in_eu: bool, product_rate: Decimal | None, is_goods: bool,
             franchise: bool) -> LineVat:
    """The category, rate and exemption of one line. ``product_rate`` is the French rate in percent."""
    if franchise:
        return LineVat(VatCategory.EXEMPT, ZERO, FRANCHISE)
    if rule is ProcessingRule.B2BINT:
        if buyer_in_eu:
            if is_goods:
                return LineVat(VatCategory.INTRA_EU, ZERO, INTRA_EU_GOODS)
            return LineVat(VatCategory.REVERSE_CHARGE, ZERO, REVERSE_CHARGE)
        return LineVat(VatCategory.EXPORT, ZERO, EXPORT_GOODS if is_goods else EXPORT_SERVICES)
    if product_rate is None:
        raise ValueError("a domestic line needs a VAT rate")
    if product_rate not in FRENCH_RATES:
        raise ValueError(f"VAT rate {product_rate} % is not a French rate")
    if product_rate == ZERO:
        return LineVat(VatCategory.EXEMPT, ZERO, TRAINING)
    return LineVat(VatCategory.STANDARD, product_rate, None)
