"""Microsoft Planner (Graph v1.0, snapshot diff) extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from passerelle.connectors.registry import get_source
from passerelle.errors import AuthError, SourceUnavailableError
from passerelle.load.raw_loader import get_watermark
from tests.connectors.helpers import (
    DAY1, audit_counts, extract_day, raw_count, raw_versions, latest_version, live_ids as raw_live_ids,
)

STREAMS = ("plans", "buckets", "tasks", "task_details", "users")
V1 = "/v1.0"


def records(sandbox: Any, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors["planner"].control.records(obj)


def extract_all(conn: Any, sandbox: Any, day: int, **extra: Any) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = extract_day(conn, sandbox, "planner", stream, day=day, **extra)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def latest(conn: Any, stream: str, record_id: str) -> tuple[Any, ...] | None:
    return latest_version(conn, "planner", stream, record_id)


def live_ids(conn: Any, stream: str) -> set[str]:
    return raw_live_ids(conn, "planner", stream)


SOURCE_OBJECT = {"task_details": "details"}


def test_first_window_loads_every_object_with_its_etag(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in STREAMS:
        source = records(sandbox, SOURCE_OBJECT.get(stream, stream))
        assert counts[stream][0] == len(source) == raw_count(warehouse_conn, "planner", stream) > 0, stream
    task = next(t for t in records(sandbox, "tasks") if t["completedDateTime"])
    payload, deleted, cursor = latest(warehouse_conn, "tasks", task["id"])
    assert not deleted and cursor == DAY1 + timedelta(days=1)  # versioned by the window end
    assert payload["@odata.etag"] == task["@odata.etag"] and payload["percentComplete"] == 100
    assert payload["completedDateTime"] == task["completedDateTime"] and payload["observedAt"] == "2026-03-02T00:00:00Z"
    link = next(d for d in records(sandbox, "details") if d["references"])
    assert latest(warehouse_conn, "task_details", link["id"])[0]["references"] == link["references"]
    assert len(get_watermark(warehouse_conn, "planner", "tasks").state["snapshot"]) == len(records(sandbox, "tasks"))


def test_three_windows_find_creates_updates_and_deletes(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["planner"].control
    extract_all(warehouse_conn, sandbox, 0)
    for day in (1, 2, 3):
        control.set_clock(DAY1 + timedelta(days=day, hours=9))
        tasks = sorted(records(sandbox, "tasks"), key=lambda t: t["id"])
        done, removed = tasks[day], tasks[-day]
        control.update("tasks", done["id"], {"percentComplete": 100})
        created = control.create("tasks", {"planId": done["planId"], "title": f"Nouvelle tâche {day}"})["id"]
        control.delete("tasks", removed["id"])
        counts = extract_all(warehouse_conn, sandbox, day)
        assert counts["tasks"][:3] == (1, 1, 1), counts
        assert counts["task_details"][:3] == (1, 0, 1), counts  # the new task's details, the removed one's
        assert counts["plans"][:3] == counts["buckets"][:3] == counts["users"][:3] == (0, 0, 0)
        window_end = DAY1 + timedelta(days=day + 1)
        payload, _, cursor = latest(warehouse_conn, "tasks", done["id"])
        assert payload["percentComplete"] == 100 and payload["completedDateTime"] and cursor == window_end
        assert payload["@odata.etag"] != done["@odata.etag"]
        assert latest(warehouse_conn, "tasks", created)[0]["title"] == f"Nouvelle tâche {day}"
        tombstone, deleted, cursor = latest(warehouse_conn, "tasks", removed["id"])
        assert deleted and tombstone["deleted"] is True and cursor == window_end
    for stream in STREAMS:
        source = records(sandbox, SOURCE_OBJECT.get(stream, stream))
        assert live_ids(warehouse_conn, stream) == {r["id"] for r in source}, stream


def test_a_deleted_plan_takes_its_buckets_tasks_and_details(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["planner"].control
    extract_all(warehouse_conn, sandbox, 0)
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    plan = records(sandbox, "plans")[0]
    tasks = [t["id"] for t in records(sandbox, "tasks") if t["planId"] == plan["id"]]
    control.delete("plans", plan["id"])
    counts = extract_all(warehouse_conn, sandbox, 1)
    assert counts["plans"][2] == 1 and counts["buckets"][2] == 4
    assert counts["tasks"][2] == counts["task_details"][2] == len(tasks) > 0


def test_rerun_and_backfill_load_nothing_twice(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["planner"].control
    extract_all(warehouse_conn, sandbox, 0)
    task = records(sandbox, "tasks")[0]
    control.update("tasks", task["id"], {"priority": 1})
    control.update("details", task["id"], {"description": "Compte rendu du comité"})
    first = extract_all(warehouse_conn, sandbox, 1)
    assert first["tasks"][1] == 1 and first["task_details"][1] == 1
    before = sum(raw_count(warehouse_conn, "planner", s) for s in STREAMS)
    again = extract_all(warehouse_conn, sandbox, 1)
    assert all(c[:3] == (0, 0, 0) for c in again.values()), again
    backfill = extract_all(warehouse_conn, sandbox, 0)  # a past interval, re-extracted
    assert all(c[:3] == (0, 0, 0) for c in backfill.values()), backfill
    assert sum(raw_count(warehouse_conn, "planner", s) for s in STREAMS) == before


def test_throttling_429_waits_the_retry_after(sandbox, warehouse_conn) -> None:
    """2 throttled answers announcing Retry-After: 1 cost 2 × 1 s, far above the 0.05 s backoff."""
    control = sandbox.vendors["planner"].control
    control.add_fault(kind="rate_limit", times=2, retry_after=1, path=f"{V1}/groups")
    started = time.monotonic()
    stats = extract_day(warehouse_conn, sandbox, "planner", "plans")
    assert stats.inserted == len(records(sandbox, "plans"))
    assert control.stats()["by_status"].get("429") == 2 and time.monotonic() - started >= 2.0


def test_the_request_limit_is_waited_out_and_named_when_it_never_lifts(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["planner"].control
    control.config(request_limit=10, window_seconds=2)
    stats = extract_day(warehouse_conn, sandbox, "planner", "tasks")  # 1 + 13 + 13 requests
    assert stats.inserted == len(records(sandbox, "tasks"))
    assert control.stats()["by_status"].get("429", 0) >= 1
    control.add_fault(kind="rate_limit", times=None, retry_after=0, path=f"{V1}/users")
    with pytest.raises(SourceUnavailableError, match=r"throttled .*TooManyRequests: Too many requests"):
        extract_day(warehouse_conn, sandbox, "planner", "users")


def test_token_expiry_mid_run_gets_a_new_token(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["planner"].control
    plans = records(sandbox, "plans")
    control.add_fault(kind="expire_tokens", path=f"{V1}/planner/plans/{plans[5]['id']}/tasks")
    stats = extract_day(warehouse_conn, sandbox, "planner", "tasks")
    assert stats.inserted == len(records(sandbox, "tasks"))
    by_path = control.stats()["by_path_status"]
    assert by_path[f"{V1}/planner/plans/{plans[5]['id']}/tasks"].get("401") == 1
    tokens = [counts for path, counts in by_path.items() if path.endswith("/oauth2/v2.0/token")]
    assert [c.get("200") for c in tokens] == [2]  # the cached token was reused until refused, then replaced


def test_refused_secret_fails_fast_without_the_secret(sandbox, warehouse_conn) -> None:
    from dataclasses import replace

    from passerelle.connectors.run import run_stream
    from tests.connectors.helpers import source_config

    config = replace(source_config(sandbox, "planner"), password="not-the-secret-value")
    with pytest.raises(AuthError, match=r"invalid_client: AADSTS7000215") as refused:
        run_stream(warehouse_conn, get_source("planner"), "plans", config, interval_start=DAY1,
                   interval_end=DAY1 + timedelta(days=1), run_id="test__planner_secret")
    assert "not-the-secret-value" not in str(refused.value)
    assert audit_counts(warehouse_conn) == (0, 0)


def test_crash_mid_window_commits_nothing_and_keeps_the_snapshot(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["planner"].control
    extract_day(warehouse_conn, sandbox, "planner", "tasks")
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    task = records(sandbox, "tasks")[0]
    control.update("tasks", task["id"], {"percentComplete": 50})
    plans = records(sandbox, "plans")
    control.add_fault(kind="error", status=503, times=None, path=f"{V1}/planner/plans/{plans[6]['id']}/tasks")
    with pytest.raises(SourceUnavailableError, match="HTTP 503.*serviceNotAvailable"):
        extract_day(warehouse_conn, sandbox, "planner", "tasks", day=1)
    assert audit_counts(warehouse_conn) == (1, 1)  # the first window only
    assert [v[2] for v in raw_versions(warehouse_conn, "planner", "tasks") if v[0] == task["id"]] == [False]
    control.clear_faults()
    stats = extract_day(warehouse_conn, sandbox, "planner", "tasks", day=1)
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 1, 0)


def test_a_truncated_listing_is_not_read_as_mass_deletion(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["planner"].control
    extract_day(warehouse_conn, sandbox, "planner", "tasks")
    for plan in records(sandbox, "plans")[:9]:
        control.delete("plans", plan["id"])
    with pytest.raises(SourceUnavailableError, match="refusing to delete"):
        extract_day(warehouse_conn, sandbox, "planner", "tasks", day=1)
    assert extract_day(warehouse_conn, sandbox, "planner", "tasks", day=1, max_missing_ratio=0.95).deleted > 0


def test_spec_is_registered() -> None:
    spec = get_source("planner")
    assert (spec.conn_id, spec.pool) == ("passerelle_planner", "planner_api")
    assert [s.name for s in spec.streams] == list(STREAMS)
    assert all(s.primary_key == "id" and s.cursor_field == "observedAt" for s in spec.streams)


@pytest.mark.parametrize("kind, spec, expected", [
    ("malformed_json", {}, "malformed JSON"),
    ("html_page", {}, "text/html"),
    ("oversize", {"size": 40 << 20}, "exceeds the 32 MB response-size limit"),
    ("rewrite", {"patch": [{"path": "value/0/id", "value": {"nested": "object"}}]},
     "primary key field 'id' has the wrong type: dict"),
])
def test_hostile_pages_fail_the_window_cleanly(sandbox, warehouse_conn, kind, spec, expected) -> None:
    sandbox.vendors["planner"].control.add_fault(kind, times=None, path=f"{V1}/users", **spec)
    with pytest.raises(Exception) as caught:
        extract_day(warehouse_conn, sandbox, "planner", "users")
    assert "\n" not in str(caught.value) and "planner" in str(caught.value) and expected in str(caught.value)
    assert raw_count(warehouse_conn, "planner", "users") == 0 and audit_counts(warehouse_conn) == (0, 0)


def test_a_next_link_to_another_host_is_refused(sandbox, warehouse_conn) -> None:
    sandbox.vendors["planner"].control.add_fault("rewrite", times=None, path=f"{V1}/groups", patch=[
        {"path": "@odata.nextLink", "value": "https://localhost:1/v1.0/groups?$skiptoken=X"}])
    with pytest.raises(Exception, match="points to another host"):
        extract_day(warehouse_conn, sandbox, "planner", "plans")
    assert audit_counts(warehouse_conn) == (0, 0)
