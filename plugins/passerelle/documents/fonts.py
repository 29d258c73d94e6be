"""The invoice typefaces: DejaVu Sans for European scripts, Noto Sans CJK faces for Chinese, Japanese and Korean.

Reading and subsetting a font is much of the cost of a Factur-X, and grows with the font's size (see also
:mod:`passerelle.documents.parsed_fonts`). Invoices are mostly written in Latin, Greek or Cyrillic script
with punctuation, currency signs and a few symbols, so :func:`european` gives a copy of DejaVu Sans with
only those ranges (about 2,100 of its 6,200 glyphs, same outlines and metrics), built once per font file
and kept under the state directory. The cut also leaves out what fpdf2 never embeds (the OpenType layout
and kerning tables, glyph names, cmaps other than the Windows Unicode one), which makes it quicker still
to read and to subset.

A customer may also be named in Chinese, Japanese or Korean. :func:`typeset_for` picks, from the
characters a document prints, the cheapest set of fonts that has them all: the European cut alone for
nearly every invoice; otherwise the full DejaVu Sans with, as fpdf2 fallback fonts, only the Noto Sans
faces (SC, KR, JP, TC from ``justmytype-intl-cjk``, SIL Open Font License) whose glyphs are needed. Those
ship as variable fonts; :func:`cjk` keeps a static regular instance of each under the state directory.
fpdf2 subsets every font to the glyphs used when it writes the PDF. The characters no font has are
returned, so the caller refuses the document rather than printing it without them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import fontTools
from fontTools import subset, ttLib
from fontTools.varLib import instancer

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
CUT_DROPPED_TABLES = ("FFTM", "GDEF", "GPOS", "GSUB", "MATH", "kern")  # fpdf2 neither shapes text nor embeds these
CUT_LAYOUT = ("no layout tables", CUT_DROPPED_TABLES, "post 3", "cmap 3.1")  # part of the cut's file name digest
CJK_PACKAGE = "justmytype_intl_cjk"
CJK_FACES = {  # fpdf2 family name: variable font in the package, in fallback order
    "NotoSansSC": "ofl/notosanssc/NotoSansSC[wght].ttf",  # hanzi (simplified and most traditional), kana
    "NotoSansKR": "ofl/notosanskr/NotoSansKR[wght].ttf",  # hangul
    "NotoSansJP": "ofl/notosansjp/NotoSansJP[wght].ttf",  # kanji forms the SC face lacks
    "NotoSansTC": "ofl/notosanstc/NotoSansTC[wght].ttf",  # traditional forms the SC face lacks
}
CJK_WEIGHT = 400  # bold CJK text is drawn in this weight: fpdf2 falls back across emphasis


@dataclass(frozen=True)
class Typeset:
    """The fonts a document is drawn with: DejaVu Sans (``main(style)`` gives its file) and the CJK families
    fpdf2 falls back to, in order, for characters DejaVu Sans lacks."""

    main: Callable[[str], Path]
    fallbacks: tuple[str, ...] = ()


def typeset_for(codepoints: Collection[int]) -> tuple[Typeset, set[int]]:
    """The cheapest typeset for text made of ``codepoints``, and those of them that no font has.

    A character counts as covered by DejaVu Sans only when both its regular and bold faces have it, since a
    field may be printed in either.
    """
    wanted = set(codepoints)
    if wanted <= coverage(european):
        return Typeset(european), set()
    rest = wanted - coverage(full)
    fallbacks = []
    for family in CJK_FACES:
        found = rest & _cmap(cjk_source(family))
        if found:
            fallbacks.append(family)
            rest -= found
    return Typeset(full, tuple(fallbacks)), rest


@cache
def coverage(font_file: Callable[[str], Path]) -> frozenset[int]:
    """The code points both the regular and the bold file of ``font_file`` have glyphs for."""
    return frozenset.intersection(*(_cmap(font_file(style)) for style in STYLES))


@cache
def _cmap(path: Path) -> frozenset[int]:
    return frozenset(ttLib.TTFont(path, lazy=True).getBestCmap())


def cjk_source(family: str) -> Path:
    """The variable font of a :data:`CJK_FACES` family, as ``justmytype-intl-cjk`` ships it."""
    spec = importlib.util.find_spec(CJK_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("justmytype-intl-cjk is required for its Noto Sans CJK fonts")
    return Path(spec.submodule_search_locations[0]) / "fonts" / CJK_FACES[family]


@cache
def cjk(family: str) -> Path:
    """A static regular instance of :func:`cjk_source`, built on first use (about 15 s) and reused by every
    later process; kept like :func:`european`, or in the temporary directory where the state one cannot be
    written."""
    source = cjk_source(family)
    with source.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
    digest.update(repr((CJK_WEIGHT, "named", fontTools.version)).encode())
    name = f"{family}-{CJK_WEIGHT}-{digest.hexdigest()[:16]}.ttf"
    try:
        target = state_dir() / "fonts" / name
        if not target.exists():
            _write_instance(source, target)
    except OSError as error:
        logger.warning("cannot keep the %s instance (%s); building it in the temporary directory", family, error)
        target = Path(tempfile.gettempdir()) / "passerelle-fonts" / name
        if not target.exists():
            _write_instance(source, target)
    return target


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
    recipe = repr((EUROPEAN_RANGES, CUT_LAYOUT, fontTools.version)).encode()
    key = hashlib.sha256(source.read_bytes() + recipe).hexdigest()
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
    options = subset.Options(notdef_outline=True, recommended_glyphs=True, layout_features=[], name_IDs=["*"],
                             name_languages=["*"], glyph_names=False, legacy_kern=False, hinting=True,
                             drop_tables=subset.Options().drop_tables + list(CUT_DROPPED_TABLES))
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[code for low, high in EUROPEAN_RANGES for code in range(low, high + 1)])
    subsetter.subset(font)
    font["cmap"].tables = [table for table in font["cmap"].tables if (table.platformID, table.platEncID) == (3, 1)]
    _save(font, target)
    logger.info("built the European cut of %s (%d glyphs) at %s", source.name, len(font.getGlyphOrder()), target)


def _write_instance(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    font = instancer.instantiateVariableFont(ttLib.TTFont(source, recalcTimestamp=False), {"wght": CJK_WEIGHT},
                                             updateFontNames=True)  # "Noto Sans SC Regular", not the default Thin
    _save(font, target)
    logger.info("built the static %s instance of %s at %s", CJK_WEIGHT, source.name, target)


def _save(font: ttLib.TTFont, target: Path) -> None:
    """Write to a temporary name and rename, so concurrent tasks never read half a font."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
    os.close(handle)
    try:
        font.save(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
