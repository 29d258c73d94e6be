"""exact_json.dumps writes Decimals digit for digit whatever strings sit beside them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from passerelle import exact_json

AMOUNT = Decimal("99999999999999.9900")

CASES = {
    "decimals only": {"a": AMOUNT, "b": [Decimal("1e-7"), Decimal("-0.10")]},
    "no decimal": {"name": "Société Générale", "n": 12345678901234567890123},
    "a string ending in NUL next to a decimal": {"note": "fin\x00", "amount": AMOUNT},
    "a NUL inside a string": {"note": "a\x00b", "amount": AMOUNT},
    "a literal backslash-u0000 before a quote": {"note": "C:\\u0000", "amount": AMOUNT},
    "marker-like text": {"note": '"\\u0000deadbeef:1"', "amount": AMOUNT},
}


@pytest.mark.parametrize("value", CASES.values(), ids=CASES.keys())
def test_dumps_round_trips_exactly(value: dict) -> None:
    text = exact_json.dumps(value)
    assert exact_json.loads(text) == value
    if "amount" in value:
        assert ":99999999999999.9900" in text  # the digits, not a marker nor a float


def test_decimal_digits_are_written_as_they_came() -> None:
    text = exact_json.dumps({"amount": AMOUNT, "rate": Decimal("1.0834567891"), "tiny": Decimal("1E-7")})
    assert text == '{"amount":99999999999999.9900,"rate":1.0834567891,"tiny":1E-7}'


def test_a_string_ending_in_nul_stays_a_nul_for_the_loader_to_refuse() -> None:
    text = exact_json.dumps({"note": "fin\x00", "amount": AMOUNT})
    assert text == '{"note":"fin\\u0000","amount":99999999999999.9900}'
