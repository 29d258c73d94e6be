"""Planner statistics after a load: refreshed for the raw tables a window grew a lot, and only those."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from passerelle import exact_json
from passerelle.load import statistics
from passerelle.load.raw_loader import CONFLICTING_VERSIONS, TEMP_TABLE, _CREATE_TEMP, load_window
from passerelle.load.copy import copy_pages
from passerelle.records import Page, Record, Window
from passerelle.warehouse.settings import connect
from tests.load.test_raw_loader import D0, DAY, SOURCE, STREAM, WINDOW, load, query, rec

SECOND_WINDOW = Window(D0 + DAY, D0 + 2 * DAY)


def analyzed(conn) -> dict[str, tuple[bool, int]]:
    """Per raw table: has it been analyzed by hand, and rows changed since its last analyze."""
    rows = query(conn, "SELECT relname, last_analyze IS NOT NULL, n_mod_since_analyze FROM pg_stat_user_tables"
                       " WHERE schemaname = 'raw'")
    return {name: (done, changed) for name, done, changed in rows}


def known_rows(conn, table: str) -> float:
    return query(conn, "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,))[0][0]


def test_a_first_load_analyzes_raw_records_and_leaves_untouched_tables_alone(warehouse_conn) -> None:
    assert known_rows(warehouse_conn, "raw.records") < 0  # never analyzed: the planner guesses
    stats = load(warehouse_conn, [rec(f"R{n}", n) for n in range(120)])
    assert stats.analyzed == ("raw.records",) and stats.timings["analyze"] > 0
    state = analyzed(warehouse_conn)
    assert state["records"] == (True, 0)
    assert state["quarantined_records"][0] is False
    assert known_rows(warehouse_conn, "raw.records") == 120
    # the analyze ran after the commit, in its own transaction: nothing is left open
    assert warehouse_conn.info.transaction_status == 0


def test_a_small_window_on_a_large_stream_is_left_to_autovacuum(warehouse_conn) -> None:
    load(warehouse_conn, [rec(f"R{n}", n) for n in range(100)])
    last_analyze = "SELECT last_analyze FROM pg_stat_user_tables WHERE relid = 'raw.records'::regclass"
    [(first,)] = query(warehouse_conn, last_analyze)

    # 5 changed records are 5% of the 100 the statistics describe: below the 10% that makes them stale
    small = load(warehouse_conn, [rec(f"R{n}", 60 * 24 + n, v=2) for n in range(5)], window=SECOND_WINDOW,
                 run_id="run-2")
    assert (small.updated, small.analyzed) == (5, ())
    assert query(warehouse_conn, last_analyze) == [(first,)]

    # a rerun that changes nothing analyzes nothing either
    rerun = load(warehouse_conn, [rec(f"R{n}", 60 * 24 + n, v=2) for n in range(5)], window=SECOND_WINDOW,
                 run_id="run-3")
    assert (rerun.unchanged, rerun.analyzed) == (5, ())

    # 20 new records are 20%: analyzed again
    third = Window(D0 + 2 * DAY, D0 + 3 * DAY)
    grown = load(warehouse_conn, [rec(f"N{n}", 2 * 60 * 24 + n) for n in range(20)], window=third, run_id="run-4")
    assert grown.analyzed == ("raw.records",)
    assert known_rows(warehouse_conn, "raw.records") == 125


def test_an_unloadable_record_analyzes_the_quarantine_table_it_went_to(warehouse_conn) -> None:
    load(warehouse_conn, [rec(f"R{n}", n) for n in range(50)])
    bad = Record("X", D0 + DAY + timedelta(minutes=1), {"Id": "X", "Name": "a\u0000b"})
    stats = load_window(warehouse_conn, source=SOURCE, stream=STREAM, window=SECOND_WINDOW, pages=[Page([bad])],
                        run_id="run-2")
    assert (stats.unloadable, stats.analyzed) == (1, ("raw.quarantined_records",))
    assert analyzed(warehouse_conn)["quarantined_records"] == (True, 0)


def test_analyze_can_be_left_to_the_caller(warehouse_conn) -> None:
    stats = load(warehouse_conn, [rec("A", 1)], analyze=False)
    assert stats.analyzed == () and "analyze" not in stats.timings
    assert analyzed(warehouse_conn)["records"][0] is False


def test_a_failed_analyze_is_logged_and_the_committed_load_stands(warehouse_conn, warehouse_url: str,
                                                                  caplog: pytest.LogCaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # another session holds the lock ANALYZE needs (as a manual VACUUM would) past the analyze's lock timeout
    other = connect(warehouse_url)
    try:
        with other.cursor() as cur:
            cur.execute("LOCK TABLE raw.records IN SHARE UPDATE EXCLUSIVE MODE")
        monkeypatch.setattr(statistics, "LOCK_TIMEOUT", "200ms")
        caplog.set_level(logging.WARNING, logger="passerelle.load")
        stats = load(warehouse_conn, [rec("A", 1), rec("B", 2)])
    finally:
        other.rollback()
        other.close()
    assert (stats.inserted, stats.analyzed) == (2, ())
    assert "statistics of raw.records not refreshed" in caplog.text and "lock timeout" in caplog.text
    assert query(warehouse_conn, "SELECT count(*) FROM raw.records") == [(2,)]
    assert analyzed(warehouse_conn)["records"][0] is False


def test_conflict_check_finds_exactly_the_keys_with_different_content(warehouse_conn) -> None:
    """Only keys met more than once have their payloads compared, with the same result as comparing all."""
    records = [
        rec("A", 1, v="same"), rec("A", 1, v="same"),                      # repeated, same content: no conflict
        rec("B", 2, v="x"), rec("B", 2, v="y"), rec("B", 2, v="x"),        # three copies, two contents
        rec("C", 3, v="x"), rec("C", 3, deleted=True, v="y"),              # other is_deleted: another version
        rec("D", 4, v="x"), rec("D", 5, v="y"),                            # other cursor: another version
        rec("E", 6, n=exact_json.loads("1.0")), rec("E", 6, n=exact_json.loads("1.00")),  # jsonb: equal numbers
        rec("F", 7, v="p"), rec("F", 7, v="q"), rec("F", 7, v="r"),
    ]
    with warehouse_conn.cursor() as cur:
        cur.execute(_CREATE_TEMP)
        copy_pages(cur, TEMP_TABLE, [Page(records)], source=SOURCE, stream=STREAM)
        cur.execute(CONFLICTING_VERSIONS + " ORDER BY 1")
        found = [(record_id, is_deleted, [v["v"] for v in versions]) for record_id, _, is_deleted, versions
                 in cur.fetchall()]
        cur.execute(f"""SELECT record_id, cursor_value, is_deleted, jsonb_agg(DISTINCT payload) FROM {TEMP_TABLE}
                         GROUP BY 1, 2, 3 HAVING count(DISTINCT payload) > 1 ORDER BY 1""")
        everything = [(record_id, is_deleted, [v["v"] for v in versions]) for record_id, _, is_deleted, versions
                      in cur.fetchall()]
    warehouse_conn.rollback()
    assert found == everything == [("B", False, ["x", "y"]), ("F", False, ["p", "q", "r"])]
    stats = load(warehouse_conn, records, window=WINDOW)
    assert stats.quarantined == 2
    assert query(warehouse_conn, "SELECT record_key FROM quality.quarantine ORDER BY 1") == [("B",), ("F",)]
