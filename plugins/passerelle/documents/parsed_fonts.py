"""fpdf2 fonts parsed once per process and handed to each document as a cheap copy of its own.

``FPDF.add_font`` parses the whole TrueType file for every document (its cmap, its widths, its glyph
names), and writing the PDF then subsets that parsed font in place, so a parse cannot simply be shared.
:func:`add_parsed_font` parses a file once per process into a template that no document draws with, and
gives each document a :class:`ParsedFont`: the template's read-only tables (cmap, widths, glyph ids,
descriptor) shared, its own subset map and missing-glyph list, and its own font file for fpdf2's output
step to subset, made only when that step asks for it: a small file with just the glyphs the document drew
(see :mod:`passerelle.documents.glyph_extract`; a CFF font gets a lazily opened copy of the whole file).
That file comes with its glyph order, so the subsetter decodes no glyph names, and keeps the glyphs' stored
bounding boxes rather than unpacking each outline to recompute them (they are the file's own outlines).

:meth:`ParsedFont.get_text_width` also remembers the widths of the strings a document measures. Line
breaking measures every prefix of a line, one character longer each time; each is now its predecessor's
width plus one character's, instead of a sum over the whole prefix. The arithmetic is fpdf2's own (a sum
of integer widths, then scaled), so the layout is the same to the last bit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from fontTools import ttLib
from fpdf.enums import TextEmphasis
from fpdf.fonts import SubsetMap, TTFFont

from passerelle.documents.glyph_extract import GlyphTable

if TYPE_CHECKING:
    from fpdf import FPDF


@dataclass(frozen=True)
class _Template:
    font: TTFFont  # parsed once; never drawn with, never subset
    data: bytes
    glyph_order: tuple[str, ...]
    outlines: GlyphTable | None  # None for a font the output step must subset whole (CFF outlines)


class ParsedFont(TTFFont):
    """A document's own font on a shared parse; see the module docstring."""

    __slots__ = ("_template", "_units", "_own_ttfont")

    @property  # type: ignore[override]
    def ttfont(self) -> ttLib.TTFont:
        """The font file fpdf2's output step subsets and embeds: opened on first use, with only the glyphs
        the document drew when the template allows it."""
        if self._own_ttfont is None:
            template = self._template
            if template.outlines is None:
                font = ttLib.TTFont(io.BytesIO(template.data), recalcTimestamp=False, lazy=True)
                font.setGlyphOrder(list(template.glyph_order))
            else:
                data, order = template.outlines.extract(self.subset.get_all_glyph_names(), self.cmap)
                font = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
                font.setGlyphOrder(order)
            font.recalcBBoxes = False  # the kept glyphs are unchanged: their stored boxes hold
            self._own_ttfont = font
        return self._own_ttfont

    @ttfont.setter
    def ttfont(self, font: ttLib.TTFont) -> None:
        self._own_ttfont = font

    def get_text_width(self, text: str, font_size_pt: float,
                       text_shaping_params: dict[str, Any] | None) -> tuple[int, float]:
        if text_shaping_params or self.is_symbol:
            return super().get_text_width(text, font_size_pt, text_shaping_params)
        if font_size_pt > self.biggest_size_pt:
            self.biggest_size_pt = font_size_pt
        return len(text), self._text_units(text) * font_size_pt * 0.001

    def _text_units(self, text: str) -> int:
        """The sum of the characters' widths, in thousandths of an em."""
        units = self._units.get(text)
        if units is None:
            if len(text) > 1 and (head := self._units.get(text[:-1])) is not None:
                units = head + self.cw[ord(text[-1])]
            else:
                units = sum(self.cw[ord(character)] for character in text)
            self._units[text] = units
        return units


def add_parsed_font(pdf: FPDF, family: str, style: str, path: Path) -> None:
    """``pdf.add_font(family, style, path)``, with the file parsed only the first time in this process."""
    template = _template(path)
    fontkey = f"{family.lower()}{style}"
    font = ParsedFont.__new__(ParsedFont)
    for attribute in _SHARED:
        setattr(font, attribute, getattr(template.font, attribute))
    font.i = len(pdf.fonts) + 1
    font.fontkey = fontkey
    font.emphasis = TextEmphasis.coerce(style)
    font.cw = template.font.cw.copy()  # a defaultdict: looking up a missing character adds it
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None
    font._template = template
    font._units = {}
    font._own_ttfont = None
    font.subset = SubsetMap(font)
    pdf.fonts[fontkey] = font


_SHARED = ("type", "ttffile", "is_compressed", "collection_font_number", "is_cff", "is_cid_keyed", "is_symbol",
           "cff_ros", "scale", "desc", "cmap", "glyph_ids", "name", "up", "ut", "sp", "ss", "palette_index",
           "color_font")


@cache
def _template(path: Path) -> _Template:
    data = path.read_bytes()
    parsing = SimpleNamespace(fonts={}, render_color_fonts=False)  # all TTFFont reads of its document
    font = TTFFont(parsing, path, path.stem, "")  # type: ignore[arg-type]
    outlines = None if font.is_cff or "glyf" not in font.ttfont else GlyphTable(ttLib.TTFont(io.BytesIO(data)))
    return _Template(font, data, tuple(font.ttfont.getGlyphOrder()), outlines)
