"""The CII attached in one pass: the file, its checksum and date, /AF, the fx: XMP and the info dictionary, with
no trace left of the drawn PDF's wall-clock metadata, so the bytes depend on the invoice alone."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime, timedelta, timezone

import facturx
from lxml import etree
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from passerelle.documents.facturx_pdf import DocumentInfo, embed_cii
from passerelle.documents.pdf import render_pdf
from passerelle.documents.render import render_cii
from passerelle_dev import samples

XMP = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "xmp": "http://ns.adobe.com/xap/1.0/",
       "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#", "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
       "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#"}
PARIS = timezone(timedelta(hours=2))


def attached() -> tuple[bytes, bytes, bytes]:
    invoice = samples.b2b_multi_rate()
    drawn, cii = render_pdf(invoice), render_cii(invoice)
    info = DocumentInfo("Maury : Facture 1", "Maury", "Facture 1 du 31/03/2026", "fr-FR",
                        datetime(2026, 3, 31, 2, 0, tzinfo=PARIS))  # midnight UTC
    return drawn, cii, embed_cii(drawn, cii, info)


def test_attachment_carries_the_cii_its_checksum_and_the_given_date() -> None:
    _, cii, pdf = attached()
    assert facturx.get_xml_from_pdf(pdf, check_xsd=False) == ("factur-x.xml", cii)
    root = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    [spec] = [item.get_object() for item in root["/AF"].get_object()]
    assert root["/Names"]["/EmbeddedFiles"]["/Names"][1].get_object() == spec
    assert (spec["/F"], spec["/UF"], spec["/AFRelationship"], root["/PageMode"]) == (
        "factur-x.xml", "factur-x.xml", "/Data", "/UseAttachments")
    stream = spec["/EF"]["/F"].get_object()
    params = stream["/Params"]
    assert stream.get_data() == cii and stream["/Subtype"] == "/text/xml"
    assert (params["/CheckSum"].original_bytes, params["/Size"], params["/ModDate"]) == (
        hashlib.md5(cii).digest(), len(cii), "D:20260331000000+00'00'")


def test_xmp_declares_pdfa3b_and_factur_x_and_matches_the_info_dictionary() -> None:
    _, _, pdf = attached()
    reader = PdfReader(io.BytesIO(pdf))
    metadata = reader.trailer["/Root"]["/Metadata"].get_object()
    assert "/Filter" not in metadata
    xmp = etree.fromstring(metadata.get_data())
    assert [xmp.findtext(f".//{tag}", namespaces=XMP) for tag in (
        "pdfaid:part", "pdfaid:conformance", "fx:DocumentType", "fx:DocumentFileName", "fx:Version",
        "fx:ConformanceLevel", "pdfaSchema:prefix", "xmp:CreateDate", "xmp:ModifyDate")] == [
        "3", "B", "INVOICE", "factur-x.xml", "1.0", "EN 16931", "fx", "2026-03-31T00:00:00+00:00",
        "2026-03-31T00:00:00+00:00"]
    info = reader.metadata
    assert dict(info) == {"/Title": "Maury : Facture 1", "/Author": "Maury", "/Subject": "Facture 1 du 31/03/2026",
                          "/Creator": xmp.findtext(".//xmp:CreatorTool", namespaces=XMP),
                          "/CreationDate": "D:20260331000000+00'00'", "/ModDate": "D:20260331000000+00'00'"}
    assert reader.pdf_header == "%PDF-1.7" and reader.trailer["/Root"]["/Lang"] == "fr-FR"


def test_only_the_given_date_is_left_in_the_file() -> None:
    """The drawn PDF's XMP (stamped with the wall clock) is replaced in place, not left behind unreferenced."""
    drawn, _, pdf = attached()
    assert b"fpdf2" in drawn and b"fpdf2" not in pdf
    # every PDF date (pypdf writes the colon of D: as an octal escape) and every XMP date
    dates = set(re.findall(rb"D(?::|\\072)(\d{8})", pdf)) | set(re.findall(rb"(\d{4}-\d\d-\d\d)T\d\d:\d\d", pdf))
    assert dates == {b"20260331", b"2026-03-31"}
    reader = PdfReader(io.BytesIO(pdf))
    written = {int(number) for number in re.findall(rb"(?m)^(\d+) 0 obj", pdf)}
    assert reachable(reader.trailer["/Root"].indirect_reference, reader) | reachable(
        reader.trailer["/Info"].indirect_reference, reader) == written


def reachable(start: IndirectObject, reader: PdfReader) -> set[int]:
    """Object numbers reachable from ``start``."""
    seen, todo = set(), [start]
    while todo:
        item = todo.pop()
        if isinstance(item, IndirectObject):
            if item.idnum in seen:
                continue
            seen.add(item.idnum)
            item = reader.get_object(item)
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return seen


def test_same_input_same_bytes() -> None:
    drawn, cii, pdf = attached()
    again = embed_cii(drawn, cii, DocumentInfo("Maury : Facture 1", "Maury", "Facture 1 du 31/03/2026", "fr-FR",
                                               datetime(2026, 3, 31, tzinfo=timezone.utc)))
    assert again == pdf
