"""Turn the drawn PDF/A-3b page set into a Factur-X: the CII attached as ``factur-x.xml``, in one pypdf pass.

``factur-x``'s ``generate_from_binary`` parses and rewrites the PDF (through a temporary file) and stamps
every date with the wall clock, so the dates then had to be pinned in a second parse and rewrite. Here
the same structures are written once, with the issue date from the start: the embedded file stream
(``/Params`` with MD5 checksum, size and modification date), its file specification with
``/AFRelationship /Data``, the ``/Names /EmbeddedFiles`` tree and the catalog's ``/AF``, the XMP from
``factur-x``'s own generator (``pdfaid`` part 3 B and the ``fx:`` extension schema at EN 16931), and
the document-information dictionary equal to its XMP counterparts, as PDF/A requires. The file ``/ID``
of the drawn PDF is kept, so the same invoice always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timezone

from facturx import generate_xmp_object
from lxml import etree
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject, ByteStringObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject, StreamObject,
    TextStringObject,
)

PDF_HEADER = "%PDF-1.7"  # ISO 32000-1, the base of PDF/A-3 (a pypdf clone would write 1.3)
FILENAME = "factur-x.xml"
CREATOR = "Passerelle"
PRODUCER = "pypdf"
FX_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
XMP_LEVEL = "EN 16931"
XPACKET_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
XPACKET_TAIL = '<?xpacket end="w"?>'


@dataclass(frozen=True)
class DocumentInfo:
    """What the info dictionary and the XMP say about the document; ``when`` is its creation and
    modification date (the issue date, never the wall clock)."""

    title: str
    author: str
    subject: str
    lang: str
    when: datetime


def embed_cii(pdf: bytes, cii_xml: bytes, info: DocumentInfo) -> bytes:
    """``pdf`` (a PDF/A-3b without attachment) with ``cii_xml`` attached as the Factur-X EN 16931 invoice."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.pdf_header = PDF_HEADER
    stamp = TextStringObject(_pdf_date(info.when))
    spec = writer._add_object(_file_spec(writer, cii_xml, stamp))
    root = writer.root_object
    root[NameObject("/AF")] = writer._add_object(ArrayObject([spec]))
    root[NameObject("/Names")] = DictionaryObject({NameObject("/EmbeddedFiles"): DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject(FILENAME), spec])})})
    root[NameObject("/PageMode")] = NameObject("/UseAttachments")  # readers open on the attachment list
    root[NameObject("/Lang")] = TextStringObject(info.lang)
    _set_xmp(writer, _xmp(info))
    writer.metadata = {"/Author": TextStringObject(info.author), "/CreationDate": stamp, "/Creator": CREATOR,
                       "/ModDate": stamp, "/Subject": TextStringObject(info.subject),
                       "/Title": TextStringObject(info.title)}
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _file_spec(writer: PdfWriter, cii_xml: bytes, stamp: TextStringObject) -> DictionaryObject:
    stream = DecodedStreamObject()
    stream.set_data(cii_xml)
    encoded = stream.flate_encode()
    encoded.update({
        NameObject("/Type"): NameObject("/EmbeddedFile"),
        NameObject("/Subtype"): NameObject("/text/xml"),
        NameObject("/Params"): DictionaryObject({
            NameObject("/CheckSum"): ByteStringObject(hashlib.md5(cii_xml, usedforsecurity=False).digest()),
            NameObject("/ModDate"): stamp,
            NameObject("/Size"): NumberObject(len(cii_xml)),
        }),
    })
    embedded = writer._add_object(encoded)
    name = TextStringObject(FILENAME)
    return DictionaryObject({
        NameObject("/Type"): NameObject("/Filespec"),
        NameObject("/F"): name,
        NameObject("/UF"): name,
        NameObject("/Desc"): TextStringObject("Factur-X XML file"),
        NameObject("/AFRelationship"): NameObject("/Data"),
        NameObject("/EF"): DictionaryObject({NameObject("/F"): embedded, NameObject("/UF"): embedded}),
    })


def _xmp(info: DocumentInfo) -> bytes:
    """The XMP packet ``factur-x`` writes (same generator), with ``info``'s dates and creator."""
    root = generate_xmp_object({
        "pdfa3_flavor": "B", "title": info.title, "author": info.author, "subject": info.subject,
        "producer": PRODUCER, "creator_tool": CREATOR, "timestamp": _utc(info.when).isoformat(timespec="seconds"),
        "version": "1.0", "documenttype": "INVOICE", "xml_filename": FILENAME, "xmp_level": XMP_LEVEL,
        "urn": FX_NAMESPACE,
    })
    body = etree.tostring(root, pretty_print=True, encoding="unicode").strip()
    return "\n".join((XPACKET_HEAD, body, XPACKET_TAIL)).encode("utf-8")


def _set_xmp(writer: PdfWriter, xmp: bytes) -> None:
    """Replace the drawn PDF's XMP in place (so no orphan stream stays in the file), uncompressed: PDF/A
    wants the metadata stream readable without decoding."""
    current = writer.root_object.get("/Metadata")
    stream = current.get_object() if current is not None else None
    if isinstance(stream, StreamObject) and "/Filter" not in stream:
        stream.set_data(xmp)
        return
    fresh = DecodedStreamObject()
    fresh.update({NameObject("/Type"): NameObject("/Metadata"), NameObject("/Subtype"): NameObject("/XML")})
    fresh.set_data(xmp)
    if current is not None and hasattr(current, "idnum"):
        writer._replace_object(current, fresh)
    else:
        writer.root_object[NameObject("/Metadata")] = writer._add_object(fresh)


def _pdf_date(when: datetime) -> str:
    return _utc(when).strftime("D:%Y%m%d%H%M%S+00'00'")


def _utc(when: datetime) -> datetime:
    """``when`` in UTC; a naive ``when`` is taken as UTC."""
    return when.replace(tzinfo=timezone.utc) if when.utcoffset() is None else when.astimezone(timezone.utc)
