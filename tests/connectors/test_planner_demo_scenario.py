"""The demo's Planner and Project for the web day changes, extracted for three windows: raw ends equal to the sources."""

from __future__ import annotations

from datetime import timedelta

from passerelle.connectors.registry import get_source
from passerelle_sandbox.planner_scenario import (
    apply_planner_day_changes,
    apply_project_for_the_web_day_changes,
    compare_planner_raw_with_source,
)
from tests.connectors.helpers import DAY1, extract_day


def test_three_demo_days_leave_raw_equal_to_the_sources(sandbox, warehouse_conn) -> None:
    totals = {"planner": [0, 0, 0], "project_for_the_web": [0, 0, 0]}
    for day in range(3):
        start = DAY1 + timedelta(days=day)
        planner = apply_planner_day_changes(sandbox, day, start + timedelta(hours=11, minutes=5))
        project = apply_project_for_the_web_day_changes(sandbox, day, start + timedelta(hours=11, minutes=10))
        assert planner == {"created": 1, "updated": 3, "deleted": 1} and project == {"created": 2, "updated": 2, "deleted": 1}
        for source in totals:
            for stream in get_source(source).streams:
                stats = extract_day(warehouse_conn, sandbox, source, stream.name, day=day)
                if day:
                    totals[source][0] += stats.inserted
                    totals[source][1] += stats.updated
                    totals[source][2] += stats.deleted
    assert compare_planner_raw_with_source(warehouse_conn, sandbox) == []
    assert totals["planner"][0] >= 2 * 2 and totals["planner"][1] >= 2 * 3 and totals["planner"][2] >= 2 * 2
    assert totals["project_for_the_web"] == [4, 4, 2]
