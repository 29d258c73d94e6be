"""Validating a table in chunks gives exactly the results of validating it whole.

Bad rows are planted on both sides of chunk boundaries (three rows a chunk), with duplicated keys
whose rows a naive cut would split, orphans, out-of-range and missing values, and warnings on every
row (more than a sample's worth). The same staged rows are validated once in chunks and once whole;
the recorded results, samples, quarantine entries and the rows left in staging must be identical.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.quality import load
from passerelle.quality.suites import build_suite
from passerelle.quality.validate import validate_table
from tests.quality.helpers import AS_OF, keys, open_quarantine, project, stage, time_entry

TABLE = "time_entries"


def _plant(conn: Any) -> None:
    stage(conn, "projects", project("asana:P1"), project("asana:P2"))
    entries = [time_entry(f"asana:{n:02d}", "asana:P1") for n in range(1, 25)]  # entries[n - 1]: asana:n
    entries[3] = time_entry("asana:03", "asana:P2", hours=Decimal("2.00"))  # asana:03 twice (asana:04 gone)
    entries[4]["hours"] = Decimal("-1.00")
    entries[6]["project_key"] = "asana:NOPE"  # an orphan
    entries[7]["hours"] = Decimal("30.00")
    entries[8]["entry_date"] = None
    entries[11] = time_entry("asana:11", "asana:P1", hours=Decimal("-3.00"))  # asana:11 twice (not 12)
    entries[14]["entry_date"] = date(2031, 1, 1)
    entries[20] = time_entry("asana:20", "asana:P1")  # asana:20 twice (asana:21 gone)
    stage(conn, TABLE, *sorted(entries, key=lambda row: row["time_entry_key"]))


def _snapshot(conn: Any, outcome: Any) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute("""SELECT rule, expectation, column_name, severity, success, element_count, unexpected_count,
                              unexpected_percent, sample, kwargs
                         FROM quality.validation_results WHERE run_id = %s ORDER BY rule""", (outcome.run_id,))
        recorded = cur.fetchall()
        cur.execute("""SELECT row_count, success, critical_failures, warnings, quarantined, released
                         FROM quality.validation_runs WHERE run_id = %s""", (outcome.run_id,))
        run = cur.fetchall()
    conn.rollback()
    entries = [{k: v for k, v in entry.items() if not k.endswith("run_id")} for entry in open_quarantine(conn, TABLE)]
    rules = [(o.rule.id, o.success, o.element_count, o.unexpected_count, o.unexpected_percent, o.failing, o.sample)
             for o in outcome.rules]
    return {"recorded": recorded, "run": run, "quarantine": entries, "staging": keys(conn, TABLE), "rules": rules,
            "critical": [(f.rule, f.detail) for f in outcome.critical_failures]}


def _reset(conn: Any) -> None:
    """Staging as it was planted, no quarantine and no results."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM quality.validation_results")
        cur.execute("DELETE FROM quality.validation_runs")
        cur.execute("DELETE FROM quality.quarantine")
        cur.execute("DELETE FROM staging.time_entries")
        cur.execute("INSERT INTO staging.time_entries SELECT * FROM planted")
    conn.commit()


def test_chunks_are_cut_between_keys_only(warehouse_conn) -> None:
    _plant(warehouse_conn)
    suite = build_suite(TABLE, AS_OF)
    frames = list(load.chunks(warehouse_conn, suite, 3))
    warehouse_conn.rollback()
    chunk_keys = [frame[suite.key].tolist() for frame in frames]
    every = [key for found in chunk_keys for key in found]
    assert len(every) == 24 and every == sorted(every)
    assert every[2:4] == ["asana:03", "asana:03"]  # a cut every three rows would split asana:03
    assert every[19:21] == ["asana:20", "asana:20"]  # and asana:20
    assert all(len(set(a) & set(b)) == 0 for i, a in enumerate(chunk_keys) for b in chunk_keys[i + 1:])
    assert len(chunk_keys) >= 7 and all(1 <= len(found) <= 4 for found in chunk_keys)


def test_chunked_validation_equals_whole_table_validation(warehouse_conn) -> None:
    _plant(warehouse_conn)
    with warehouse_conn.cursor() as cur:
        cur.execute("CREATE TABLE planted AS SELECT * FROM staging.time_entries")
    warehouse_conn.commit()
    try:
        chunked = validate_table(warehouse_conn, TABLE, "run-chunked", as_of=AS_OF, raise_on_critical=False,
                                 chunk_rows=3)
        in_chunks = _snapshot(warehouse_conn, chunked)
        _reset(warehouse_conn)
        whole = validate_table(warehouse_conn, TABLE, "run-whole", as_of=AS_OF, raise_on_critical=False,
                               chunk_rows=None)
        at_once = _snapshot(warehouse_conn, whole)
    finally:
        with warehouse_conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS planted")
        warehouse_conn.commit()

    assert in_chunks == at_once
    # The planted rows are what was found, so the equality above is not between two empty results.
    filed = {(entry["record_key"], entry["rule"]) for entry in in_chunks["quarantine"]}
    assert filed == {
        ("asana:03", "time_entries.time_entry_key_unique"), ("asana:11", "time_entries.time_entry_key_unique"),
        ("asana:20", "time_entries.time_entry_key_unique"), ("asana:05", "time_entries.hours_non_negative"),
        ("asana:11", "time_entries.hours_non_negative"), ("asana:07", "time_entries.project_exists"),
        ("asana:08", "time_entries.hours_max_24"), ("asana:09", "time_entries.entry_date_not_null"),
        ("asana:15", "time_entries.entry_date_not_future"),
    }
    assert in_chunks["staging"] == [f"asana:{n:02d}" for n in range(1, 25)
                                    if n not in (3, 4, 5, 7, 8, 9, 11, 12, 15, 20, 21)]
    by_rule = {rule[0]: rule for rule in in_chunks["rules"]}
    assert by_rule["time_entries.time_entry_key_unique"][2:4] == (24, 6)
    person = by_rule["time_entries.person_key_not_null"]
    assert person[3] == 24 and len(person[6]) == 20  # a warning on every row: the sample stops at 20
    assert chunked.row_count == whole.row_count == 24
    assert chunked.quarantined == 11  # 8 keys, the 3 duplicated ones with both rows
    assert [f.rule for f in chunked.critical_failures] == ["time_entries.row_count_vs_raw"]  # 24 rows, 21 records
