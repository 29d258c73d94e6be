"""Real runs (``dag.test()``) of the generated ``extract_planner`` and ``extract_project_for_the_web`` DAGs
against the sandbox and a real warehouse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from passerelle.orchestration.runner import run_interval
from passerelle_sandbox.planner_scenario import (
    apply_planner_day_changes,
    apply_project_for_the_web_day_changes,
    compare_planner_raw_with_source,
)
from tests.dags.crm_dag import DAY1

pytestmark = pytest.mark.dag
PLANNER = {"plans", "buckets", "tasks", "task_details", "users"}
PROJECTS = {"msdyn_projects", "msdyn_projecttasks", "msdyn_timeentries"}


def test_three_daily_planner_runs_leave_raw_as_the_source(crm_dag, sandbox, warehouse_conn) -> None:
    planner = crm_dag("planner", PLANNER)
    applied = planner.run_days(3, lambda day, at: apply_planner_day_changes(sandbox, day, at))
    assert applied == [{"created": 1, "updated": 3, "deleted": 1}] * 3
    last = planner.load_counts(3)
    assert set(last) == PLANNER
    assert last["tasks"][0] == 1 and last["tasks"][1] == 3 and last["tasks"][2] == 1
    assert last["task_details"] == [1, 0, 1] and last["plans"] == last["users"] == [0, 0, 0]
    assert compare_planner_raw_with_source(warehouse_conn, sandbox, ("planner",)) == []


def test_three_daily_project_for_the_web_runs_read_the_dynamics_org(dagbag, sandbox, warehouse_conn, connections,
                                                                     fast_retries) -> None:
    dag = fast_retries(dagbag.dags["extract_project_for_the_web"])
    assert {task.task_id for task in dag.tasks} == {f"extract_{s}" for s in PROJECTS}
    for day in range(3):
        assert apply_project_for_the_web_day_changes(sandbox, day, DAY1 + timedelta(days=day, hours=10)) == {
            "created": 2, "updated": 2, "deleted": 1}
        end = DAY1 + timedelta(days=day + 1)
        sandbox.vendors["dynamics"].control.set_clock(end + timedelta(minutes=30))
        assert run_interval(dag, end).state == "success"
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT stream, inserted, updated, deleted FROM audit.load_log WHERE source = "
                    "'project_for_the_web' AND window_end = %s", (DAY1 + timedelta(days=3),))
        last = {stream: counts for stream, *counts in cur.fetchall()}
    warehouse_conn.rollback()
    assert last == {"msdyn_projects": [0, 0, 0], "msdyn_projecttasks": [0, 2, 0], "msdyn_timeentries": [2, 0, 1]}
    assert compare_planner_raw_with_source(warehouse_conn, sandbox, ("project_for_the_web",)) == []
