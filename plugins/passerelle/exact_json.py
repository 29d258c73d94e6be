"""JSON without binary floating point: vendor numbers reach ``jsonb`` digit for digit.

``json.loads`` turns ``99999999999999.99`` into the float ``99999999999999.98``; here every number with
a fraction or exponent becomes a :class:`~decimal.Decimal` and every integer an ``int``, and
:func:`dumps` writes them back with the digits they came with.

A document can also hold values that JSON readers accept but ``jsonb`` cannot store (``NaN``,
``Infinity``, numbers beyond ``numeric``'s range, nesting deeper than Postgres allows). Instead of
failing the whole response, :func:`loads` keeps each such value as an :class:`Unloadable` holding its
original text; :func:`dumps` refuses it, so only the record that contains it is set aside, and
:func:`dumps_lossless` writes it back as it came for the quarantine.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from json.decoder import JSONDecodeError, scanstring
from json.scanner import NUMBER_RE
from typing import Any

import msgspec

# Postgres numeric: up to 131072 digits before the decimal point and 16383 after.
_MAX_ADJUSTED_EXPONENT = 131071
_MIN_EXPONENT = -16383
# Deeper values are kept as text: far below the C parser's recursion limit and Postgres' stack.
MAX_DEPTH = 200
# Python refuses to turn longer digit strings into int (int_max_str_digits); Decimal has no such limit.
_INT_DIGITS = 4000


class Unloadable:
    """A value read from JSON that ``jsonb`` cannot hold, with its original text and why."""

    __slots__ = ("text", "reason")

    def __init__(self, text: str, reason: str) -> None:
        self.text, self.reason = text, reason

    def __repr__(self) -> str:
        return f"Unloadable({self.text[:40]!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unloadable) and (self.text, self.reason) == (other.text, other.reason)

    def __hash__(self) -> int:
        return hash((self.text, self.reason))


class UnloadableValueError(ValueError):
    """:func:`dumps` met a value ``jsonb`` cannot store; the message says which and why."""


def _decimal(text: str) -> Decimal | Unloadable:
    value = Decimal(text)
    if value and not (_MIN_EXPONENT <= value.as_tuple().exponent and value.adjusted() <= _MAX_ADJUSTED_EXPONENT):
        return Unloadable(text, f"number {text[:40]} is outside the range Postgres numeric can store")
    return value


def _integer(text: str) -> int | Decimal | Unloadable:
    return int(text) if len(text) <= _INT_DIGITS else _decimal(text)


def _constant(name: str) -> Unloadable:
    return Unloadable(name, f"{name} is not a JSON number (jsonb cannot store it)")


_DECODER = json.JSONDecoder(parse_float=_decimal, parse_int=_integer, parse_constant=_constant)


_FAST_DECODER = msgspec.json.Decoder(float_hook=_decimal)
"""msgspec reads a page about three times faster than :data:`_DECODER`; it refuses what it cannot read
exactly (NaN, lone surrogates, integers beyond 64 bits, deep nesting, non-UTF-8), which the standard
library's reader then reads as before."""


def loads(data: bytes | bytearray | str) -> Any:
    """Parse a JSON document exactly (Decimal / int, never float).

    Raises ``json.JSONDecodeError`` (a ValueError) for text that is not JSON. A document nested too
    deep for the C parser is read again iteratively, with every value deeper than :data:`MAX_DEPTH`
    kept as an :class:`Unloadable` so the records around it still load.
    """
    try:
        return _FAST_DECODER.decode(data)
    except (msgspec.MsgspecError, RecursionError, UnicodeError):
        pass
    text = data.decode(json.detect_encoding(data)) if isinstance(data, (bytes, bytearray)) else data
    try:
        return _DECODER.decode(text)
    except RecursionError:
        return _DeepReader(text).document()


_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CONSTANTS = {"true": True, "false": False, "null": None}


class _DeepReader:
    """An iterative JSON reader (no recursion) for documents the C parser cannot descend into."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()

    def _fail(self, message: str) -> JSONDecodeError:
        return JSONDecodeError(message, self.text, self.pos)

    def _scalar(self) -> Any:
        text, pos = self.text, self.pos
        char = text[pos:pos + 1]
        if char == '"':
            value, self.pos = scanstring(text, pos + 1)
            return value
        for literal, value in _CONSTANTS.items():
            if text.startswith(literal, pos):
                self.pos = pos + len(literal)
                return value
        for literal in ("NaN", "Infinity", "-Infinity"):
            if text.startswith(literal, pos):
                self.pos = pos + len(literal)
                return _constant(literal)
        match = NUMBER_RE.match(text, pos)
        if match is None:
            raise self._fail("Expecting value")
        integer, fraction, exponent = match.groups()
        self.pos = match.end()
        number = match.group()
        return _decimal(number) if fraction or exponent else _integer(integer)

    def _skip_value(self) -> str:
        """Skip one value whatever its depth and return its text."""
        start, depth = self.pos, 0
        while True:
            self._skip()
            char = self.text[self.pos:self.pos + 1]
            if char in "[{":
                depth += 1
                self.pos += 1
            elif char in "]}":
                depth -= 1
                self.pos += 1
            elif char in ",:":
                self.pos += 1
            elif not char:
                raise self._fail("Unterminated value")
            else:
                self._scalar()
            if depth == 0:
                return self.text[start:self.pos]

    def document(self) -> Any:
        # Each frame: [container, pending key (objects)]; values are attached as they complete.
        stack: list[list[Any]] = []
        result: Any = None
        while True:
            self._skip()
            char = self.text[self.pos:self.pos + 1]
            if char in "[{" and len(stack) >= MAX_DEPTH:
                value: Any = Unloadable(self._skip_value(), f"nested deeper than {MAX_DEPTH} levels")
            elif char == "[":
                self.pos += 1
                stack.append([[], None])
                self._skip()
                if self.text.startswith("]", self.pos):
                    self.pos += 1
                    value = stack.pop()[0]
                else:
                    continue
            elif char == "{":
                self.pos += 1
                stack.append([{}, None])
                self._skip()
                if self.text.startswith("}", self.pos):
                    self.pos += 1
                    value = stack.pop()[0]
                else:
                    stack[-1][1] = self._key()
                    continue
            else:
                value = self._scalar()
            # attach ``value`` and close every container that ends here
            while True:
                if not stack:
                    self._skip()
                    if self.pos != len(self.text):
                        raise self._fail("Extra data")
                    return value
                frame = stack[-1]
                if isinstance(frame[0], list):
                    frame[0].append(value)
                else:
                    frame[0][frame[1]] = value
                self._skip()
                char = self.text[self.pos:self.pos + 1]
                closer = "]" if isinstance(frame[0], list) else "}"
                if char == ",":
                    self.pos += 1
                    if closer == "}":
                        self._skip()
                        frame[1] = self._key()
                    break
                if char != closer:
                    raise self._fail(f"Expecting ',' delimiter or {closer!r}")
                self.pos += 1
                value = stack.pop()[0]
        return result  # pragma: no cover - the loop returns

    def _key(self) -> str:
        if not self.text.startswith('"', self.pos):
            raise self._fail("Expecting property name enclosed in double quotes")
        key, self.pos = scanstring(self.text, self.pos + 1)
        self._skip()
        if not self.text.startswith(":", self.pos):
            raise self._fail("Expecting ':' delimiter")
        self.pos += 1
        return key


# Decimals are written through the C encoder as a marker string, then the markers are replaced by
# the digits. The marker starts with NUL (never stored: jsonb refuses it) and a per-process secret,
# so no payload string can be mistaken for one.
_MARK = f"\x00{secrets.token_hex(8)}:"
_MARKED = re.compile(r'"\\u0000' + _MARK[1:] + r'((?:[^"\\]|\\.)*?)\\u0000"')


def _exact_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnloadableValueError(f"{value} is not a JSON number (jsonb cannot store it)")
        return f"{_MARK}{value}\x00"
    if isinstance(value, Unloadable):
        raise UnloadableValueError(value.reason)
    return str(value)


def _lossless_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{value}\x00"
    if isinstance(value, Unloadable):
        return f"{_MARK}{value.text}\x00"
    return str(value)


# allow_nan=False: a float NaN/Infinity built by code (not parsed) is refused like the parsed ones.
_EXACT = json.JSONEncoder(default=_exact_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_LOSSLESS = json.JSONEncoder(default=_lossless_default, ensure_ascii=True, separators=(",", ":"), allow_nan=True)
_CANONICAL = json.JSONEncoder(default=_lossless_default, ensure_ascii=True, separators=(",", ":"), allow_nan=True,
                              sort_keys=True)


_OPEN, _CLOSE = '"\\u0000' + _MARK[1:], '\\u0000"'


def _unmark(text: str, *, escaped: bool = False) -> str:
    """Replace each marker string by its content (JSON-unescaped when it may hold escapes)."""
    if "\\u0000" not in text:
        return text
    if escaped:
        return _MARKED.sub(lambda match: json.loads(f'"{match.group(1)}"'), text)
    opened = text.count(_OPEN)
    if opened == text.count(_CLOSE):  # no NUL of the payload's own ends a string: plain replaces are exact
        return text.replace(_OPEN, "").replace(_CLOSE, "") if opened else text
    return _MARKED.sub(r"\1", text)


_PLAIN = frozenset((str, int, bool, type(None)))
_FAST_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _plain(value: dict[str, Any] | list[Any]) -> bool:
    """Whether ``value`` holds only what :func:`loads` makes (no float, datetime or other object), which
    msgspec writes exactly as the standard library's encoder does: a float NaN, say, it would write as
    ``null``."""
    for item in (value.values() if type(value) is dict else value):
        kind = type(item)
        if kind in _PLAIN:
            continue
        if kind is Decimal:
            if item.is_finite():  # msgspec would write NaN as it is, which is not JSON
                continue
            return False
        if not ((kind is dict or kind is list) and _plain(item)):
            return False
    return True


def _fast_encoding(value: Any) -> bytes | None:
    """msgspec's UTF-8 JSON for a document :func:`_plain` accepts, else None (the caller's standard encoder
    then writes it, or raises as it should)."""
    if type(value) is dict or type(value) is list:
        try:
            if _plain(value):
                return _FAST_ENCODER.encode(value)
        except (RecursionError, UnicodeError, msgspec.MsgspecError, TypeError):
            pass
    return None


def dumps_utf8(value: Any) -> bytes:
    """:func:`dumps` as UTF-8 bytes, without a round trip through ``str`` for what msgspec writes.

    Raises UnicodeEncodeError for text UTF-8 cannot hold (lone surrogates), besides what :func:`dumps` raises.
    """
    fast = _fast_encoding(value)
    return fast if fast is not None else _unmark(_EXACT.encode(value)).encode("utf-8")


def dumps(value: Any) -> str:
    """Compact JSON text with Decimals written digit for digit (``ensure_ascii=False``).

    Raises :class:`UnloadableValueError` for NaN, Infinity or an :class:`Unloadable` value, TypeError
    never (unknown objects are written as their ``str``), RecursionError for absurd depth.
    What :func:`loads` made is written by msgspec (three times faster), anything else or anything msgspec
    refuses (lone surrogates) by the standard library's encoder.
    """
    fast = _fast_encoding(value)
    return fast.decode("utf-8") if fast is not None else _unmark(_EXACT.encode(value))


def dumps_lossless(value: Any) -> str:
    """ASCII JSON text that keeps everything :func:`loads` read, loadable or not: lone surrogates as
    ``\\ud800`` escapes, NaN as ``NaN``, unloadable values as their original text. For quarantine."""
    return _unmark(_LOSSLESS.encode(value), escaped=True)


def canonical(value: Any) -> str:
    """:func:`dumps_lossless` with sorted keys: a stable text to fingerprint content with."""
    return _unmark(_CANONICAL.encode(value), escaped=True)


_VERBATIM = json.JSONEncoder(default=_lossless_default, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def dumps_verbatim(value: Any) -> bytes:
    """UTF-8 JSON writing every value as :func:`loads` read it (Decimals' digits, NaN, unloadable values'
    original text); text UTF-8 cannot carry (lone surrogates) is written as ``\\u`` escapes instead.
    What an API that sends such values puts on the wire."""
    fast = _fast_encoding(value)  # nothing to write verbatim but Decimals' digits: msgspec's output is the same
    if fast is not None:
        return fast
    text = _unmark(_VERBATIM.encode(value), escaped=True)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return dumps_lossless(value).encode("ascii")
