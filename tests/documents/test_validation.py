"""The official rules, run for real: a compliant French B2B invoice passes all three layers, and each
kind of defect is reported with the official rule id, as fatal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree
from saxonche import PySaxonProcessor

from passerelle.documents.validation import SCHEMATRONS, CiiValidator, Finding, has_fatal

VALID = Path(__file__).with_name("invoices") / "b2b_services_fr.xml"
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
BUYER = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty"
SVRL_NS = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


@pytest.fixture(scope="module")
def validator() -> Iterator[CiiValidator]:
    with CiiValidator() as compiled:  # stylesheets compiled once for the whole module
        yield compiled


def edited(change: Callable[[etree._Element], None]) -> bytes:
    root = etree.parse(str(VALID)).getroot()
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def set_text(path: str, value: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        root.find(path, NS).text = value
    return change


def remove(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        node = root.find(path, NS)
        node.getparent().remove(node)
    return change


def rules(findings: list[Finding]) -> dict[str, str]:
    return {finding.rule: finding.severity for finding in findings}


def test_compliant_invoice_passes_xsd_en16931_and_br_fr(validator: CiiValidator) -> None:
    assert validator.validate(VALID.read_bytes()) == []


def test_wrong_total_breaks_the_en16931_totals_rules(validator: CiiValidator) -> None:
    findings = validator.validate(edited(set_text(
        f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount", "1930.00")))
    assert {finding.layer for finding in findings} == {"en16931"}
    assert {"BR-CO-15", "BR-CO-16"} <= set(rules(findings)) and has_fatal(findings)
    assert "BT-112" in next(f.message for f in findings if f.rule == "BR-CO-15")


def test_missing_buyer_siren_breaks_br_fr_11(validator: CiiValidator) -> None:
    findings = validator.validate(edited(remove(f"{BUYER}/ram:SpecifiedLegalOrganization")))
    assert rules(findings) == {"BR-FR-11_BT-47": "fatal"}
    assert findings[0].layer == "br-fr" and "SIREN" in findings[0].message


def test_vat_rate_not_french_breaks_br_fr_16(validator: CiiValidator) -> None:
    def six_percent(root: etree._Element) -> None:
        for node in root.iterfind(".//ram:RateApplicablePercent", NS):
            node.text = "6"
    findings = validator.validate(edited(six_percent))
    assert rules(findings).get("BR-FR-16_BT-152") == "fatal"
    assert 'Taux fourni : "6' in next(f.message for f in findings if f.rule == "BR-FR-16_BT-152")


def test_type_code_outside_the_french_list_breaks_br_fr_04(validator: CiiValidator) -> None:
    findings = validator.validate(edited(set_text("rsm:ExchangedDocument/ram:TypeCode", "383")))  # debit note
    assert rules(findings).get("BR-FR-04_BT-3") == "fatal"


def test_schema_violation_and_garbage_are_fatal_xsd_findings(validator: CiiValidator) -> None:
    def unknown_element(root: etree._Element) -> None:
        etree.SubElement(root.find("rsm:ExchangedDocument", NS), f"{{{NS['ram']}}}Colour").text = "blue"
    findings = validator.validate(edited(unknown_element))
    xsd = [finding for finding in findings if finding.layer == "xsd"]
    assert xsd and all(f.fatal for f in xsd) and "Colour" in xsd[0].message
    [garbage] = validator.validate(b"<rsm:CrossIndustryInvoice")
    assert (garbage.layer, garbage.rule, garbage.fatal) == ("xsd", "XML", True)


def test_one_validator_checks_many_documents(validator: CiiValidator) -> None:
    good, bad = VALID.read_bytes(), edited(remove(f"{BUYER}/ram:SpecifiedLegalOrganization"))
    results = [validator.validate(document) for document in (good, bad, good, bad)]
    assert [has_fatal(findings) for findings in results] == [False, True, False, True]


def test_code_lists_read_when_compiling_still_reject_an_unknown_code(validator: CiiValidator) -> None:
    """The EN 16931 code lists are read once, when the stylesheet is compiled: they must still apply."""
    findings = validator.validate(edited(set_text(f"{BUYER}/ram:PostalTradeAddress/ram:CountryID", "ZZ")))
    assert rules(findings) == {"FX-SCH-A-000568": "fatal"}  # BT-55, checked against ISO 3166
    assert "CountryID" in findings[0].message


def test_findings_are_those_of_a_plain_saxon_run(validator: CiiValidator) -> None:
    """Same rule ids, flags and locations as the stylesheets run with SaxonC's defaults (code lists read
    at run time, indented SVRL), read here with XPath rather than the validator's parser."""
    broken = [
        edited(set_text(f"{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount",
                        "1930.00")),
        edited(remove(f"{BUYER}/ram:SpecifiedLegalOrganization")),
        edited(set_text(f"{SETTLEMENT}/ram:InvoiceCurrencyCode", "ZZZ")),
        edited(set_text(f"{BUYER}/ram:PostalTradeAddress/ram:CountryID", "ZZ")),
        edited(set_text("rsm:ExchangedDocument/ram:TypeCode", "383")),
    ]
    saxon = PySaxonProcessor(license=False)
    compiler = saxon.new_xslt30_processor()
    plain = {layer: compiler.compile_stylesheet(stylesheet_file=str(path)) for layer, path in SCHEMATRONS.items()}
    for document in broken:
        expected = set()
        node = saxon.parse_xml(xml_text=document.decode("utf-8"))
        for layer, stylesheet in plain.items():
            svrl = etree.fromstring(stylesheet.transform_to_string(xdm_node=node).encode("utf-8"))
            for item in svrl.xpath("//svrl:failed-assert | //svrl:successful-report", namespaces=SVRL_NS):
                expected.add((layer, item.get("id") or "?", (item.get("flag") or "fatal").lower(), item.get("location")))
        found = {(f.layer, f.rule, f.severity, f.location) for f in validator.validate(document) if f.layer != "xsd"}
        assert found == expected and expected
