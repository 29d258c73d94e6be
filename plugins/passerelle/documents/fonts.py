"""The invoice typeface: DejaVu Sans, and a European cut of it that more than halves the time to draw a page.

fpdf2 parses the whole TrueType file for every document it starts, which was half the cost of a
Factur-X. Invoices are written in Latin, Greek or Cyrillic script with punctuation, currency signs and a
few symbols, so :func:`european` gives a copy of the font with only those ranges (about 2,200 of its
6,200 glyphs, same metrics and names), built once per font file and kept under the state directory. A
document that needs a character outside it is drawn again with :func:`full` (see
:func:`passerelle.documents.pdf.render_pdf`), so no character is ever lost to the cut.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from functools import cache
from pathlib import Path

import fontTools
from fontTools import subset, ttLib

from passerelle.paths import state_dir

logger = logging.getLogger(__name__)

STYLES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
EUROPEAN_RANGES = (
    (0x0020, 0x024F),  # Basic Latin, Latin-1, Latin Extended-A and -B
    (0x0250, 0x02FF),  # IPA extensions, spacing modifier letters (ʼ, ˚...)
    (0x0300, 0x036F),  # combining diacritics (decomposed accents)
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x052F),  # Cyrillic and its supplement
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese, Welsh...)
    (0x2000, 0x206F),  # general punctuation (— – ’ “ ” … narrow no-break space)
    (0x20A0, 0x20C0),  # currency symbols (€ ₽ ₺...)
    (0x2100, 0x214F),  # letterlike symbols (№ ™)
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators (− ×)
)


def full(style: str) -> Path:
    """The complete DejaVu Sans file for ``style`` ("" or "B"), from matplotlib's data."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is required for its DejaVu fonts")
    return Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / STYLES[style]


@cache
def european(style: str) -> Path:
    """The European cut of :func:`full`, built on first use and reused by every later process.

    The file name carries a digest of the source font, the ranges and the fontTools version, so a new
    font or subsetter gives a new file; it is written to a temporary name and renamed, so concurrent
    tasks never read half a font. Where the state directory cannot be written, the full font is used.
    """
    source = full(style)
    key = hashlib.sha256(source.read_bytes() + repr((EUROPEAN_RANGES, fontTools.version)).encode()).hexdigest()
    try:
        target = state_dir() / "fonts" / f"{source.stem}-european-{key[:16]}.ttf"
        if not target.exists():
            _write_cut(source, target)
    except OSError as error:
        logger.warning("cannot keep the European cut of %s (%s); drawing with the full font", source.name, error)
        return source
    return target


def _write_cut(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    font = ttLib.TTFont(source, recalcTimestamp=False)
    options = subset.Options(notdef_outline=True, recommended_glyphs=True, layout_features=["*"],
                             name_IDs=["*"], name_languages=["*"], glyph_names=True, legacy_kern=True,
                             hinting=True, drop_tables=subset.Options().drop_tables + ["FFTM"])
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[code for low, high in EUROPEAN_RANGES for code in range(low, high + 1)])
    subsetter.subset(font)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
    os.close(handle)
    try:
        font.save(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    logger.info("built the European cut of %s (%d glyphs) at %s", source.name, len(font.getGlyphOrder()), target)
