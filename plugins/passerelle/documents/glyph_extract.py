"""A TrueType font cut down to the glyphs one document draws, straight from the file's bytes.

fpdf2 subsets each font with fontTools when it writes the PDF; fontTools decodes every glyph, width and
cmap entry of the font to do so, and that cost grows with the font (a few milliseconds for the European cut
of DejaVu Sans, far more for a CJK face), for a document that draws a hundred glyphs. :class:`GlyphTable`
reads the font once and then copies out, for each document, a small font holding only the glyphs it needs
(with the components of composite glyphs, renumbered), their widths and their cmap entries, every other
table it keeps (head, hhea, maxp, OS/2, name, hinting programs) byte for byte. fpdf2's own subsetting of
that small font is then quick, and the outlines embedded are the file's own.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Mapping

from fontTools import ttLib
from fontTools.ttLib.sfnt import SFNTWriter

KEPT_TABLES = ("OS/2", "name", "cvt ", "fpgm", "prep", "gasp")  # glyph-count independent, copied as they are
MORE_COMPONENTS, ARGS_ARE_WORDS = 0x0020, 0x0001
SCALE, XY_SCALE, TWO_BY_TWO = 0x0008, 0x0040, 0x0080


class GlyphTable:
    """One TrueType font's raw glyphs, widths and glyph-independent tables, for :meth:`extract`."""

    def __init__(self, font: ttLib.TTFont) -> None:
        self.order = font.getGlyphOrder()
        self.gid = {name: index for index, name in enumerate(self.order)}
        glyf, locations = font.reader["glyf"], font["loca"].locations
        self.glyphs = [glyf[locations[index]:locations[index + 1]] for index in range(len(self.order))]
        metrics = font["hmtx"].metrics
        self.metrics = [metrics[name] for name in self.order]
        self.tables = {tag: font.reader[tag] for tag in KEPT_TABLES if tag in font.reader}
        self.head, self.hhea, self.maxp = (bytearray(font.reader[tag]) for tag in ("head", "hhea", "maxp"))
        self.post = bytearray(font.reader["post"][:32])
        self.post[0:4] = struct.pack(">I", 0x00030000)  # no glyph names: format 3

    def extract(self, names: Iterable[str], cmap: Mapping[int, str]) -> tuple[bytes, list[str]]:
        """A font file with ``.notdef``, the glyphs ``names`` and their components, in the file's order,
        with the ``cmap`` entries that reach them; and the glyph order of that file."""
        wanted = {0} | {self.gid[name] for name in names}
        pending = list(wanted)
        while pending:
            for component in self._components(self.glyphs[pending.pop()]):
                if component not in wanted:
                    wanted.add(component)
                    pending.append(component)
        kept = sorted(wanted)
        new_id = {old: new for new, old in enumerate(kept)}
        order = [self.order[old] for old in kept]

        glyf, locations = bytearray(), [0]
        for old in kept:
            glyf += self._renumbered(self.glyphs[old], new_id)
            glyf += b"\0" * (-len(glyf) % 4)
            locations.append(len(glyf))
        head, hhea, maxp = bytearray(self.head), bytearray(self.hhea), bytearray(self.maxp)
        struct.pack_into(">h", head, 50, 1)  # indexToLocFormat: long offsets
        struct.pack_into(">H", hhea, 34, len(kept))  # numberOfHMetrics
        struct.pack_into(">H", maxp, 4, len(kept))  # numGlyphs
        codes = {code: new_id[self.gid[name]] for code, name in cmap.items()
                 if self.gid.get(name) in new_id and code <= 0xFFFF}
        tables = dict(self.tables, head=bytes(head), hhea=bytes(hhea), maxp=bytes(maxp), post=bytes(self.post),
                      glyf=bytes(glyf), loca=struct.pack(f">{len(locations)}I", *locations),
                      hmtx=b"".join(struct.pack(">Hh", *self.metrics[old]) for old in kept), cmap=_cmap(codes))
        buffer = io.BytesIO()
        writer = SFNTWriter(buffer, len(tables))
        for tag in sorted(tables):
            writer[tag] = tables[tag]
        writer.close()
        return buffer.getvalue(), order

    @staticmethod
    def _components(data: bytes) -> Iterable[int]:
        for offset in _component_offsets(data):
            yield struct.unpack_from(">H", data, offset + 2)[0]

    @staticmethod
    def _renumbered(data: bytes, new_id: Mapping[int, int]) -> bytes:
        offsets = list(_component_offsets(data))
        if not offsets:
            return data
        glyph = bytearray(data)
        for offset in offsets:
            struct.pack_into(">H", glyph, offset + 2, new_id[struct.unpack_from(">H", data, offset + 2)[0]])
        return bytes(glyph)


def _component_offsets(data: bytes) -> Iterable[int]:
    """Where each component record of a composite glyph starts (none for a simple or empty glyph)."""
    if len(data) < 10 or struct.unpack_from(">h", data, 0)[0] >= 0:
        return
    offset = 10
    while True:
        flags = struct.unpack_from(">H", data, offset)[0]
        yield offset
        offset += 4 + (4 if flags & ARGS_ARE_WORDS else 2)
        offset += 2 if flags & SCALE else 4 if flags & XY_SCALE else 8 if flags & TWO_BY_TWO else 0
        if not flags & MORE_COMPONENTS:
            return


def _cmap(codes: Mapping[int, int]) -> bytes:
    """A cmap with one format 4 (Windows Unicode BMP) subtable: a segment per code, then the end segment."""
    ends = sorted(codes) + [0xFFFF]
    count = len(ends)
    deltas = [(codes[code] - code) % 0x10000 for code in ends[:-1]] + [1]
    search = 2 ** (count.bit_length() - 1)
    subtable = struct.pack(f">HHHHHHH{count}HH{count}H{count}H{count}H", 4, 16 + 8 * count, 0, 2 * count,
                           2 * search, search.bit_length() - 1, 2 * count - 2 * search,
                           *ends, 0, *ends, *deltas, *([0] * count))
    return struct.pack(">HHHHI", 0, 1, 3, 1, 12) + subtable
