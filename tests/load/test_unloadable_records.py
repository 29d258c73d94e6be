"""A record jsonb cannot store is set aside in raw.quarantined_records; the rest of its window commits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from passerelle import exact_json
from passerelle.load.raw_loader import load_window, unloadable_counts
from passerelle.records import Page, Record, Window

D0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
WINDOW = Window(D0, D0 + timedelta(days=1))
DEEP = "[" * 10_000 + "]" * 10_000

# The JSON a vendor sends for a hostile record (as bytes on the wire) and the reason expected for it.
HOSTILE = {
    "nul": ('"x\\u0000y"', "NUL"),
    "lone_surrogate": ('"x\\ud800y"', "not valid Unicode"),
    "nan": ("NaN", "NaN"),
    "infinity": ("-Infinity", "Infinity"),
    "beyond_numeric": ("1e999999", "outside the range"),
    "deep": (DEEP, "nested deeper"),
}


def vendor_page(texts: list[str]) -> list[dict]:
    """Records as a connector gets them: one response body parsed with the exact parser."""
    return exact_json.loads(("[" + ",".join(texts) + "]").encode())


def record(item: dict, minute: int) -> Record:
    return Record(str(item["Id"]), D0 + timedelta(minutes=minute), item)


def pages(items: list[dict], size: int = 7) -> Iterator[Page]:
    records = [record(item, i) for i, item in enumerate(items)]
    for start in range(0, len(records), size):
        yield Page(records[start:start + size], location=f"offset={start}")


def fetch(conn, sql: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        found = cur.fetchall()
    conn.rollback()
    return found


def hostile_window() -> list[dict]:
    texts = [f'{{"Id": "good-{i}", "Amount": 10.{i:02d}}}' for i in range(40)]
    for position, (name, (value, _)) in enumerate(HOSTILE.items()):
        texts.insert(position * 6 + 3, f'{{"Id": "bad-{name}", "Field": {value}}}')
    return vendor_page(texts)


def test_unloadable_records_are_set_aside_and_the_window_commits(warehouse_conn) -> None:
    stats = load_window(warehouse_conn, source="src", stream="strm", window=WINDOW, pages=pages(hostile_window()),
                        run_id="run-1")
    assert (stats.inserted, stats.unloadable) == (40, len(HOSTILE))
    assert fetch(warehouse_conn, "SELECT count(*) FROM raw.records WHERE record_id LIKE 'good-%%'") == [(40,)]
    held = {row[0]: row[1:] for row in fetch(
        warehouse_conn, "SELECT record_id, reason, convert_from(original, 'UTF8'), cursor_value, first_run_id,"
                        " times_seen FROM raw.quarantined_records WHERE source = 'src' AND stream = 'strm'")}
    assert set(held) == {f"bad-{name}" for name in HOSTILE}
    for name, (value, reason) in HOSTILE.items():
        why, original, cursor, run_id, seen = held[f"bad-{name}"]
        assert reason in why, name
        assert original == f'{{"Id":"bad-{name}","Field":{value}}}', name  # as sent, escapes and all
        assert cursor is not None and run_id == "run-1" and seen == 1
    assert fetch(warehouse_conn, "SELECT unloadable FROM audit.load_log") == [(len(HOSTILE),)]

    again = load_window(warehouse_conn, source="src", stream="strm", window=WINDOW, pages=pages(hostile_window()),
                        run_id="run-2")
    assert (again.inserted, again.unchanged, again.unloadable) == (0, 40, len(HOSTILE))
    assert fetch(warehouse_conn, "SELECT count(*), min(times_seen), max(last_run_id) FROM raw.quarantined_records") == [
        (len(HOSTILE), 2, "run-2")]
    assert unloadable_counts(warehouse_conn) == {("src", "strm"): len(HOSTILE)}
    assert unloadable_counts(warehouse_conn, "run-1") == {}
    assert fetch(warehouse_conn, "SELECT source, stream, records FROM quality.raw_quarantine_summary") == [
        ("src", "strm", len(HOSTILE))]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_case_alone_never_blocks_its_page(warehouse_conn, name: str) -> None:
    value, reason = HOSTILE[name]
    items = vendor_page(['{"Id": "a"}', f'{{"Id": "b", "Field": {value}}}', '{"Id": "c"}'])
    stats = load_window(warehouse_conn, source="src", stream="strm", window=WINDOW, pages=pages(items, size=3),
                        run_id="run-1")
    assert (stats.inserted, stats.unloadable) == (2, 1)
    assert [r[0] for r in fetch(warehouse_conn, "SELECT reason FROM raw.quarantined_records")][0].find(reason) >= 0


def test_exact_numbers_that_jsonb_can_hold_are_loaded_not_quarantined(warehouse_conn) -> None:
    items = vendor_page(['{"Id": "n", "a": 1e309, "b": 99999999999999.99, "c": 12345678901234567890123, "d": 1e-7}'])
    stats = load_window(warehouse_conn, source="src", stream="strm", window=WINDOW, pages=pages(items), run_id="r")
    assert (stats.inserted, stats.unloadable) == (1, 0)
    [(a, b, c, d)] = fetch(warehouse_conn, "SELECT payload->>'a', payload->>'b', payload->>'c', payload->>'d'"
                                           " FROM raw.records")
    assert (a, b, c, d) == ("1" + "0" * 309, "99999999999999.99", "12345678901234567890123", "0.0000001")


def test_a_ten_megabyte_string_still_loads_intact(warehouse_conn) -> None:
    big = "é" * (5 * 1024 * 1024)  # 10 MB of UTF-8
    items = vendor_page([exact_json.dumps({"Id": "big", "text": big})])
    stats = load_window(warehouse_conn, source="src", stream="strm", window=WINDOW, pages=pages(items), run_id="r")
    assert (stats.inserted, stats.unloadable) == (1, 0)
    assert fetch(warehouse_conn, "SELECT payload->>'text' = %s FROM raw.records", (big,)) == [(True,)]
