"""The page's own line breaking gives the lines fpdf2's ``multi_cell`` gives, and never loses a character."""

from __future__ import annotations

import pytest
from fpdf import FPDF

from passerelle.documents import fonts
from passerelle.documents.line_wrap import Line, wrap
from passerelle.documents.parsed_fonts import add_parsed_font

TEXTS = [
    "",
    "Conseil",
    "Prestation de conseil en architecture des données, atelier de cadrage et restitution",
    "a\n\nb",
    "Mot" * 60 + " court " + "x" * 200,
    "deux  espaces   entre  les mots qui débordent de la ligne et repartent au début",
    "Ελληνικά κείμενα και кириллица тоже, " * 6,
    "1 234,56 € HT — remise de 10 % sur la période du 01/03/2026 au 31/03/2026 " * 4,
]


def reference(text: str, width: float) -> list[str]:
    pdf = FPDF(unit="mm", format="A4")
    add_parsed_font(pdf, "DejaVu", "", fonts.european(""))
    pdf.set_font("DejaVu", size=9)
    pdf.add_page()
    return pdf.multi_cell(width, 4.5, text, dry_run=True, output="LINES")


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("width", [20, 77.6, 190])
def test_lines_are_those_fpdf2_breaks(text: str, width: float) -> None:
    pdf = FPDF(unit="mm", format="A4")
    add_parsed_font(pdf, "DejaVu", "", fonts.european(""))
    font = pdf.fonts["dejavu"]
    limit = (width - 2 * pdf.c_margin) * pdf.k * 1000 / 9
    lines = wrap(text, limit, lambda character: font.cw[ord(character)])
    assert [line.text for line in lines] == reference(text, width)
    for line in lines:
        assert line.units == sum(font.cw[ord(character)] for character in line.text) <= limit


def test_a_word_wider_than_the_line_is_cut_between_characters_and_kept_whole() -> None:
    lines = wrap("abcdefghij klm", 3, lambda character: 1)
    assert [line.text for line in lines] == ["abc", "def", "ghi", "j", "klm"]
    assert [line.wrapped for line in lines] == [True, True, True, True, False]


def test_only_lines_cut_by_the_width_may_be_justified() -> None:
    assert wrap("un deux\ntrois quatre", 9, lambda character: 1) == [
        Line("un deux", 7, False), Line("trois", 5, True), Line("quatre", 6, False)]
