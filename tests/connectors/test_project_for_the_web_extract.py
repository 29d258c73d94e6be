"""Project for the web (Dataverse msdyn_ tables through the Dynamics client) against the sandbox and a real warehouse."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.connectors.registry import get_source
from passerelle.connectors.run import run_stream
from passerelle.errors import SourceUnavailableError
from passerelle.load.raw_loader import LoadStats, get_watermark
from tests.connectors.helpers import DAY1, audit_counts, raw_count, raw_versions, source_config, latest_version

SOURCE = "project_for_the_web"
STREAMS = ("msdyn_projects", "msdyn_projecttasks", "msdyn_timeentries")
KEYS = {"msdyn_projects": "msdyn_projectid", "msdyn_projecttasks": "msdyn_projecttaskid",
        "msdyn_timeentries": "msdyn_timeentryid"}
API = "/api/data/v9.2"


def records(sandbox: Any, table: str) -> list[dict[str, Any]]:
    return sandbox.vendors["dynamics"].control.records(table)


def extract_day(conn: Any, sandbox: Any, stream: str, day: int = 0, **extra: Any) -> LoadStats:
    start = DAY1 + timedelta(days=day)
    end = start + timedelta(days=1)
    sandbox.vendors["dynamics"].control.set_clock(end + timedelta(minutes=30))
    return run_stream(conn, get_source(SOURCE), stream, source_config(sandbox, SOURCE, **extra),
                      interval_start=start, interval_end=end, run_id=f"test__{SOURCE}_{stream}_{day}")


def extract_all(conn: Any, sandbox: Any, day: int) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = extract_day(conn, sandbox, stream, day)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def latest(conn: Any, stream: str, record_id: str) -> tuple[Any, ...] | None:
    row = latest_version(conn, SOURCE, stream, record_id)
    return None if row is None else row[:2]


def test_first_window_loads_projects_tasks_and_time_with_exact_numbers(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in STREAMS:
        assert counts[stream][0] == len(records(sandbox, stream)) == raw_count(warehouse_conn, SOURCE, stream) > 0
    task = next(t for t in records(sandbox, "msdyn_projecttasks") if t["msdyn_ismilestone"])
    payload, _ = latest(warehouse_conn, "msdyn_projecttasks", task["msdyn_projecttaskid"])
    assert payload["msdyn_ismilestone@OData.Community.Display.V1.FormattedValue"] == "Oui"
    assert payload["_msdyn_project_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "msdyn_project"
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload->>'msdyn_progress' FROM raw.records WHERE source = %s AND record_id = %s",
                    (SOURCE, task["msdyn_projecttaskid"]))
        assert cur.fetchone()[0] == f"{Decimal(str(task['msdyn_progress'])):.2f}"
    warehouse_conn.rollback()
    assert "$deltatoken=" in get_watermark(warehouse_conn, SOURCE, "msdyn_timeentries").state["change_tracking"][
        "delta_link"]


def test_three_windows_of_progress_new_time_and_deletions(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    extract_all(warehouse_conn, sandbox, 0)
    for day in (1, 2, 3):
        control.set_clock(DAY1 + timedelta(days=day, hours=9))
        task = next(t for t in records(sandbox, "msdyn_projecttasks") if Decimal(str(t["msdyn_progress"])) < 1)
        control.update("msdyn_projecttasks", task["msdyn_projecttaskid"], {"msdyn_progress": "1.00"})
        created = control.create("msdyn_timeentries", {
            "msdyn_date": f"2026-03-0{day + 1}T00:00:00Z", "msdyn_duration": 90, "msdyn_type": 192350000,
            "_msdyn_project_value": task["_msdyn_project_value"],
            "_msdyn_projecttask_value": task["msdyn_projecttaskid"]})["id"]
        gone = records(sandbox, "msdyn_timeentries")[day]["msdyn_timeentryid"]
        control.delete("msdyn_timeentries", gone)
        counts = extract_all(warehouse_conn, sandbox, day)
        assert counts["msdyn_projecttasks"][:3] == (0, 1, 0) and counts["msdyn_timeentries"][:3] == (1, 0, 1)
        assert counts["msdyn_projects"][:3] == (0, 0, 0)
        assert latest(warehouse_conn, "msdyn_projecttasks", task["msdyn_projecttaskid"])[0]["msdyn_progress"] == 1
        assert latest(warehouse_conn, "msdyn_timeentries", created)[0]["msdyn_duration"] == 90
        assert [v[2] for v in raw_versions(warehouse_conn, SOURCE, "msdyn_timeentries") if v[0] == gone] == [False, True]


def test_rerun_and_backfill_load_nothing_twice(sandbox, warehouse_conn) -> None:
    extract_all(warehouse_conn, sandbox, 0)
    again = extract_all(warehouse_conn, sandbox, 0)
    assert all(counts[:3] == (0, 0, 0) for counts in again.values()), again


def test_throttling_waits_retry_after_and_errors_name_the_source(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    control.add_fault(kind="rate_limit", times=2, retry_after=1, path=f"{API}/msdyn_projects")
    started = time.monotonic()
    assert extract_day(warehouse_conn, sandbox, "msdyn_projects").inserted == len(records(sandbox, "msdyn_projects"))
    assert time.monotonic() - started >= 2.0
    control.add_fault(kind="error", status=503, times=None, path=f"{API}/msdyn_timeentries")
    with pytest.raises(SourceUnavailableError, match=r"^project_for_the_web .*HTTP 503"):
        extract_day(warehouse_conn, sandbox, "msdyn_timeentries")
    assert raw_count(warehouse_conn, SOURCE, "msdyn_timeentries") == 0 and audit_counts(warehouse_conn) == (1, 1)


def test_spec_reuses_the_dataverse_client() -> None:
    from passerelle.connectors.sources import dynamics

    spec = get_source(SOURCE)
    assert (spec.conn_id, spec.pool) == ("passerelle_project_for_the_web", "dynamics_api")
    assert spec.connect.func is dynamics.connect  # type: ignore[attr-defined]
    assert [s.name for s in spec.streams] == list(STREAMS)
    assert all(s.primary_key == KEYS[s.name] and s.cursor_field == "modifiedon" for s in spec.streams)
