"""The UBL validator, run for real: the OASIS XSD matching the root (Invoice or CreditNote), then the EN 16931
UBL and BR-FR Flux 2 UBL stylesheets; defects in the UBL encoding itself are reported with the official ids."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from passerelle.documents.render import render_cii, render_ubl
from passerelle.documents.validation import Finding, UblValidator, has_fatal
from passerelle_dev import samples

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"


def edited(xml: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(xml)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def rules(findings: list[Finding]) -> dict[str, str]:
    return {finding.rule: finding.severity for finding in findings}


def test_invoice_and_credit_note_each_meet_their_own_schema(ubl_validator: UblValidator) -> None:
    invoice, credit = render_ubl(samples.b2b_multi_rate()), render_ubl(samples.credit_note())
    assert [etree.QName(etree.fromstring(doc)).localname for doc in (invoice, credit)] == ["Invoice", "CreditNote"]
    assert ubl_validator.validate(invoice) == [] and ubl_validator.validate(credit) == []


def test_credit_note_is_checked_against_the_credit_note_schema(ubl_validator: UblValidator) -> None:
    def invoice_type_code(root: etree._Element) -> None:
        root.find(f"{{{CBC}}}CreditNoteTypeCode").tag = f"{{{CBC}}}InvoiceTypeCode"
    findings = ubl_validator.validate(edited(render_ubl(samples.credit_note()), invoice_type_code))
    assert rules(findings) == {"XSD": "fatal", "BR-CL-01": "fatal"}  # BR-CL-01: the type code is gone
    assert "InvoiceTypeCode" in next(f.message for f in findings if f.layer == "xsd")


def test_missing_legal_note_in_ubl_encoding_breaks_br_fr_05(ubl_validator: UblValidator) -> None:
    def drop_pmt(root: etree._Element) -> None:
        for note in root.findall(f"{{{CBC}}}Note"):
            if note.text.startswith("#PMT#"):
                root.remove(note)
    findings = ubl_validator.validate(edited(render_ubl(samples.b2b_multi_rate()), drop_pmt))
    assert rules(findings) == {"BR-FR-05_BT-22-1": "fatal"} and "PMT" in findings[0].message


def test_type_code_outside_the_french_list_breaks_br_fr_04(ubl_validator: UblValidator) -> None:
    def debit_note(root: etree._Element) -> None:
        root.find(f"{{{CBC}}}InvoiceTypeCode").text = "383"
    findings = ubl_validator.validate(edited(render_ubl(samples.b2b_multi_rate()), debit_note))
    assert rules(findings).get("BR-FR-04_BT-3") == "fatal"


def test_payable_amount_tampered_breaks_br_co_16(ubl_validator: UblValidator) -> None:
    def tamper(root: etree._Element) -> None:
        root.find(f"{{{CAC}}}LegalMonetaryTotal/{{{CBC}}}PayableAmount").text = "1.00"
    findings = ubl_validator.validate(edited(render_ubl(samples.b2b_multi_rate()), tamper))
    assert rules(findings) == {"BR-CO-16": "fatal"} and {f.layer for f in findings} == {"en16931"}


def test_other_documents_and_garbage_are_fatal_xsd_findings(ubl_validator: UblValidator) -> None:
    [cii] = ubl_validator.validate(render_cii(samples.b2b_multi_rate()))
    assert (cii.layer, cii.rule, cii.fatal) == ("xsd", "XSD", True) and "CrossIndustryInvoice" in cii.message
    [garbage] = ubl_validator.validate(b"<Invoice")
    assert (garbage.layer, garbage.rule, garbage.fatal) == ("xsd", "XML", True)


def test_one_validator_checks_many_documents(ubl_validator: UblValidator) -> None:
    good = render_ubl(samples.b2b_multi_rate())
    bad = edited(good, lambda root: setattr(root.find(f"{{{CBC}}}InvoiceTypeCode"), "text", "383"))
    results = [ubl_validator.validate(document) for document in (good, bad, good, bad)]
    assert [has_fatal(findings) for findings in results] == [False, True, False, True]
