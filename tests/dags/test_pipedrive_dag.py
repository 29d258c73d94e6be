"""Real runs (``dag.test()``) of the generated ``extract_pipedrive`` DAG against the sandbox and a real warehouse."""

from __future__ import annotations

import pytest

from passerelle_sandbox.pipedrive_scenario import apply_pipedrive_day_changes, compare_pipedrive_raw_with_source

pytestmark = pytest.mark.dag
STREAMS = {"organizations", "persons", "deals", "deal_products", "products", "users"}


def test_three_daily_runs_leave_raw_as_the_source(crm_dag, sandbox, warehouse_conn) -> None:
    pipedrive = crm_dag("pipedrive", STREAMS)
    pipedrive.run_days(3, lambda day, at: apply_pipedrive_day_changes(sandbox, day, at))
    assert compare_pipedrive_raw_with_source(warehouse_conn, sandbox) == []
    last = pipedrive.load_counts(3)
    assert set(last) == STREAMS
    assert last["organizations"] == [1, 2, 0] and last["persons"][2] == 1 and last["deals"][2] == 1
