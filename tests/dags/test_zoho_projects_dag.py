"""Real runs (``dag.test()``) of the generated ``extract_zoho_projects`` DAG against the sandbox."""

from __future__ import annotations

import pytest

from passerelle_sandbox.zoho_projects_scenario import apply_zoho_projects_day_changes, compare_zoho_projects_raw_with_source

pytestmark = pytest.mark.dag
STREAMS = {"projects", "users", "tasklists", "milestones", "tasks", "timelogs"}


def test_three_daily_runs_leave_raw_as_the_source(crm_dag, sandbox, warehouse_conn) -> None:
    zoho = crm_dag("zoho_projects", STREAMS)
    changes = zoho.run_days(3, lambda day, at: apply_zoho_projects_day_changes(sandbox, day, at))
    assert changes == [{"created": 2, "updated": 3, "deleted": 2}] * 3
    assert compare_zoho_projects_raw_with_source(warehouse_conn, sandbox) == []
    last = zoho.load_counts(3)
    assert set(last) == STREAMS
    assert last["tasks"][0] == 1 and last["tasks"][1] >= 2 and last["tasks"][2] >= 1  # subtask; closed + parent
    assert last["milestones"] == [0, 1, 0] and last["timelogs"] == [1, 1, 1]
    stats = sandbox.vendors["zoho_projects"].control.stats()
    assert stats["by_status"].get("429", 0) == 0
