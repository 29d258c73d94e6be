"""The snapshot-diff reader: create, update, unchanged, delete, the partial-listing guard, and the
transparent migration of state saved by the earlier per-source readers (in memory and through a
real warehouse and the Jira emulator)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from passerelle import exact_json
from passerelle.connectors.snapshot import STATE_KEY, SnapshotDiff, content_hash
from passerelle.connectors.sources.asana import versioned as asana_versioned
from passerelle.errors import SourceUnavailableError
from passerelle.load.raw_loader import get_watermark
from passerelle.records import Window
from tests.connectors.helpers import DAY1, extract_day, raw_count
from tests.fixtures.sandbox import single_vendor_sandbox

jira_session = single_vendor_sandbox("jira", "jira_session")

W1 = Window(None, datetime(2026, 3, 2, tzinfo=timezone.utc))
W2 = Window(datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 3, tzinfo=timezone.utc))


def people(count: int) -> list[dict[str, Any]]:
    return [{"id": str(i), "name": f"P{i}", "rate": Decimal("612.50")} for i in range(1, count + 1)]


def run(diff: SnapshotDiff, items: list[Any], window: Window, state: dict[str, Any]) -> list[dict[str, Any]]:
    listing = [(items[i:i + 4], f"page {i // 4}") for i in range(0, len(items), 4)]
    return [item for page in diff.diff(listing, "people", window, state) for item in page.items]


def test_create_unchanged_update_and_delete() -> None:
    diff, state = SnapshotDiff(), {}
    first = run(diff, people(5), W1, state)
    assert [p["id"] for p in first] == ["1", "2", "3", "4", "5"]
    assert {p["observedAt"] for p in first} == {"2026-03-02T00:00:00Z"}
    assert run(diff, people(5), W1, state) == []  # rerun: nothing new
    now = people(5)
    now[1]["rate"] = Decimal("612.500")  # a change only exact numbers see
    del now[3]
    second = run(diff, now, W2, state)
    assert second == [{**now[1], "observedAt": "2026-03-03T00:00:00Z"},
                      {"id": "4", "deleted": True, "observedAt": "2026-03-03T00:00:00Z"}]
    assert sorted(state[STATE_KEY]) == ["1", "2", "3", "5"]
    assert run(diff, now, W2, state) == []


def test_key_order_does_not_count_as_a_change() -> None:
    state: dict[str, Any] = {}
    run(SnapshotDiff(), [{"id": "1", "a": 1, "b": 2}], W1, state)
    assert run(SnapshotDiff(), [{"b": 2, "a": 1, "id": "1"}], W2, state) == []


def test_record_without_id_is_passed_on_for_the_engine_to_name() -> None:
    assert run(SnapshotDiff(), [{"name": "no id"}], W1, {}) == [{"name": "no id"}]


def test_partial_listing_does_not_wipe_everything() -> None:
    diff, state = SnapshotDiff(), {}
    run(diff, people(30), W1, state)
    saved = json.loads(json.dumps(state, default=str))
    with pytest.raises(SourceUnavailableError, match="misses 20 of 30 known records; refusing to delete"):
        run(diff, people(10), W2, state)
    assert json.loads(json.dumps(state, default=str)) == saved  # the saved snapshot is untouched
    assert len(run(diff, people(15), W2, state)) == 15  # half missing is still believed
    tolerant = [p for page in diff.diff([(people(1), "p")], "people", W2, {STATE_KEY: state[STATE_KEY]}, 1.0)
                for p in page.items]
    assert len(tolerant) == 14 and all(p["deleted"] for p in tolerant)


def test_small_listings_may_empty_out() -> None:
    state: dict[str, Any] = {}
    run(SnapshotDiff(), people(3), W1, state)
    assert [p["id"] for p in run(SnapshotDiff(), [], W2, state)] == ["1", "2", "3"]


def legacy_sha1(item: dict[str, Any]) -> str:
    """The fingerprint the earlier Jira snapshot reader kept under ``hashes``."""
    return hashlib.sha1(exact_json.canonical(item).encode()).hexdigest()[:20]


def test_state_of_the_earlier_jira_reader_is_migrated() -> None:
    items = people(6)
    state: dict[str, Any] = {"hashes": {p["id"]: legacy_sha1(p) for p in items}, "other": 1}
    now = items[:5]
    now[0] = {**now[0], "name": "Renamed"}
    emitted = run(SnapshotDiff(), now, W2, state)
    assert [(p["id"], p.get("deleted", False)) for p in emitted] == [("1", False), ("6", True)]
    assert "hashes" not in state and state["other"] == 1
    assert state[STATE_KEY]["2"][0] == content_hash(items[1])  # rewritten with the current hash
    assert run(SnapshotDiff(), now, W2, state) == []


def test_state_of_the_earlier_asana_reader_is_migrated() -> None:
    def asana_hash(item: dict[str, Any]) -> str:
        """The hash the earlier Asana reader kept under ``versions``."""
        text = exact_json.canonical({k: v for k, v in item.items() if k != "_passerelle"})
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    users = [{"gid": str(i), "name": f"U{i}"} for i in range(1, 4)]
    state: dict[str, Any] = {"versions": {u["gid"]: [asana_hash(u), "2026-02-01T00:00:00.000Z", None] for u in users}}
    assert run(asana_versioned(), users, W2, state) == []  # nothing re-emitted
    assert state[STATE_KEY]["1"] == [asana_hash(users[0]), "2026-02-01T00:00:00.000Z"]
    assert "versions" not in state
    renamed = {**users[0], "name": "Renamed"}
    assert run(asana_versioned(), [renamed, *users[1:2]], W2, state) == [  # U3 unlisted: not a deletion here
        {**renamed, "_passerelle": {"version_at": "2026-03-02T23:59:59.999Z", "content_hash": asana_hash(renamed)}}]


@pytest.mark.timeout(120)
def test_jira_watermark_saved_by_the_earlier_reader_migrates_in_the_warehouse(jira_session, warehouse_conn) -> None:
    """A warehouse whose projects watermark holds the earlier ``hashes`` state: no re-emission, then
    the next change and deletion are found and the state is rewritten under the new key."""
    sandbox = jira_session
    control = sandbox.vendors["jira"].control
    control.reset()
    assert extract_day(warehouse_conn, sandbox, "jira", "projects").records > 0
    projects = control.records("projects")
    saved = get_watermark(warehouse_conn, "jira", "projects").state
    assert set(saved[STATE_KEY]) == {str(p["id"]) for p in projects}
    # what the earlier reader would have saved: a SHA-1 fingerprint of each listed project
    raw = {}
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT record_id, payload::text FROM raw.records WHERE source = 'jira' AND stream = 'projects'")
        for record_id, text in cur.fetchall():
            payload = exact_json.loads(text)
            payload.pop("observedAt")
            raw[record_id] = legacy_sha1(payload)
        cur.execute("UPDATE audit.watermarks SET state = %s WHERE source = 'jira' AND stream = 'projects'",
                    (json.dumps({"hashes": raw}),))
    warehouse_conn.commit()
    assert extract_day(warehouse_conn, sandbox, "jira", "projects").records == 0  # nothing re-emitted
    before = raw_count(warehouse_conn, "jira", "projects")
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.update("projects", projects[0]["id"], {"name": "Renamed project"})
    control.delete("projects", projects[1]["id"])
    stats = extract_day(warehouse_conn, sandbox, "jira", "projects", day=1)
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 1, 1)
    assert raw_count(warehouse_conn, "jira", "projects") == before + 2
    state = get_watermark(warehouse_conn, "jira", "projects").state
    assert "hashes" not in state and str(projects[1]["id"]) not in state[STATE_KEY]
