"""A real run (``dag.test()``) of the generated ``extract_folk`` DAG against the sandbox and a real warehouse."""

from __future__ import annotations

import pytest

from passerelle_sandbox.folk_scenario import apply_folk_day_changes, compare_folk_raw_with_source

pytestmark = pytest.mark.dag
STREAMS = {"companies", "people", "users"}


def test_three_daily_runs_leave_raw_as_the_source(crm_dag, sandbox, warehouse_conn) -> None:
    folk = crm_dag("folk", STREAMS)
    changes = folk.run_days(3, lambda day, at: apply_folk_day_changes(sandbox, day, at))
    assert changes == [{"created": 1, "updated": 2, "deleted": 2}] * 3
    assert compare_folk_raw_with_source(warehouse_conn, sandbox) == []
    last = folk.load_counts(3)
    assert set(last) == STREAMS
    assert last["companies"] == [1, 2, 1] and last["people"] == [0, 0, 1] and last["users"] == [0, 0, 0]
