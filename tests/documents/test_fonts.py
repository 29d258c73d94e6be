"""The invoice fonts: the European cut of DejaVu Sans keeps every European character with its metrics; a
document that needs anything else is drawn with the full font, plus only the CJK faces its text needs."""

from __future__ import annotations

import io
from dataclasses import replace

from fontTools import ttLib
from pypdf import PdfReader

from passerelle.documents import fonts
from passerelle.documents.pdf import _draw, render_pdf
from passerelle_dev import samples
from passerelle.einvoice.amounts import compute

# Polish, Czech, Romanian, Turkish, Greek, Cyrillic and Vietnamese names, euro and rouble signs, typographic marks
EUROPEAN_TEXT = "Łódź Škoda Brașov İzmir Αθήνα Москва Nguyễn € ₽ № — « » ’ …"
SNOWMAN = "\N{SNOWMAN}"  # in DejaVu Sans, outside the European ranges


def page_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_cut_keeps_every_european_character_with_its_width() -> None:
    for style in fonts.STYLES:
        full = ttLib.TTFont(fonts.full(style))
        cut = ttLib.TTFont(fonts.european(style))
        full_map, cut_map = full.getBestCmap(), cut.getBestCmap()
        european = {code for low, high in fonts.EUROPEAN_RANGES for code in range(low, high + 1)}
        assert {code for code in full_map if code in european} == set(cut_map)
        for code, glyph in cut_map.items():
            assert cut["hmtx"][glyph] == full["hmtx"][full_map[code]], hex(code)
        assert len(cut.getGlyphOrder()) < len(full.getGlyphOrder()) / 2


def test_the_cut_is_built_once_and_reused() -> None:
    path = fonts.european("")
    fonts.european.cache_clear()
    modified = path.stat().st_mtime_ns
    assert fonts.european("") == path and path.stat().st_mtime_ns == modified


def test_european_names_are_drawn_with_the_cut() -> None:
    invoice = samples.b2b_multi_rate()
    invoice = replace(invoice, buyer=replace(invoice.buyer, name=EUROPEAN_TEXT))
    assert fonts.typeset_for({ord(character) for character in EUROPEAN_TEXT}) == (fonts.Typeset(fonts.european), set())
    document = _draw(invoice, compute(invoice), fonts.Typeset(fonts.european))
    assert not document.missing_glyphs()
    assert EUROPEAN_TEXT.split()[0] in page_text(bytes(document.output()))


def test_a_character_outside_the_cut_is_drawn_with_the_full_font() -> None:
    invoice = samples.b2b_multi_rate()
    invoice = replace(invoice, buyer=replace(invoice.buyer, name=f"Bonhomme {SNOWMAN} SARL"))
    assert _draw(invoice, compute(invoice), fonts.Typeset(fonts.european)).missing_glyphs() == {ord(SNOWMAN)}
    assert fonts.typeset_for({ord(SNOWMAN)}) == (fonts.Typeset(fonts.full), set())
    assert SNOWMAN in page_text(render_pdf(invoice))


def test_cjk_faces_are_chosen_only_for_the_scripts_the_text_uses() -> None:
    def typeset(text: str) -> tuple[fonts.Typeset, set[int]]:
        return fonts.typeset_for({ord(character) for character in text})

    assert typeset("北京华为技术有限公司") == (fonts.Typeset(fonts.full, ("NotoSansSC",)), set())
    assert typeset("株式会社トヨタ 臺灣積體電路") == (fonts.Typeset(fonts.full, ("NotoSansSC",)), set())
    assert typeset("삼성전자 北京") == (fonts.Typeset(fonts.full, ("NotoSansSC", "NotoSansKR")), set())
    assert typeset("Café \N{CROISSANT}") == (fonts.Typeset(fonts.full), {0x1F950})


def test_the_cjk_faces_are_static_regular_instances_of_the_variable_fonts() -> None:
    for family in ("NotoSansSC", "NotoSansKR"):
        source, instance = ttLib.TTFont(fonts.cjk_source(family), lazy=True), ttLib.TTFont(fonts.cjk(family), lazy=True)
        assert "fvar" in source and "fvar" not in instance and "gvar" not in instance
        assert instance["OS/2"].usWeightClass == 400
        assert set(instance.getBestCmap()) == set(source.getBestCmap())
    assert fonts.cjk("NotoSansSC").parent == fonts.european("").parent  # kept under the state directory


def test_an_unwritable_state_directory_falls_back_to_the_full_font(tmp_path, monkeypatch) -> None:
    blocked = tmp_path / "state"
    blocked.write_text("a file where the state directory should be")
    monkeypatch.setenv("PASSERELLE_STATE_DIR", str(blocked))
    fonts.european.cache_clear()
    try:
        assert fonts.european("B") == fonts.full("B")
    finally:
        fonts.european.cache_clear()
