"""Asana extract-load against the Asana emulator over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.run import run_stream
from passerelle.connectors.sources.asana import ASANA
from passerelle.errors import AuthError, BadRecordError
from passerelle.load.raw_loader import LoadStats
from passerelle_sandbox.server import Sandbox, VendorEndpoint
from tests.connectors.helpers import DAY1, FAST, audit_counts, raw_count, raw_versions
from tests.fixtures.sandbox import single_vendor_sandbox


asana_sandbox = single_vendor_sandbox("asana", "asana_sandbox")


@pytest.fixture
def asana(asana_sandbox: Sandbox) -> VendorEndpoint:
    endpoint = asana_sandbox.vendors["asana"]
    endpoint.control.reset()
    return endpoint


def config(asana: VendorEndpoint, ca_path: Any, **extra: Any) -> SourceConfig:
    return SourceConfig(host=asana.base_url, password=asana.credentials["personal_access_token"],
                        extra={"ca_bundle": str(ca_path), **FAST, **extra})


@pytest.fixture
def run(asana: VendorEndpoint, asana_sandbox: Sandbox, warehouse_conn: Any):
    def run_day(stream: str, day: int = 0, **extra: Any) -> LoadStats:
        start = DAY1 + timedelta(days=day)
        end = start + timedelta(days=1)
        asana.control.set_clock(end + timedelta(minutes=30))
        return run_stream(warehouse_conn, ASANA, stream, config(asana, asana_sandbox.ca_path, **extra),
                          interval_start=start, interval_end=end, run_id=f"test__asana_{stream}_{day}")
    return run_day


def at(asana: VendorEndpoint, day: int, hours: float) -> None:
    asana.control.set_clock(DAY1 + timedelta(days=day, hours=hours))


def payloads(conn: Any, stream: str) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE source = 'asana' AND stream = %s", (stream,))
        rows = [row[0] for row in cur.fetchall()]
    conn.rollback()
    return rows


def test_first_window_loads_full_history(asana: VendorEndpoint, run, warehouse_conn: Any) -> None:
    for stream, obj in (("projects", "projects"), ("sections", "sections"), ("users", "users"),
                        ("tasks", "tasks"), ("time_entries", "time_entries")):
        stats = run(stream)
        assert stats.inserted == len(asana.control.records(obj)) == raw_count(warehouse_conn, "asana", stream), stream
    tasks = payloads(warehouse_conn, "tasks")
    assert any(t["resource_subtype"] == "milestone" for t in tasks)
    assert all(t["completed_at"] for t in tasks if t["completed"])
    project = payloads(warehouse_conn, "projects")[0]
    assert {f["name"] for f in project["custom_fields"]} == {"CRM deal", "Billable"}
    entry = payloads(warehouse_conn, "time_entries")[0]
    assert {"duration_minutes", "entered_on", "billable_status", "approval_status", "created_by"} <= set(entry)


def test_later_window_picks_exactly_its_updates_and_deletions(asana: VendorEndpoint, run, warehouse_conn: Any) -> None:
    run("tasks", day=0)
    renamed, completed, deleted = sorted(t["gid"] for t in asana.control.records("tasks")
                                         if not t["completed"])[:3]
    at(asana, 1, 8)
    asana.control.update("tasks", renamed, {"name": "Recette — lot 2"})
    asana.control.update("tasks", completed, {"completed": True})
    asana.control.delete("tasks", deleted)
    created = asana.control.create("tasks", {"name": "Nouvelle tâche", "resource_subtype": "milestone"})["id"]
    stats = run("tasks", day=1)
    assert (stats.inserted, stats.updated, stats.deleted, stats.unchanged) == (1, 2, 1, 0)
    versions = raw_versions(warehouse_conn, "asana", "tasks")
    assert [v[2] for v in versions if v[0] == deleted] == [False, True]
    assert [str(v[1]) for v in versions if v[0] == deleted][1].startswith("2026-03-02 08:00:00")
    assert created in {v[0] for v in versions}
    rerun = run("tasks", day=1)
    assert (rerun.inserted, rerun.updated, rerun.deleted) == (0, 0, 0) and rerun.unchanged == 3


def test_time_entries_rescan_catches_edits_late_entries_and_deletions(asana: VendorEndpoint, run,
                                                                        warehouse_conn: Any) -> None:
    run("time_entries", day=0)
    recent = sorted((e for e in asana.control.records("time_entries") if e["entered_on"] >= "2026-02-20"),
                    key=lambda e: e["gid"])
    edited, removed = recent[0]["gid"], recent[1]["gid"]
    task = recent[2]["task"]["gid"]
    at(asana, 1, 9)
    asana.control.update("time_entries", edited, {"duration_minutes": recent[0]["duration_minutes"] + 30})
    asana.control.delete("time_entries", removed)
    late = asana.control.create("time_entries", {"task": task, "duration_minutes": 90, "entered_on": "2026-02-25"})
    stats = run("time_entries", day=1)
    assert (stats.inserted, stats.updated, stats.deleted) == (1, 1, 1)
    assert stats.unchanged == stats.records - 3
    assert [v[2] for v in raw_versions(warehouse_conn, "asana", "time_entries") if v[0] == removed] == [False, True]
    assert late["id"] in {v[0] for v in raw_versions(warehouse_conn, "asana", "time_entries")}
    rerun = run("time_entries", day=1)
    assert (rerun.inserted, rerun.updated, rerun.deleted) == (0, 0, 0)
    assert run("time_entries", day=2).inserted == 0


def test_page_boundaries_lose_and_duplicate_nothing(asana: VendorEndpoint, run, warehouse_conn: Any) -> None:
    run("tasks", day=0)
    project = sorted(p["gid"] for p in asana.control.records("projects"))[0]
    at(asana, 1, 5)
    bulk = asana.control.bulk("tasks", create=250, touch=7, fields={"project": project})
    asana.control.clear_stats()
    stats = run("tasks", day=1)
    assert (stats.inserted, stats.updated) == (250, 7)
    ids = [v[0] for v in raw_versions(warehouse_conn, "asana", "tasks")]
    assert set(bulk["created_ids"]) <= set(ids)
    assert len(ids) == len(asana.control.records("tasks")) + 7
    assert asana.control.stats()["by_path"]["/api/1.0/tasks"] >= 3 + len(asana.control.records("projects")) - 1


def test_throttling_storm_and_server_errors_are_survived(asana: VendorEndpoint, run, warehouse_conn: Any) -> None:
    asana.control.add_fault("rate_limit", times=3, retry_after=1, path="/tasks")
    asana.control.add_fault("error", status=503, times=2, after=8, path="/tasks")
    stats = run("tasks")
    assert stats.inserted == len(asana.control.records("tasks"))
    by_status = asana.control.stats()["by_status"]
    assert by_status.get("429", 0) == 3 and by_status.get("503", 0) == 2


def test_record_without_gid_is_named_and_nothing_loads(asana: VendorEndpoint, run, warehouse_conn: Any) -> None:
    asana.control.add_fault("missing_id", path="/tasks", after=2)
    with pytest.raises(BadRecordError, match=r"asana \(Airflow Connection 'passerelle_asana'\): tasks: record #\d+ at /tasks\?offset=.*missing primary key field 'gid'"):
        run("tasks")
    assert raw_count(warehouse_conn, "asana", "tasks") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_malformed_json_is_named_and_nothing_loads(asana: VendorEndpoint, run, warehouse_conn: Any) -> None:
    asana.control.add_fault("malformed_json", path="/time_tracking_entries", after=1)
    with pytest.raises(BadRecordError, match=r"asana \(Airflow Connection 'passerelle_asana'\): time_entries: record \(response of GET /time_tracking_entries\): malformed JSON"):
        run("time_entries")
    assert raw_count(warehouse_conn, "asana", "time_entries") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


def test_oauth_token_expiry_is_refreshed_and_refused_pat_fails_fast(asana: VendorEndpoint, run,
                                                                      warehouse_conn: Any) -> None:
    creds = asana.credentials
    oauth = {"client_id": creds["client_id"], "client_secret": creds["client_secret"],
             "refresh_token": creds["refresh_token"]}
    asana.control.add_fault("expire_tokens", after=2)
    assert run("users", **oauth).inserted == len(asana.control.records("users"))
    asana.control.add_fault("expire_tokens")
    with pytest.raises(AuthError):
        run("projects")
    assert raw_count(warehouse_conn, "asana", "projects") == 0


def test_expired_sync_token_resubscribes_without_failing(asana: VendorEndpoint, run, warehouse_conn: Any) -> None:
    run("tasks", day=0)
    doomed, later = sorted(t["gid"] for t in asana.control.records("tasks"))[:2]
    asana.control.config(sync_token_ttl_seconds=3600)
    at(asana, 1, 8)
    asana.control.delete("tasks", doomed)  # lost: every token is older than an hour at the next run
    assert run("tasks", day=1).deleted == 0
    at(asana, 2, 0.6)
    asana.control.delete("tasks", later)
    assert run("tasks", day=1).deleted == 1  # the rerun reads the fresh tokens of the previous run
