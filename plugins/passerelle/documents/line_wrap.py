"""Greedy line breaking over per-character widths, in one pass.

fpdf2's ``multi_cell`` recomputes the width of the line being built from all its fragments for every
character, so breaking a paragraph costs the square of its line length, and its tables break every cell
twice (to size the row, then to draw it). The invoice page instead breaks each text once here, with the
same rules: a line ends at a newline, or at the last breaking space before the text outgrows the width
(that space dropped); a word longer than the whole line is cut between characters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

BREAKING_SPACES = frozenset(" \t\u200b\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a\u205f\u3000")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Line:
    """One printed line; ``wrapped`` when it ended because the width was reached (so it may be justified),
    not at a newline or the end of the text."""

    text: str
    units: int  # its width, in thousandths of an em
    wrapped: bool


def wrap(text: str, limit: float, width: Callable[[str], int]) -> list[Line]:
    """``text`` broken into lines no wider than ``limit`` (thousandths of an em), ``width`` giving each
    character's advance; an empty text or paragraph still gives one (empty) line."""
    lines: list[Line] = []
    limit += TOLERANCE
    for paragraph in text.split("\n"):
        start, count = 0, len(paragraph)
        while True:
            units, space, space_units, index = 0, -1, 0, start
            while index < count:
                character = paragraph[index]
                advance = width(character)
                if units + advance > limit:
                    break
                if character in BREAKING_SPACES:
                    space, space_units = index, units
                units += advance
                index += 1
            if index == count:
                lines.append(Line(paragraph[start:], units, False))
                break
            if paragraph[index] in BREAKING_SPACES:  # the space that overflows is dropped
                lines.append(Line(paragraph[start:index], units, True))
                start = index + 1
            elif space >= 0:  # back to the last space, which is dropped
                lines.append(Line(paragraph[start:space], space_units, True))
                start = space + 1
            else:  # a word wider than the line: cut it (at least one character per line)
                index = max(index, start + 1)
                lines.append(Line(paragraph[start:index], sum(map(width, paragraph[start:index])), True))
                start = index
            if start >= count:
                break
    return lines
