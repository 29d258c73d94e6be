"""exact_json reads and writes most documents through msgspec: the result must be the standard library's.

The standard library's reader and writer (with the Decimal hooks) are the reference: for any document,
the fast path gives the same values, the same text, or the same refusal.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from passerelle import exact_json

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**80, max_value=2**80), st.text(),
                   st.decimals(), st.floats(), st.datetimes())
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                      max_leaves=20)
DOCUMENTS = st.dictionaries(st.text(max_size=5), VALUES, max_size=6)


def reference_dumps(value: Any) -> str:
    return exact_json._unmark(exact_json._EXACT.encode(value))


def reference_loads(data: bytes) -> Any:
    return exact_json._DECODER.decode(data.decode(json.detect_encoding(data)))


def outcome(function: Any, value: Any) -> Any:
    try:
        return function(value)
    except (ValueError, TypeError, RecursionError) as error:
        return type(error).__name__


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, Decimals digit for digit (``Decimal('1.0') == Decimal('1')`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, (Decimal, exact_json.Unloadable)):
        return str(a) == str(b) if isinstance(a, Decimal) else a == b
    return a == b


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS)
def test_dumps_writes_what_the_standard_encoder_writes_or_refuses_the_same(value: dict) -> None:
    assert outcome(exact_json.dumps, value) == outcome(reference_dumps, value)


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS)
def test_dumps_verbatim_writes_what_the_standard_encoder_writes(value: dict) -> None:
    def reference(v: Any) -> bytes:
        text = exact_json._unmark(exact_json._VERBATIM.encode(v), escaped=True)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return exact_json.dumps_lossless(v).encode("ascii")

    assert outcome(exact_json.dumps_verbatim, value) == outcome(reference, value)


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS)
def test_loads_reads_what_the_standard_reader_reads(value: dict) -> None:
    data = exact_json.dumps_lossless(value).encode("ascii")
    assert same(outcome(exact_json.loads, data), outcome(reference_loads, data))


def test_what_msgspec_refuses_is_read_by_the_standard_reader() -> None:
    document = b'{"nan": NaN, "big": ' + b"9" * 5000 + b', "lone": "\\ud800", "amount": 1.10}'
    value = exact_json.loads(document)
    assert value["nan"] == exact_json.Unloadable("NaN", "NaN is not a JSON number (jsonb cannot store it)")
    assert value["big"] == Decimal("9" * 5000) and value["lone"] == "\ud800" and str(value["amount"]) == "1.10"


def test_a_float_nan_built_by_code_is_refused_not_written_as_null() -> None:
    assert outcome(exact_json.dumps, {"a": {"b": [1, float("nan")]}}) == "ValueError"
    assert outcome(exact_json.dumps, {"a": Decimal("NaN")}) == "UnloadableValueError"
