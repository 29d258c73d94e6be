"""Zoho Projects extract-load against the emulator over HTTPS and a real warehouse.

Every test runs with the emulator's request budget on (scaled down to 40 calls per second, locking for
30 minutes past it) and the connector pacing itself below it (35 per second), so pacing is exercised
everywhere; one test shows that without pacing the same run is locked out.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from passerelle.connectors.access_token_cache import forget_all
from passerelle.connectors.options import ConnectionOptionsError
from passerelle.connectors.registry import get_source
from passerelle.errors import AuthError, SourceUnavailableError
from passerelle_sandbox.server import Sandbox
from tests.connectors.helpers import (
    DAY1, audit_counts, extract_day, raw_count, raw_versions, latest_version, live_ids as raw_live_ids,
)
from tests.fixtures.sandbox import single_vendor_sandbox

zoho_projects_sandbox = single_vendor_sandbox("zoho_projects", "zoho_projects_sandbox")
STREAMS = ("projects", "users", "tasklists", "milestones", "tasks", "timelogs")
PACED = {"max_requests_per_window": 35, "request_window_seconds": 1.0}
SOURCE = "zoho_projects"


@pytest.fixture
def sandbox(zoho_projects_sandbox: Sandbox) -> Sandbox:
    control = zoho_projects_sandbox.vendors[SOURCE].control
    control.reset()
    control.config(requests_per_window=40, request_window_seconds=1.0)
    forget_all()
    return zoho_projects_sandbox


def control_of(sandbox: Sandbox) -> Any:
    return sandbox.vendors[SOURCE].control


def live(sandbox: Sandbox, obj: str) -> list[dict]:
    return control_of(sandbox).records(obj)


def run(conn: Any, sandbox: Sandbox, stream: str, day: int = 0, **extra: Any) -> Any:
    return extract_day(conn, sandbox, SOURCE, stream, day=day, **{**PACED, **extra})


def extract_all(conn: Any, sandbox: Sandbox, day: int) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = run(conn, sandbox, stream, day)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def latest(conn: Any, stream: str, record_id: str) -> tuple[Any, ...] | None:
    row = latest_version(conn, SOURCE, stream, record_id)
    return None if row is None else row[:2]


def live_ids(conn: Any, stream: str) -> set[str]:
    return raw_live_ids(conn, SOURCE, stream)


def test_first_window_loads_every_stream_with_subtasks(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in STREAMS[:5]:
        assert counts[stream][0] == len(live(sandbox, stream)) == raw_count(warehouse_conn, SOURCE, stream), stream
    tasks = live(sandbox, "tasks")
    nested = [t for t in tasks if t.get("depth") == 2]
    assert nested and any(t["parent_task"] for t in tasks)
    assert live_ids(warehouse_conn, "tasks") == {t["id"] for t in tasks}  # subtasks of every level
    logs = [t for t in live(sandbox, "timelogs") if t["date"] <= "2026-03-01"]
    assert counts["timelogs"][0] == len(logs) > 0
    project = next(p for p in live(sandbox, "projects") if (p.get("crm") or {}).get("deal"))
    payload, _ = latest(warehouse_conn, "projects", project["id"])
    assert payload["crm"]["deal"]["id"] == project["crm"]["deal"]["id"]
    assert payload["last_modified_time"].endswith("+01:00")
    stats = control_of(sandbox).stats()
    assert stats["by_status"].get("429", 0) == 0
    assert stats["by_path_status"]["/oauth/v2/token"] == {"200": 1}  # one access token for every stream


def test_three_windows_of_creates_updates_and_deletes(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    extract_all(warehouse_conn, sandbox, 0)
    for day in (1, 2, 3):
        control.set_clock(DAY1 + timedelta(days=day, hours=9))
        mains = sorted((t for t in live(sandbox, "tasks") if not t["parent_task"]), key=lambda t: int(t["id"]))
        closed = mains[day]
        control.update("tasks", closed["id"], {"status": {"id": "x", "name": "Closed", "is_closed": True},
                                               "percent_complete": 100})
        sub = control.create("tasks", {"name": f"Sous-tâche {day}", "parent_task": {"id": mains[0]["id"],
                                                                                   "name": mains[0]["name"]},
                                       "tasklist": mains[0]["tasklist"], "status": {"name": "Open"}})["id"]
        gone = mains[-day]
        gone_ids = {gone["id"]} | {t["id"] for t in live(sandbox, "tasks") if (t["parent_task"] or {}).get("id") == gone["id"]}
        control.delete("tasks", gone["id"])
        logs = sorted(live(sandbox, "timelogs"), key=lambda t: t["date"], reverse=True)
        pending = next(t for t in logs if t["approval_status"] == "Pending")
        control.update("timelogs", pending["id"], {"approval_status": "Approved"})
        dropped = logs[day + 5]["id"]
        control.delete("timelogs", dropped)
        new_log = control.create("timelogs", {**{k: v for k, v in logs[0].items() if k not in ("id", "created_time",
                                                                                             "last_modified_time")},
                                              "date": (DAY1 + timedelta(days=day)).date().isoformat()})["id"]
        counts = extract_all(warehouse_conn, sandbox, day)
        assert counts["tasks"][:3] == (1, 2, len(gone_ids)), counts  # new subtask; closed task and its parent
        assert counts["timelogs"][:3] == (1, 1, 1), counts
        assert counts["projects"][:3] == counts["milestones"][:3] == (0, 0, 0)
        assert latest(warehouse_conn, "tasks", closed["id"])[0]["status"]["name"] == "Closed"
        assert latest(warehouse_conn, "tasks", sub)[0]["parent_task"]["id"] == mains[0]["id"]
        assert all(latest(warehouse_conn, "tasks", t)[1] for t in gone_ids)
        assert latest(warehouse_conn, "timelogs", pending["id"])[0]["approval_status"] == "Approved"
        assert latest(warehouse_conn, "timelogs", dropped)[1] is True
        assert latest(warehouse_conn, "timelogs", new_log)[1] is False
    for stream in STREAMS[:5]:
        assert live_ids(warehouse_conn, stream) == {r["id"] for r in live(sandbox, stream)}, stream


def test_rerun_and_backfill_change_nothing(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    extract_all(warehouse_conn, sandbox, 0)
    control.set_clock(DAY1 + timedelta(days=1, hours=8))
    control.delete("milestones", live(sandbox, "milestones")[0]["id"])
    control.update("projects", live(sandbox, "projects")[0]["id"], {"name": "Renommé"})
    first = extract_all(warehouse_conn, sandbox, 1)
    assert first["milestones"][2] == 1 and first["projects"][1] == 1
    again = extract_all(warehouse_conn, sandbox, 1)
    assert all(c[:3] == (0, 0, 0) for c in again.values()), again
    backfill = extract_all(warehouse_conn, sandbox, 0)
    assert all(c[:3] == (0, 0, 0) for c in backfill.values()), backfill


def test_pacing_keeps_the_run_under_the_budget_and_without_it_the_account_is_locked(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.config(requests_per_window=12, request_window_seconds=2.0)
    started = time.monotonic()
    stats = run(warehouse_conn, sandbox, "tasks", max_requests_per_window=10, request_window_seconds=2.0)
    calls = control.stats()["total"]
    assert stats.inserted == len(live(sandbox, "tasks")) and calls > 20
    assert control.stats()["by_status"].get("429", 0) == 0
    assert time.monotonic() - started >= 2.0 * (calls // 10 - 1)  # it waited for room in the window
    control.reset()
    control.config(requests_per_window=12, request_window_seconds=60.0)
    with pytest.raises(SourceUnavailableError, match="locked the account out"):
        run(warehouse_conn, sandbox, "tasks", 1, max_requests_per_window=1000, request_window_seconds=60.0)
    assert control.stats()["by_status"]["429"] == 1  # failed at once: no call into the 30-minute lock
    assert audit_counts(warehouse_conn) == (1, 1)  # only the first window's


def test_expired_access_token_is_refreshed_and_tokens_are_cached(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    for day in range(3):  # 18 stream runs share one access token
        extract_all(warehouse_conn, sandbox, day)
    assert control.stats()["by_path_status"]["/oauth/v2/token"] == {"200": 1}
    control.add_fault(kind="expire_tokens", path="/api/v3/portal/20089412345/projects")
    stats = run(warehouse_conn, sandbox, "projects", 3)
    assert stats.inserted == 0 and stats.deleted == 0
    assert control.stats()["by_path_status"]["/api/v3/portal/20089412345/projects"].get("401") == 1
    assert control.stats()["by_path_status"]["/oauth/v2/token"] == {"200": 2}


def test_token_rate_rule_of_the_accounts_server_fails_fast(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.config(tokens_per_refresh_window=2)
    for _ in range(2):
        forget_all()
        run(warehouse_conn, sandbox, "users")
    forget_all()
    with pytest.raises(AuthError, match="too many requests"):
        run(warehouse_conn, sandbox, "users", 1)
    assert control.stats()["by_path_status"]["/oauth/v2/token"] == {"200": 2, "400": 1}


def test_refused_refresh_token_fails_fast(sandbox, warehouse_conn) -> None:
    with pytest.raises(AuthError, match="invalid_code"):
        run(warehouse_conn, sandbox, "projects", refresh_token="1000.revoked")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_crash_mid_window_rolls_back_and_the_rerun_loads(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.bulk("tasks", create=30)
    control.add_fault(kind="error", status=500, times=None, after=2, path="/api/v3/portal/20089412345/tasks")
    with pytest.raises(SourceUnavailableError):
        run(warehouse_conn, sandbox, "tasks", page_size=20)
    assert raw_count(warehouse_conn, SOURCE, "tasks") == 0 and audit_counts(warehouse_conn) == (0, 0)
    control.clear_faults()
    stats = run(warehouse_conn, sandbox, "tasks", page_size=20)
    assert stats.inserted == len(live(sandbox, "tasks")) > 60
    assert control.stats()["by_path_status"]["/api/v3/portal/20089412345/tasks"]["200"] == 2 + 3  # two pages before the crash, three on the rerun


def test_time_logs_outside_the_rescanned_span_are_not_watched(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    run(warehouse_conn, sandbox, "timelogs")
    oldest = min(live(sandbox, "timelogs"), key=lambda t: t["date"])
    recent = max(live(sandbox, "timelogs"), key=lambda t: t["date"])
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.update("timelogs", oldest["id"], {"approval_status": "Rejected"})
    control.update("timelogs", recent["id"], {"bill_status": "Non Billable"})
    stats = run(warehouse_conn, sandbox, "timelogs", 1, timelogs_rescan_days=10)
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 1, 0)
    versions = [v for v in raw_versions(warehouse_conn, SOURCE, "timelogs") if v[0] == recent["id"]]
    assert [v[1] for v in versions] == [DAY1 + timedelta(days=1), DAY1 + timedelta(days=2)]
    assert latest(warehouse_conn, "timelogs", oldest["id"])[0]["approval_status"] == oldest["approval_status"]


def test_spec_is_registered() -> None:
    spec = get_source(SOURCE)
    assert (spec.conn_id, spec.pool) == ("passerelle_zoho_projects", "zoho_projects_api")
    assert [s.name for s in spec.streams] == list(STREAMS)


def test_the_projects_host_follows_the_tokens_data_centre() -> None:
    from passerelle.connectors.sources.zoho_projects import projects_domain

    assert projects_domain("https://www.zohoapis.eu") == "https://projectsapi.zoho.eu"
    assert projects_domain("https://www.zohoapis.com.au/") == "https://projectsapi.zoho.com.au"
    assert projects_domain("https://www.zohoapis.in") == "https://projectsapi.zoho.in"
    assert projects_domain("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"  # any other host is the API's own


def test_api_domain_extra_overrides_the_tokens(sandbox, warehouse_conn) -> None:
    base = sandbox.vendors[SOURCE].base_url
    stats = run(warehouse_conn, sandbox, "users", api_domain=base)
    assert stats.inserted == len(live(sandbox, "users"))
    with pytest.raises(SourceUnavailableError, match="host unreachable|refused|unreachable"):
        run(warehouse_conn, sandbox, "projects", api_domain="https://127.0.0.1:9", retry_attempts=1)


LEGACY = "/restapi/portal/20089412345"


def test_legacy_api_lists_projects_and_tasks_by_index_and_range(sandbox, warehouse_conn) -> None:
    """``api_version`` legacy: projects, main tasks (project by project) and subtasks from the legacy lists."""
    control = control_of(sandbox)
    projects = live(sandbox, "projects")
    stats = run(warehouse_conn, sandbox, "projects", api_version="legacy", page_size=len(projects))
    assert stats.inserted == len(projects) and live_ids(warehouse_conn, "projects") == {p["id"] for p in projects}
    by_path = control.stats()["by_path_status"]
    assert by_path[f"{LEGACY}/projects/"] == {"200": 1, "204": 1}  # a full page, then No Content ends the list
    assert not [path for path in by_path if path.startswith("/api/v3/portal/")]
    tasks = live(sandbox, "tasks")
    stats = run(warehouse_conn, sandbox, "tasks", api_version="legacy", page_size=3)
    assert stats.inserted == len(tasks) and live_ids(warehouse_conn, "tasks") == {t["id"] for t in tasks}
    assert any(t["depth"] == 2 for t in tasks)  # subtasks of subtasks too
    by_path = control.stats()["by_path_status"]
    project = projects[0]["id"]
    assert by_path[f"{LEGACY}/projects/{project}/tasks/"]["200"] == 2  # 4 main tasks: 3, then 1
    assert not [path for path in by_path if path.startswith("/api/v3/portal/") and "tasks" in path]
    payload, _ = latest(warehouse_conn, "tasks", tasks[0]["id"])
    assert payload["project"]["id"] == tasks[0]["project"]["id"]


def test_legacy_api_counting_from_zero_and_answering_empty_lists(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.config(legacy_index_base=0, legacy_empty_no_content=False)
    projects = live(sandbox, "projects")
    stats = run(warehouse_conn, sandbox, "projects", api_version="legacy", legacy_index_base=0, page_size=len(projects))
    assert stats.inserted == len(projects) and live_ids(warehouse_conn, "projects") == {p["id"] for p in projects}
    assert control.stats()["by_path_status"][f"{LEGACY}/projects/"] == {"200": 2}  # the empty list ends it
    stats = run(warehouse_conn, sandbox, "tasks", api_version="legacy", legacy_index_base=0, page_size=2)
    assert stats.inserted == len(live(sandbox, "tasks"))
    with pytest.raises(ConnectionOptionsError, match="api_version"):
        run(warehouse_conn, sandbox, "projects", 1, api_version="v2")
