"""The Factur-X PDF: the CII rides inside a PDF/A-3 (XMP identification, sRGB output intent, embedded fonts,
/AF), the page says what the XML says in French, and the same invoice always gives the same bytes."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from passerelle.documents.pdf import money, render_facturx, render_pdf
from passerelle.documents.render import render_cii
from passerelle.documents.validation import CiiValidator, Finding, validate_facturx_pdf
from passerelle.einvoice.amounts import compute
from passerelle.einvoice.model import Invoice, VatPoint
from passerelle_dev import samples

XMP = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}
DEBITS = "Option pour le paiement de la taxe d'après les débits"


@dataclass(frozen=True)
class Rendered:
    invoice: Invoice
    cii: bytes
    pdf: bytes

    @property
    def reader(self) -> PdfReader:
        return PdfReader(io.BytesIO(self.pdf))

    @property
    def text(self) -> str:
        """The page text with every kind of space (the PDF prints narrow no-break ones) as one space."""
        return words("\n".join(page.extract_text() for page in self.reader.pages))


def words(text: str) -> str:
    return " ".join(text.split())


def render(invoice: Invoice) -> Rendered:
    cii = render_cii(invoice)
    return Rendered(invoice, cii, render_facturx(invoice, cii))


@pytest.fixture(scope="module")
def rendered(sample: Callable[[str], Invoice]) -> dict[str, Rendered]:
    """Every sample as a Factur-X PDF, rendered once; prints how long the CII + PDF take per invoice."""
    documents, started = {}, time.perf_counter()
    for name in samples.ALL:
        documents[name] = render(sample(name))
    elapsed = (time.perf_counter() - started) / len(documents)
    print(f"\nrender_cii + render_facturx: {elapsed * 1000:.0f} ms per invoice over {len(documents)} samples")
    return documents


def rules(findings: list[Finding]) -> set[str]:
    return {finding.rule for finding in findings}


@pytest.mark.parametrize("name", sorted(samples.ALL))
def test_embedded_xml_is_the_cii_at_en16931_and_passes(rendered: dict[str, Rendered], name: str,
                                                       cii_validator: CiiValidator) -> None:
    document = rendered[name]
    filename, xml = facturx.get_xml_from_pdf(document.pdf, check_xsd=False)
    assert (filename, xml) == ("factur-x.xml", document.cii)
    root = etree.fromstring(xml)
    assert (facturx.get_flavor(root), facturx.get_level(root)) == ("factur-x", "en16931")
    assert validate_facturx_pdf(document.pdf, cii_validator) == []


def test_pdfa3_identification_output_intent_and_associated_file(rendered: dict[str, Rendered]) -> None:
    reader = rendered["b2b_multi_rate"].reader
    root = reader.trailer["/Root"]
    assert reader.pdf_header == "%PDF-1.7"
    metadata = root["/Metadata"].get_object()
    assert "/Filter" not in metadata  # PDF/A: the XMP stream stays readable without decoding
    xmp = etree.fromstring(metadata.get_data())
    assert [xmp.findtext(f".//{tag}", namespaces=XMP) for tag in
            ("pdfaid:part", "pdfaid:conformance", "fx:ConformanceLevel", "fx:DocumentType",
             "fx:DocumentFileName", "fx:Version")] == ["3", "B", "EN 16931", "INVOICE", "factur-x.xml", "1.0"]
    [intent] = root["/OutputIntents"]
    intent = intent.get_object()
    profile = intent["/DestOutputProfile"].get_object()
    assert (intent["/S"], intent["/OutputConditionIdentifier"], profile["/N"]) == ("/GTS_PDFA1", "sRGB", 3)
    assert profile.get_data()[36:40] == b"acsp"  # an ICC profile
    [spec] = [item.get_object() for item in root["/AF"].get_object()]
    assert (spec["/F"], spec["/AFRelationship"], spec["/EF"]["/F"].get_object()["/Subtype"]) == (
        "factur-x.xml", "/Data", "/text/xml")


def test_info_dictionary_matches_the_xmp_and_dates_are_the_issue_date(rendered: dict[str, Rendered]) -> None:
    """PDF/A requires every document-info entry to have its XMP equivalent."""
    reader = rendered["b2b_multi_rate"].reader
    info = reader.metadata
    xmp = etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
    assert set(info) == {"/Title", "/Author", "/Subject", "/Creator", "/CreationDate", "/ModDate"}
    assert info["/Title"] == xmp.findtext(".//dc:title/rdf:Alt/rdf:li", namespaces=XMP)
    assert info["/Author"] == xmp.findtext(".//dc:creator/rdf:Seq/rdf:li", namespaces=XMP) == "Maury Solutions SAS"
    assert info["/Subject"] == xmp.findtext(".//dc:description/rdf:Alt/rdf:li", namespaces=XMP)
    assert info["/Creator"] == xmp.findtext(".//xmp:CreatorTool", namespaces=XMP)
    assert info["/CreationDate"] == info["/ModDate"] == "D:20260331000000+00'00'"
    assert xmp.findtext(".//xmp:CreateDate", namespaces=XMP) == xmp.findtext(".//xmp:ModifyDate", namespaces=XMP) \
        == "2026-03-31T00:00:00+00:00"


def test_every_font_is_embedded(rendered: dict[str, Rendered]) -> None:
    fonts: dict[str, DictionaryObject] = {}
    for name in ("b2b_multi_rate", "credit_note"):
        for page in rendered[name].reader.pages:
            for font in page["/Resources"]["/Font"].values():
                font = font.get_object()
                fonts[font["/BaseFont"]] = font
    assert len(fonts) == 2  # DejaVu Sans and DejaVu Sans Bold, nothing else
    for font in fonts.values():
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, font["/BaseFont"]


def test_page_shows_number_parties_totals_and_payment(rendered: dict[str, Rendered]) -> None:
    document = rendered["b2b_multi_rate"]
    invoice, text = document.invoice, document.text
    totals = compute(invoice).totals
    for expected in ("Facture", invoice.number, f"SIREN : {invoice.seller.siren}", f"SIREN : {invoice.buyer.siren}",
                     f"SIRET : {invoice.buyer.siret}", f"N° TVA : {invoice.seller.vat_number}",
                     f"Net à payer {money(totals.due_payable, 'EUR')}", f"Total TTC {money(totals.grand_total, 'EUR')}",
                     "Date d'échéance : 30/04/2026", "IBAN : FR76 3000 6000 0112 3456 7890 189", "BIC : BNPAFRPPXXX",
                     invoice.payment_terms, "Remise commerciale (10 %) : −106,25 €", "Frais de port"):
        assert words(expected) in text, expected
    assert words(money(totals.grand_total, "EUR")) == "6 621,09 €"
    for note in invoice.notes:  # PMD, PMT, AAB, REG, ABL
        assert words(note.text) in text, note.subject
    assert "B2B" not in text  # the BAR routing note is for the platforms only


def test_credit_note_says_avoir_and_names_the_original(rendered: dict[str, Rendered]) -> None:
    document = rendered["credit_note"]
    assert document.text.startswith("Maury Solutions SAS") and "Avoir" in document.text
    assert "Avoir sur la facture n° MS2026-000001 du 31/03/2026" in document.text
    assert "Net à déduire" in document.text and "Facture" not in document.text
    assert document.reader.metadata["/Title"] == "Maury Solutions SAS : Avoir MS2026-000002"


def test_vat_mentions_follow_the_categories(rendered: dict[str, Rendered]) -> None:
    intra = rendered["intra_eu"].text
    assert "Autoliquidation, article 196 de la directive 2006/112/CE" in intra and "article 262 ter I du CGI" in intra
    assert "283-2" not in intra  # the article for suppliers not established in France does not apply
    assert "Belgique" in intra
    b2b = rendered["b2b_multi_rate"].text
    assert "Exonération de TVA, article 261-4-4° a du CGI" in b2b and DEBITS not in b2b


def test_foreign_currency_amounts_carry_the_code_and_the_vat_total_in_euros(rendered: dict[str, Rendered]) -> None:
    document = rendered["usd_domestic"]
    totals = compute(document.invoice).totals
    assert words(f"Total TTC {money(totals.grand_total, 'USD')}") in document.text
    assert words(money(totals.grand_total, "USD")) == "4 665,60 USD"
    assert words(f"Total TVA en euros (1 USD = 0,9259 EUR) {money(totals.tax_total_eur, 'EUR')}") in document.text
    assert "TVA non applicable, article 259-1 du CGI" in rendered["export_chf"].text


def test_debits_option_is_printed_when_vat_is_due_on_invoicing() -> None:
    text = render(replace(samples.b2b_multi_rate(), vat_point=VatPoint.INVOICE)).text
    assert text.count(DEBITS) == 1


def test_same_invoice_same_bytes(rendered: dict[str, Rendered], sample: Callable[[str], Invoice]) -> None:
    again = render(sample("b2b_multi_rate"))
    assert again.pdf == rendered["b2b_multi_rate"].pdf


def test_pdf_checks_catch_a_missing_xml_a_bad_level_and_a_bad_invoice(cii_validator: CiiValidator) -> None:
    invoice = samples.b2b_multi_rate()
    [missing] = validate_facturx_pdf(render_pdf(invoice), cii_validator)
    assert (missing.layer, missing.rule, missing.fatal) == ("factur-x", "FX-XML", True)
    assert rules(validate_facturx_pdf(b"%PDF-1.7 truncated", cii_validator)) == {"FX-PDF"}

    basic_wl = render_cii(invoice).replace(b"urn:cen.eu:en16931:2017", b"urn:factur-x.eu:1p0:basicwl")
    pdf = facturx.generate_from_binary(render_pdf(invoice), basic_wl, flavor="factur-x", level="basicwl",
                                       check_xsd=False)
    assert "FX-LEVEL" in rules(validate_facturx_pdf(pdf, cii_validator))

    wrong_total = render_cii(invoice).replace(b"<ram:GrandTotalAmount>6621.09", b"<ram:GrandTotalAmount>6622.09")
    findings = validate_facturx_pdf(render_facturx(invoice, wrong_total), cii_validator)
    assert rules(findings) == {"BR-CO-15", "BR-CO-16"}


def test_long_invoice_flows_onto_numbered_pages(cii_validator: CiiValidator) -> None:
    invoice = samples.b2b_multi_rate()
    many = replace(invoice, lines=tuple(replace(invoice.lines[index % 5], line_id=str(index + 1))
                                        for index in range(80)))
    document = render(many)
    pages = document.reader.pages
    assert len(pages) >= 3
    assert all(f"page {number}/{len(pages)}" in page.extract_text() for number, page in enumerate(pages, 1))
    assert words(f"Net à payer {money(compute(many).totals.due_payable, 'EUR')}") in document.text
    assert validate_facturx_pdf(document.pdf, cii_validator) == []
