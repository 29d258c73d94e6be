"""Fonts parsed once per process: each document draws exactly as with fpdf2's own font loading, embeds the
font file's own outlines and widths for every character it prints, and leaves nothing behind for the next."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest
from fontTools import ttLib
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fpdf import FPDF
from pypdf import PdfReader

from passerelle.documents import fonts, pdf
from passerelle.documents.parsed_fonts import add_parsed_font
from passerelle_dev import samples
from passerelle.einvoice.model import Invoice

TEXTS = ["Désignation", "Prestation de conseil — phase 2 : « audit » 1 234,56 €", "Łódź Αθήνα Москва Nguyễn ₽ № …",
         "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm", " ", ""]


def with_buyer(name: str) -> Invoice:
    invoice = samples.b2b_multi_rate()
    return replace(invoice, buyer=replace(invoice.buyer, name=name))


def fpdf_own_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make :mod:`passerelle.documents.pdf` load its fonts with ``FPDF.add_font``, parsing every time."""
    monkeypatch.setattr(pdf, "add_parsed_font", lambda document, family, style, path:
                        document.add_font(family, style, path))


def page_streams(document: bytes) -> list[bytes]:
    return [page.get_contents().get_data() for page in PdfReader(io.BytesIO(document)).pages]


@pytest.mark.parametrize("invoice", [samples.b2b_multi_rate(), samples.credit_note(), samples.export_chf(),
                                     with_buyer("北京华为技术有限公司 Łódź")], ids=["b2b", "credit", "chf", "cjk"])
def test_pages_are_drawn_exactly_as_with_fpdf2_own_font_loading(invoice: Invoice,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = pdf.render_pdf(invoice)
    fpdf_own_loading(monkeypatch)
    assert page_streams(parsed) == page_streams(pdf.render_pdf(invoice))


@pytest.mark.parametrize("style", sorted(fonts.STYLES))
def test_text_widths_are_fpdf2_own_to_the_last_bit(style: str) -> None:
    path = fonts.european(style)
    own, parsed = FPDF(), FPDF()
    own.add_font("Face", style, path)
    add_parsed_font(parsed, "Face", style, path)
    for size in (7, 9, 13.5):
        for text in TEXTS:
            for end in range(len(text) + 1):  # every prefix, as line breaking measures them
                expected = own.fonts[f"face{style}"].get_text_width(text[:end], size, None)
                assert parsed.fonts[f"face{style}"].get_text_width(text[:end], size, None) == expected


BF_CHAR = re.compile(r"^<([0-9A-F]{4})> <([0-9A-F]{4})>$", re.MULTILINE)  # a BMP character's ToUnicode entry


def embedded_glyphs(document: bytes) -> dict[str, dict[str, tuple[int, list]]]:
    """For each embedded font (by base name without subset tag): printed character → (advance, outline)."""
    found: dict[str, dict[str, tuple[int, list]]] = {}
    for page in PdfReader(io.BytesIO(document)).pages:
        for font_ref in page["/Resources"]["/Font"].values():
            font = font_ref.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            program = ttLib.TTFont(io.BytesIO(descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()))
            cid_to_gid = descendant["/CIDToGIDMap"].get_object().get_data()
            glyph_set, order = program.getGlyphSet(), program.getGlyphOrder()
            glyphs = found.setdefault(str(font["/BaseFont"]).split("+", 1)[1], {})
            for match in BF_CHAR.finditer(font["/ToUnicode"].get_object().get_data().decode()):
                code, unicode = int(match[1], 16), int(match[2], 16)
                name = order[int.from_bytes(cid_to_gid[2 * code:2 * code + 2], "big")]
                pen = DecomposingRecordingPen(glyph_set)  # components drawn in place: names may differ
                glyph_set[name].draw(pen)
                glyphs[chr(unicode)] = (program["hmtx"][name][0], pen.value)
    return found


def source_glyph(path, character: str) -> tuple[int, list]:
    font = ttLib.TTFont(path)
    name = font.getBestCmap()[ord(character)]
    pen = DecomposingRecordingPen(font.getGlyphSet())
    font.getGlyphSet()[name].draw(pen)
    return font["hmtx"][name][0], pen.value


@pytest.mark.parametrize(("buyer", "source"), [("Société Łódź Αθήνα Москва Nguyễn", fonts.european("")),
                                               ("北京华为 삼성전자 Société", fonts.full(""))], ids=["european", "cjk"])
def test_each_printed_character_is_embedded_with_the_font_file_own_outline_and_width(buyer: str, source) -> None:
    embedded = embedded_glyphs(pdf.render_pdf(with_buyer(buyer)))
    regular = next(glyphs for name, glyphs in embedded.items() if name.startswith("DejaVuSans") and "Bold" not in name)
    for character in set(buyer) - {" "}:
        if ord(character) in ttLib.TTFont(source).getBestCmap():
            assert regular[character] == source_glyph(source, character), character
    if source == fonts.full(""):
        cjk = next(glyphs for name, glyphs in embedded.items() if name.startswith("NotoSansSC"))
        assert cjk["北"] == source_glyph(fonts.cjk("NotoSansSC"), "北")
        korean = next(glyphs for name, glyphs in embedded.items() if name.startswith("NotoSansKR"))
        assert korean["삼"] == source_glyph(fonts.cjk("NotoSansKR"), "삼")
    composite = "é"  # an accented letter DejaVu Sans builds from components, renumbered in the cut-down font
    assert ttLib.TTFont(source)["glyf"][ttLib.TTFont(source).getBestCmap()[ord(composite)]].isComposite()
    assert regular[composite] == source_glyph(source, composite)


def test_a_document_leaves_nothing_behind_for_the_next() -> None:
    plain, snowman = samples.b2b_multi_rate(), with_buyer("Bonhomme \N{SNOWMAN} SARL")
    first = pdf.render_pdf(plain)
    pdf.render_pdf(snowman)
    pdf.render_pdf(with_buyer("Ωmega Ψ Ж ẞ"))
    assert pdf.render_pdf(plain) == first
    document = pdf._draw(plain, pdf.compute(plain), fonts.Typeset(fonts.european))
    assert not document.missing_glyphs()
