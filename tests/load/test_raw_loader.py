"""The raw loader against a real warehouse: counts, idempotence, watermarks, atomicity, validation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest

from passerelle.errors import BadRecordError
from passerelle.load.raw_loader import LoadStats, Watermark, get_watermark, load_window
from passerelle.records import Page, Record, Window
from passerelle.warehouse.settings import connect

SOURCE, STREAM = "salesforce", "Account"
DAY = timedelta(days=1)
D0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
WINDOW = Window(D0, D0 + DAY)


def rec(record_id: str, minutes: int = 0, deleted: bool = False, **payload: object) -> Record:
    return Record(record_id, D0 + timedelta(minutes=minutes), {"Id": record_id, **payload}, deleted=deleted)


def paged(records: list[Record], size: int = 2) -> Iterator[Page]:
    for start in range(0, len(records), size):
        yield Page(records[start:start + size], location=f"offset={start}")


DIRECT = {"on": False}


@pytest.fixture(autouse=True, params=[False, True], ids=["batch", "direct"])
def first_loads(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs twice: first loads through the batch table, and copied straight into raw.records."""
    DIRECT["on"] = request.param
    yield
    DIRECT["on"] = False


def load(conn, records: list[Record], window: Window = WINDOW, run_id: str = "run-1", **kwargs) -> LoadStats:
    return load_window(conn, source=SOURCE, stream=STREAM, window=window, pages=paged(records), run_id=run_id,
                       **{"direct": DIRECT["on"], **kwargs})


def query(conn, sql: str, params: tuple = ()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def snapshot(conn) -> dict[str, list[tuple]]:
    return {
        "raw": query(conn, "SELECT load_id, source, stream, record_id, cursor_value, is_deleted, payload::text,"
                           " run_id, window_start, window_end FROM raw.records ORDER BY 1, 4, 5, 6"),
        "watermarks": query(conn, "SELECT * FROM audit.watermarks ORDER BY 1, 2"),
        "load_log": query(conn, "SELECT * FROM audit.load_log ORDER BY load_id"),
    }


def counts(stats: LoadStats) -> tuple[int, int, int, int]:
    return stats.inserted, stats.updated, stats.deleted, stats.unchanged


def test_first_load_counts_inserts_and_writes_everything(warehouse_conn) -> None:
    records = [rec(f"A{i}", minutes=i, Name=f"Acme {i}") for i in range(5)]
    stats = load(warehouse_conn, records)

    assert (stats.records, stats.pages, counts(stats)) == (5, 3, (5, 0, 0, 0))
    assert (stats.source, stats.stream, stats.window_start, stats.window_end, stats.run_id) == (
        SOURCE, STREAM, WINDOW.start, WINDOW.end, "run-1")
    raw = query(warehouse_conn, "SELECT record_id, cursor_value, is_deleted, payload, run_id, window_start,"
                                " window_end FROM raw.records ORDER BY record_id")
    assert raw == [(r.record_id, r.cursor, False, r.payload, "run-1", WINDOW.start, WINDOW.end) for r in records]

    log_rows = query(warehouse_conn, "SELECT load_id, source, stream, window_start, window_end, run_id,"
                                     " records_received, inserted, updated, deleted, unchanged, pages,"
                                     " started_at <= finished_at FROM audit.load_log")
    assert len(log_rows) == 1
    load_id = log_rows[0][0]
    assert log_rows[0][1:] == (SOURCE, STREAM, WINDOW.start, WINDOW.end, "run-1", 5, 5, 0, 0, 0, 3, True)
    assert query(warehouse_conn, "SELECT DISTINCT load_id FROM raw.records") == [(load_id,)]

    assert get_watermark(warehouse_conn, SOURCE, STREAM) == Watermark(SOURCE, STREAM, records[-1].cursor, WINDOW.end)
    assert warehouse_conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE


def test_reloading_the_same_pages_changes_nothing(warehouse_conn) -> None:
    records = [rec(f"A{i}", minutes=i) for i in range(5)]
    load(warehouse_conn, records)
    raw_before = snapshot(warehouse_conn)["raw"]

    again = load(warehouse_conn, records, run_id="run-2")

    assert (again.records, counts(again)) == (5, (0, 0, 0, 5))
    assert snapshot(warehouse_conn)["raw"] == raw_before  # same rows, still stamped with the first load
    assert query(warehouse_conn, "SELECT run_id, inserted, unchanged FROM audit.load_log ORDER BY load_id") == [
        ("run-1", 5, 0), ("run-2", 0, 5)]
    assert query(warehouse_conn, "SELECT last_run_id FROM audit.watermarks") == [("run-2",)]


def test_updates_and_tombstones_are_classified(warehouse_conn) -> None:
    load(warehouse_conn, [rec("A", 0), rec("B", 0), rec("C", 0), rec("E", 0)])

    stats = load(warehouse_conn, [
        rec("A", 10, Name="renamed"),         # new version of a known record -> updated
        rec("B", 10, deleted=True),           # tombstone of a known record -> deleted
        rec("C", 0),                          # same version again -> unchanged
        rec("D", 5),                          # never seen -> inserted
        rec("E", 20), rec("E", 30, deleted=True),  # two new versions, latest a tombstone -> deleted
        rec("F", 1), rec("F", 2),             # two versions of a new record -> inserted once
        rec("G", 3, deleted=True),            # tombstone of a record never seen -> deleted
    ], run_id="run-2")

    assert stats.records == 9
    assert counts(stats) == (2, 1, 3, 1)
    assert query(warehouse_conn, "SELECT count(*) FROM raw.records") == [(4 + 8,)]  # every new version is kept, C is not stored twice
    latest = query(warehouse_conn, """
        SELECT DISTINCT ON (record_id) record_id, is_deleted FROM raw.records
         ORDER BY record_id, cursor_value DESC""")
    assert dict(latest) == {"A": False, "B": True, "C": False, "D": False, "E": True, "F": False, "G": True}


def test_tombstone_at_same_cursor_is_a_new_version(warehouse_conn) -> None:
    load(warehouse_conn, [rec("A", 5)])
    stats = load(warehouse_conn, [rec("A", 5, deleted=True)])
    assert counts(stats) == (0, 0, 1, 0)
    assert query(warehouse_conn, "SELECT is_deleted FROM raw.records ORDER BY is_deleted") == [(False,), (True,)]


def test_duplicates_within_one_load_are_stored_once(warehouse_conn) -> None:
    # the same version returned on two pages (offset paging drift) is one version
    stats = load(warehouse_conn, [rec("A", 1, v="same"), rec("B", 1), rec("A", 1, v="same")])
    assert (stats.records, counts(stats), stats.quarantined) == (3, (2, 0, 0, 0), 0)
    assert query(warehouse_conn, "SELECT payload->>'v' FROM raw.records WHERE record_id = 'A'") == [("same",)]


def test_conflicting_versions_across_pages_are_quarantined_not_guessed(warehouse_conn) -> None:
    # "B" comes back on two pages with the same cursor but different content: neither version is kept in raw.
    stats = load(warehouse_conn, [rec("A", 1, Name="a"), rec("B", 2, Name="first"), rec("C", 3),
                                  rec("B", 2, Name="second")])
    assert (stats.inserted, stats.quarantined) == (2, 1)
    assert query(warehouse_conn, "SELECT record_id FROM raw.records ORDER BY 1") == [("A",), ("C",)]
    [(table, key, rule, reason, versions, released)] = query(
        warehouse_conn, "SELECT table_name, record_key, rule, reason, row_data->'versions', released_at"
                        " FROM quality.quarantine")
    assert (table, key, rule, released) == ("raw.salesforce.Account", "B", "raw.conflicting_duplicate", None)
    assert "salesforce.Account record B" in reason and "duplicate id across pages" in reason
    assert sorted(v["Name"] for v in versions) == ["first", "second"]

    # the same bad pages again: still one open entry, not two
    load(warehouse_conn, [rec("B", 2, Name="first"), rec("B", 2, Name="second")], run_id="run-2")
    assert query(warehouse_conn, "SELECT count(*), max(last_run_id) FROM quality.quarantine") == [(1, "run-2")]

    # fixed at the source: a newer clean version is stored and releases the entry
    later = Window(D0 + DAY, D0 + 2 * DAY)
    stats = load(warehouse_conn, [rec("B", 60 * 24 + 5, Name="fixed")], window=later, run_id="run-3")
    assert (stats.inserted, stats.quarantined) == (1, 0)
    assert query(warehouse_conn, "SELECT released_run_id FROM quality.quarantine") == [("run-3",)]


def test_watermark_never_moves_backwards(warehouse_conn) -> None:
    recent = Window(D0 + 2 * DAY, D0 + 3 * DAY)
    load(warehouse_conn, [Record("A", D0 + 2 * DAY + timedelta(hours=1), {})], window=recent)
    expected = Watermark(SOURCE, STREAM, D0 + 2 * DAY + timedelta(hours=1), recent.end)
    assert get_watermark(warehouse_conn, SOURCE, STREAM) == expected

    older = Window(D0, D0 + DAY)
    stats = load(warehouse_conn, [Record("B", D0 + timedelta(hours=1), {})], window=older, run_id="backfill")

    assert stats.inserted == 1
    assert get_watermark(warehouse_conn, SOURCE, STREAM) == expected
    assert query(warehouse_conn, "SELECT last_run_id FROM audit.watermarks") == [("backfill",)]

    empty = load(warehouse_conn, [], window=Window(D0 + 3 * DAY, D0 + 4 * DAY))
    assert (empty.records, empty.pages) == (0, 0)
    assert get_watermark(warehouse_conn, SOURCE, STREAM) == Watermark(SOURCE, STREAM, expected.cursor, D0 + 4 * DAY)


def test_full_history_window_has_null_start(warehouse_conn) -> None:
    load(warehouse_conn, [rec("A")], window=Window(None, D0 + DAY))
    assert query(warehouse_conn, "SELECT window_start FROM raw.records") == [(None,)]
    assert query(warehouse_conn, "SELECT window_start FROM audit.load_log") == [(None,)]


class ExtractFailed(Exception):
    pass


def test_failure_mid_extract_leaves_the_warehouse_as_it_was(warehouse_conn) -> None:
    load(warehouse_conn, [rec("A", 0), rec("B", 0)])
    other_stream = load_window(warehouse_conn, source="hubspot", stream="contacts", window=WINDOW,
                               pages=paged([rec("h1", 0)]), run_id="run-1")
    assert other_stream.inserted == 1
    before = snapshot(warehouse_conn)
    pages_served = []

    def failing_pages() -> Iterable[Page]:
        for number, page in enumerate(paged([rec("A", 60), rec("C", 60), rec("D", 60), rec("E", 60)]), 1):
            pages_served.append(number)
            yield page
            if number == 2:
                raise ExtractFailed("HTTP 500 after retries")

    with pytest.raises(ExtractFailed):
        load_window(warehouse_conn, source=SOURCE, stream=STREAM, window=Window(D0 + DAY, D0 + 2 * DAY),
                    pages=failing_pages(), run_id="run-bad")

    assert pages_served == [1, 2]
    assert snapshot(warehouse_conn) == before
    # the connection is usable again and the retry of the window loads normally
    retry = load(warehouse_conn, [rec("A", 60), rec("C", 60)], window=Window(D0 + DAY, D0 + 2 * DAY))
    assert counts(retry) == (1, 1, 0, 0)


def test_bad_record_names_source_stream_and_record_and_stores_nothing(warehouse_conn) -> None:
    before = snapshot(warehouse_conn)
    records = [rec("A"), rec("B"), rec("C"), Record("", D0, {"Name": "no id"}), rec("E")]
    with pytest.raises(BadRecordError) as caught:
        load(warehouse_conn, records)
    error = caught.value
    assert (error.source, error.stream) == (SOURCE, STREAM)
    assert error.record == "#4 (offset=2)"
    assert "record_id" in error.problem
    assert str(error).startswith("salesforce.Account: record #4 (offset=2): record_id must be a non-empty string")
    assert snapshot(warehouse_conn) == before

    with pytest.raises(BadRecordError, match=r"salesforce\.Account: record A-naive: cursor must be"):
        load(warehouse_conn, [Record("A-naive", datetime(2024, 5, 1), {})])
    assert snapshot(warehouse_conn) == before


def test_pages_are_consumed_lazily_and_logged(warehouse_conn, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.load.lazy")
    caplog.set_level(logging.INFO, logger="tests.load.lazy")

    def pages() -> Iterator[Page]:
        for number in range(1, 4):
            if number > 1:  # the previous page must already be in Postgres before the next one is fetched
                assert f"page {number - 1} loaded" in caplog.text
            yield Page([rec(f"P{number}-{i}", i) for i in range(2000)])

    stats = load_window(warehouse_conn, source=SOURCE, stream=STREAM, window=WINDOW, pages=pages(),
                        run_id="run-1", logger=logger)
    assert (stats.records, stats.pages, stats.inserted) == (6000, 3, 6000)
    assert "salesforce.Account: page 3 loaded 2000 records (6000 so far)" in caplog.messages


def test_concurrent_loads_of_one_stream_serialize(warehouse_conn, warehouse_url: str) -> None:
    first_holding = threading.Event()
    release_first = threading.Event()
    results: dict[str, LoadStats | BaseException] = {}

    def first_pages() -> Iterator[Page]:
        yield Page([rec("A", 1), rec("B", 1)])
        first_holding.set()
        assert release_first.wait(30)
        yield Page([rec("C", 1)])

    def run(name: str, pages: Iterable[Page]) -> None:
        conn = connect(warehouse_url)
        try:
            results[name] = load_window(conn, source=SOURCE, stream=STREAM, window=WINDOW, pages=pages,
                                        run_id=name)
        except BaseException as error:  # surfaced by the assertions below
            results[name] = error
        finally:
            conn.close()

    first = threading.Thread(target=run, args=("first", first_pages()))
    first.start()
    assert first_holding.wait(30)
    second = threading.Thread(target=run, args=("second", iter([Page([rec("A", 1), rec("C", 1), rec("D", 1)])])))
    second.start()

    deadline = time.monotonic() + 10
    while not query(warehouse_conn, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'passerelle'"
                                    " AND wait_event_type = 'Lock' AND datname = current_database()"):
        assert time.monotonic() < deadline, "second load did not wait for the first one"
        time.sleep(0.05)
    assert "second" not in results

    release_first.set()
    first.join(30)
    second.join(30)
    assert isinstance(results["first"], LoadStats) and isinstance(results["second"], LoadStats)
    assert counts(results["first"]) == (3, 0, 0, 0)
    assert counts(results["second"]) == (1, 0, 0, 2)  # it saw everything the first one committed


def test_autocommit_connection_is_refused(warehouse_conn) -> None:
    warehouse_conn.autocommit = True
    with pytest.raises(ValueError, match="autocommit"):
        load(warehouse_conn, [rec("A")])


def test_get_watermark_of_unknown_stream_is_none(warehouse_conn) -> None:
    assert get_watermark(warehouse_conn, "nope", "nothing") is None
    assert warehouse_conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE


def test_reader_state_is_saved_with_its_window_and_only_then(warehouse_conn) -> None:
    state = {"sync": "token-1"}
    load(warehouse_conn, [rec("a")], state=state)
    assert get_watermark(warehouse_conn, SOURCE, STREAM).state == {"sync": "token-1"}

    def failing() -> Iterator[Page]:
        state["sync"] = "token-2"  # a reader advanced its token, then the window failed
        yield Page([rec("b")])
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        load_window(warehouse_conn, source=SOURCE, stream=STREAM, window=WINDOW, pages=failing(),
                    run_id="run-2", state=state)
    assert get_watermark(warehouse_conn, SOURCE, STREAM).state == {"sync": "token-1"}
    load(warehouse_conn, [rec("c")], run_id="run-3")  # a window without reader state keeps the saved one
    assert get_watermark(warehouse_conn, SOURCE, STREAM).state == {"sync": "token-1"}


def path_taken(stats: LoadStats) -> str:
    return "direct" if "classify" in stats.timings else "batch"


def test_direct_first_load_equals_the_batch_load(warehouse_conn) -> None:
    records = [rec("A", 0), rec("B", 1, deleted=True), rec("C", 2), rec("C", 9, Name="later"), rec("D", 3)]
    direct = load(warehouse_conn, records, direct=True)
    direct_rows = query(warehouse_conn, "SELECT record_id, cursor_value, is_deleted, payload, run_id, window_start,"
                                        " window_end, load_id = %s FROM raw.records ORDER BY 1, 2",
                        (query(warehouse_conn, "SELECT max(load_id) FROM audit.load_log")[0][0],))
    with warehouse_conn.cursor() as cur:
        cur.execute("DELETE FROM raw.records; DELETE FROM audit.watermarks; DELETE FROM audit.load_log")
    warehouse_conn.commit()
    batch = load(warehouse_conn, records, direct=False)

    assert (path_taken(direct), path_taken(batch)) == ("direct", "batch")
    # C's two versions are one record; B's tombstone is a deletion
    assert counts(direct) == counts(batch) == (3, 0, 1, 0)
    assert all(row[-1] for row in direct_rows)  # every row carries the load's id
    assert [row[:-1] for row in direct_rows] == query(
        warehouse_conn, "SELECT record_id, cursor_value, is_deleted, payload, run_id, window_start, window_end"
                        " FROM raw.records ORDER BY 1, 2")
    assert get_watermark(warehouse_conn, SOURCE, STREAM).cursor == D0 + timedelta(minutes=9)


def test_direct_is_for_first_loads_only(warehouse_conn) -> None:
    assert path_taken(load(warehouse_conn, [rec("A", 0)], direct=True)) == "direct"
    again = load(warehouse_conn, [rec("A", 0), rec("B", 1)], direct=True)
    assert (path_taken(again), counts(again)) == ("batch", (1, 0, 0, 1))


def test_a_repeat_in_a_direct_load_falls_back_to_the_batch_table_without_reading_again(warehouse_conn) -> None:
    served: list[int] = []

    def pages() -> Iterator[Page]:
        for number, page in enumerate(paged([rec("A", 1, Name="a"), rec("B", 2, Name="first"), rec("C", 3),
                                             rec("A", 1, Name="a"), rec("B", 2, Name="second"), rec("D", 4)]), 1):
            served.append(number)
            yield page

    stats = load_window(warehouse_conn, source=SOURCE, stream=STREAM, window=WINDOW, pages=pages(), run_id="run-1",
                        direct=True)
    assert served == [1, 2, 3]  # each page read once
    assert (path_taken(stats), stats.records, counts(stats), stats.quarantined) == ("batch", 6, (3, 0, 0, 0), 1)
    assert query(warehouse_conn, "SELECT record_id FROM raw.records ORDER BY 1") == [("A",), ("C",), ("D",)]
    assert query(warehouse_conn, "SELECT record_key, rule FROM quality.quarantine") == [("B", "raw.conflicting_duplicate")]


def test_a_failure_after_a_repeat_in_a_direct_load_stores_nothing(warehouse_conn) -> None:
    before = snapshot(warehouse_conn)

    def pages() -> Iterator[Page]:
        yield Page([rec("A", 1), rec("A", 1)])
        yield Page([rec("B", 2)])
        raise ExtractFailed("HTTP 500 after retries")

    with pytest.raises(ExtractFailed):
        load_window(warehouse_conn, source=SOURCE, stream=STREAM, window=WINDOW, pages=pages(), run_id="run-1",
                    direct=True)
    assert snapshot(warehouse_conn) == before
