"""An Asana task listed under several projects: identical repeats load once, contradicting ones are
quarantined by the loader (rule ``raw.conflicting_duplicate``) while the rest of the window commits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.connectors.helpers import DAY1, extract_day, raw_count


def multi_homed_task(sandbox: Any) -> tuple[str, int]:
    """A task made a member of every project (modified inside the window); returns (gid, project count)."""
    control = sandbox.vendors["asana"].control
    control.set_clock(DAY1 + timedelta(hours=12))
    projects = control.records("projects")
    task = sorted(control.records("tasks"), key=lambda t: t["gid"])[0]
    memberships = [{"project": {"gid": p["gid"], "resource_type": "project", "name": p["name"]}, "section": None}
                   for p in projects]
    control.update("tasks", task["gid"], {"memberships": memberships})
    return task["gid"], len(projects)


def conflicts(conn: Any) -> list[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_key, reason FROM quality.quarantine WHERE source_system = 'asana'"
                    " AND rule = 'raw.conflicting_duplicate' AND released_at IS NULL")
        rows = cur.fetchall()
    conn.rollback()
    return rows


def stored(conn: Any, gid: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.records WHERE source = 'asana' AND stream = 'tasks'"
                    " AND record_id = %s", (gid,))
        count = cur.fetchone()[0]
    conn.rollback()
    return count


@pytest.mark.timeout(120)
def test_identical_repeats_across_projects_load_once(sandbox, warehouse_conn) -> None:
    gid, projects = multi_homed_task(sandbox)
    assert projects >= 3
    stats = extract_day(warehouse_conn, sandbox, "asana", "tasks")
    assert stats.quarantined == 0 and conflicts(warehouse_conn) == []
    assert stored(warehouse_conn, gid) == 1


@pytest.mark.timeout(120)
def test_contradicting_repeat_across_projects_is_quarantined(sandbox, warehouse_conn) -> None:
    """The second project's listing shows the task with other notes at the same modified_at."""
    gid, _ = multi_homed_task(sandbox)
    control = sandbox.vendors["asana"].control
    control.add_fault("rewrite", path="/tasks", after=1, times=1,
                      patch=[{"path": f"data/gid={gid}/notes", "value": "Version contradictoire"}])
    stats = extract_day(warehouse_conn, sandbox, "asana", "tasks")
    fault = control.faults()[0]
    assert fault["fired"] == 1 and fault["seen"] == 1  # the first project's listing went through untouched
    assert stats.quarantined == 1
    [(key, reason)] = conflicts(warehouse_conn)
    assert key == gid and "2 different versions of asana.tasks record" in reason
    assert stored(warehouse_conn, gid) == 0  # neither version guessed into raw
    assert raw_count(warehouse_conn, "asana", "tasks") == stats.inserted + stats.deleted > 0  # the others loaded
