"""Text XML 1.0 cannot carry: C0 control characters other than tab, line feed and carriage return, and the
non-characters U+FFFE and U+FFFF (the ``Char`` production, XML 1.0 §2.2).

Every invoice is XML (CII, UBL, the Factur-X attachment) and so is Flux 10: a vertical tab pasted into a
CRM name cannot be written into any of them. Staging quarantines such rows (rules ``<table>.<column>_xml_text``)
and issuing checks the drafts again (:mod:`passerelle.invoicing.checks`), so the text never reaches a number.
Surrogates and NUL cannot occur in Postgres text and are covered by the Python pattern alone.
"""

from __future__ import annotations

import re
from typing import Any

UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The same class as a Postgres regular expression (ARE \u escapes), for checks computed in SQL.
SQL_UNSAFE = r"[\u0001-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]"


def first_unsafe(text: Any) -> tuple[int, str] | None:
    """(1-based position, character) of the first character XML 1.0 cannot carry, or None."""
    if not isinstance(text, str):
        return None
    found = UNSAFE.search(text)
    return (found.start() + 1, found.group()) if found else None


def unsafe_reason(field: str, text: Any) -> str | None:
    """Why ``text`` cannot go into XML, naming the field, the code point and where it is; None if it can."""
    found = first_unsafe(text)
    if found is None:
        return None
    position, char = found
    return f"{field} holds U+{ord(char):04X} at character {position}, which XML 1.0 cannot carry"
