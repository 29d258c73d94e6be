"""COPY encoding: payloads and ids with every awkward character come back exactly as sent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from passerelle.errors import BadRecordError
from passerelle.load.copy import copy_pages, encode_record, escape
from passerelle.records import Page, Record

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)

ODD_STRINGS = [
    "tab\there",
    "new\nline",
    "carriage\rreturn\r\n",
    "back\\slash",
    "trailing backslash\\",
    "\\N",
    "\\.",
    "\\\\u0000 is text, not NUL",
    'double "quotes" and \'single\'',
    "accents é à ü, euro €, emoji 🦆, CJK 漢字",
    "line\u2028separator\u2029paragraph",
    "controls \x01\x07\x1b\x1f\x7f",
    "",
    " leading and trailing spaces ",
    "{\"looks\": \"like json\"}",
]

PAYLOAD = {
    "strings": ODD_STRINGS,
    "nested": {"k\tey\n": {"deeper\\": ["é€", {"x": "\r"}]}},
    "numbers": [0, -1, 1.5, 10**20],
    "flags": [True, False, None],
    "empty": {},
    **{f"field_{i}": value for i, value in enumerate(ODD_STRINGS)},
}


@pytest.fixture
def temp_table(warehouse_conn) -> str:
    with warehouse_conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE copy_target (record_id text, cursor_value timestamptz,"
                    " is_deleted boolean, payload jsonb)")
    return "copy_target"


def test_escape_covers_copy_specials() -> None:
    assert escape("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re"


def test_payloads_and_ids_round_trip_exactly(warehouse_conn, temp_table: str) -> None:
    ids = [f"id-{i}-{s}" for i, s in enumerate(ODD_STRINGS)]
    records = [Record(record_id, T0 + timedelta(microseconds=i), PAYLOAD | {"id": record_id}, deleted=i % 2 == 1)
               for i, record_id in enumerate(ids)]
    pages = [Page(records[:5]), Page([]), Page(records[5:])]

    with warehouse_conn.cursor() as cur:
        assert copy_pages(cur, temp_table, iter(pages)) == (len(records), 3)
        cur.execute(f"SELECT record_id, cursor_value, is_deleted, payload FROM {temp_table}")
        rows = {row[0]: row[1:] for row in cur.fetchall()}

    assert set(rows) == set(ids)
    for i, record in enumerate(records):
        cursor_value, is_deleted, payload = rows[record.record_id]
        assert cursor_value == record.cursor
        assert is_deleted is record.deleted
        assert payload == record.payload


def test_non_json_values_are_stored_as_text_and_cursor_normalised(warehouse_conn, temp_table: str) -> None:
    paris = datetime(2024, 3, 1, 13, 0, 0, 123456, tzinfo=ZoneInfo("Europe/Paris"))
    record = Record("x", paris, {"when": paris, "amount": Decimal("12.30")})
    with warehouse_conn.cursor() as cur:
        copy_pages(cur, temp_table, [Page([record])])
        cur.execute(f"SELECT cursor_value, payload::text FROM {temp_table}")
        cursor_value, payload = cur.fetchone()
    assert cursor_value == paris
    assert payload == f'{{"when": "{paris}", "amount": 12.30}}'  # a Decimal is a JSON number, digit for digit


@pytest.mark.parametrize(
    ("record", "named", "problem"),
    [
        (Record("", T0, {}), "#1 (p1)", "record_id"),
        (Record(None, T0, {}), "#1 (p1)", "record_id"),  # type: ignore[arg-type]
        (Record("a", datetime(2024, 1, 1), {}), "a", "timezone-aware"),
        (Record("a", "2024-01-01", {}), "a", "timezone-aware"),  # type: ignore[arg-type]
        (Record("a", T0, ["not", "a", "dict"]), "a", "payload must be a dict"),  # type: ignore[arg-type]
        (Record("a", T0, {"x": "nul \x00 inside"}), "a", "NUL"),
        (Record("a", T0, {"x": float("nan")}), "a", "JSON"),
        (Record("a\x00b", T0, {}), "a\x00b", "NUL"),
        (Record("a", T0, {"x": "\ud800"}), "a", "Unicode"),
    ],
)
def test_bad_records_are_named(warehouse_conn, temp_table: str, record: Record, named: str, problem: str) -> None:
    with warehouse_conn.cursor() as cur, pytest.raises(BadRecordError) as caught:
        copy_pages(cur, temp_table, [Page([record], location="p1")], source="src", stream="strm")
    assert (caught.value.source, caught.value.stream, caught.value.record) == ("src", "strm", named)
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"src.strm: record {named}: ")


def test_encoded_line_is_one_line_with_four_columns() -> None:
    line = encode_record(Record("a\tb\nc", T0, {"v": "x\ty\nz\\"}))
    assert line.endswith("\n") and line.count("\n") == 1
    assert line.count("\t") == 3
