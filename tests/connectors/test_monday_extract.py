"""monday.com extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.run import run_stream
from passerelle.connectors.sources.monday import MONDAY
from passerelle.errors import BadRecordError
from passerelle.load.raw_loader import LoadStats
from passerelle_sandbox.server import Sandbox
from tests.connectors.helpers import DAY1, audit_counts, raw_count, raw_versions, source_config
from tests.connectors.helpers import extract_day as extract_day_for
from tests.fixtures.sandbox import single_vendor_sandbox


monday_sandbox = single_vendor_sandbox("monday", "monday_sandbox")


@pytest.fixture
def sandbox(monday_sandbox: Sandbox) -> Sandbox:
    monday_sandbox.vendors["monday"].control.reset()
    return monday_sandbox


def config(sandbox: Sandbox, **extra: Any) -> SourceConfig:
    return source_config(sandbox, "monday", **extra)


def extract_day(conn: Any, sandbox: Sandbox, stream: str, day: int = 0, **extra: Any) -> LoadStats:
    return extract_day_for(conn, sandbox, "monday", stream, day, **extra)


def control(sandbox: Sandbox) -> Any:
    return sandbox.vendors["monday"].control


def live_items(sandbox: Sandbox) -> list[dict[str, Any]]:
    boards = {b["id"] for b in control(sandbox).records("boards", include_deleted=True)}
    return [i for i in control(sandbox).records("items") if i["board_id"] in boards]


def sessions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for i in items for s in i["column_values"].get("time_tracking", {}).get("sessions", [])]


def test_spec_shape() -> None:
    assert (MONDAY.name, MONDAY.conn_id, MONDAY.pool, MONDAY.schedule, MONDAY.tags) == (
        "monday", "passerelle_monday", "monday_api", "0 0 * * *", ("pm",))
    assert [s.name for s in MONDAY.streams] == ["boards", "groups", "items", "users", "time_tracking"]


def test_first_window_loads_full_history_with_tombstones(sandbox: Sandbox, warehouse_conn: Any) -> None:
    stats = extract_day(warehouse_conn, sandbox, "items", page_size=7)
    everything = control(sandbox).records("items", include_deleted=True)
    removed = [i for i in everything if i["state"] != "active"]
    assert removed and stats.deleted == len(removed)
    assert stats.inserted == len(everything) - len(removed)
    versions = raw_versions(warehouse_conn, "monday", "items")
    assert len({v[0] for v in versions}) == len(everything)  # page boundaries lost nothing
    assert len(versions) == len(everything)  # ... and duplicated nothing
    boards = extract_day(warehouse_conn, sandbox, "boards")
    assert boards.inserted + boards.deleted == len(control(sandbox).records("boards", include_deleted=True))
    assert boards.deleted == 1  # the archived board


def test_time_tracking_sessions_carry_person_seconds_and_billable(sandbox: Sandbox, warehouse_conn: Any) -> None:
    stats = extract_day(warehouse_conn, sandbox, "time_tracking")
    expected = sessions(control(sandbox).records("items", include_deleted=True))
    assert stats.inserted + stats.deleted == len(expected) == raw_count(warehouse_conn, "monday", "time_tracking")
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE source = 'monday' AND stream = 'time_tracking'")
        payloads = [row[0] for row in cur.fetchall()]
    warehouse_conn.rollback()
    assert all(p["duration_seconds"] > 0 and p["person_id"] and p["date"] == p["started_at"][:10] for p in payloads)
    assert {p["billable"] for p in payloads} == {True, False}  # internal boards: unchecked


def test_later_window_picks_exactly_its_updates_and_deletions(sandbox: Sandbox, warehouse_conn: Any) -> None:
    extract_day(warehouse_conn, sandbox, "items", day=0)
    items = sorted(live_items(sandbox), key=lambda i: i["id"])
    ctl = control(sandbox)
    ctl.set_clock(DAY1 + timedelta(days=1, hours=3))
    ctl.update("items", items[0]["id"], {"status": "Terminé", "date_done": "2026-03-02"})
    made = ctl.create("items", {"board_id": items[1]["board_id"], "name": "Nouvelle tâche"})["id"]
    ctl.delete("items", items[2]["id"])
    ctl.update("items", items[3]["id"], {"state": "archived"})
    ctl.set_clock(DAY1 + timedelta(days=2, hours=1))  # next day: outside the window
    ctl.update("items", items[4]["id"], {"name": "plus tard"})
    stats = extract_day_without_clock(warehouse_conn, sandbox, "items", day=1)
    assert (stats.inserted, stats.updated, stats.deleted) == (1, 1, 2)
    by_id = {}
    for record_id, _, deleted in raw_versions(warehouse_conn, "monday", "items"):
        by_id.setdefault(record_id, []).append(deleted)
    assert by_id[items[2]["id"]] == [False, True] and by_id[items[3]["id"]] == [False, True]
    assert by_id[made] == [False] and by_id[items[4]["id"]] == [False]
    rerun = extract_day_without_clock(warehouse_conn, sandbox, "items", day=1)
    assert (rerun.inserted, rerun.updated, rerun.deleted) == (0, 0, 0) and rerun.unchanged == 4


def extract_day_without_clock(conn: Any, sandbox: Sandbox, stream: str, day: int) -> LoadStats:
    start = DAY1 + timedelta(days=day)
    return run_stream(conn, MONDAY, stream, config(sandbox), interval_start=start,
                      interval_end=start + timedelta(days=1), run_id=f"test__monday_{stream}_{day}_b")


def test_throttling_storm_and_server_errors_are_survived(sandbox: Sandbox, warehouse_conn: Any) -> None:
    ctl = control(sandbox)
    ctl.add_fault("rate_limit", times=3, retry_after=0)
    ctl.add_fault("rate_limit", error_code="COMPLEXITY_BUDGET_EXHAUSTED", times=3, retry_after=0, after=5)
    ctl.add_fault("error", status=503, times=2, after=10)
    stats = extract_day(warehouse_conn, sandbox, "items", page_size=50)
    assert stats.inserted == len([i for i in control(sandbox).records("items")])
    by_status = ctl.stats()["by_status"]
    assert by_status.get("429", 0) == 3 and by_status.get("503", 0) == 2
    assert all(f["fired"] == f["times"] for f in ctl.faults())


def test_expired_cursor_restarts_the_board_query(sandbox: Sandbox, warehouse_conn: Any) -> None:
    ctl = control(sandbox)
    ctl.add_fault("error", status=200, error_code="CursorException", times=1, after=3,
                  message="CursorExpiredError: The cursor provided for pagination has expired.")
    stats = extract_day(warehouse_conn, sandbox, "items", page_size=2)
    assert ctl.faults()[0]["fired"] == 1
    assert stats.inserted == len(control(sandbox).records("items"))
    assert stats.records == stats.inserted + stats.deleted  # the restart skipped the versions already read
    assert raw_count(warehouse_conn, "monday", "items") == len(control(sandbox).records("items", include_deleted=True))


def test_record_without_id_is_named_and_nothing_loads(sandbox: Sandbox, warehouse_conn: Any) -> None:
    control(sandbox).add_fault("missing_id", after=1)
    with pytest.raises(BadRecordError, match=r"monday \(Airflow Connection 'passerelle_monday'\): items: record #\d+ at .*missing primary key field 'id'"):
        extract_day(warehouse_conn, sandbox, "items")
    assert raw_count(warehouse_conn, "monday", "items") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_malformed_json_is_named_and_nothing_loads(sandbox: Sandbox, warehouse_conn: Any) -> None:
    control(sandbox).add_fault("malformed_json")
    with pytest.raises(BadRecordError, match=r"monday \(Airflow Connection 'passerelle_monday'\): boards: .*malformed JSON"):
        extract_day(warehouse_conn, sandbox, "boards")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_groups_and_users(sandbox: Sandbox, warehouse_conn: Any) -> None:
    boards = control(sandbox).records("boards", include_deleted=True)
    groups = extract_day(warehouse_conn, sandbox, "groups")
    assert groups.inserted + groups.deleted == sum(len(b["groups"]) for b in boards)
    users = extract_day(warehouse_conn, sandbox, "users")
    assert users.inserted == len(control(sandbox).records("users"))
    assert extract_day(warehouse_conn, sandbox, "users", day=1).inserted == 0
