"""Real runs (``dag.test()``) of the generated ``extract_dynamics`` DAG against the sandbox and a real warehouse."""

from __future__ import annotations

import pytest

from passerelle_sandbox.dynamics_scenario import apply_dynamics_day_changes, compare_dynamics_raw_with_source

pytestmark = pytest.mark.dag
STREAMS = {"accounts", "contacts", "opportunities", "opportunityproducts", "products", "systemusers",
           "transactioncurrencies"}


def test_three_daily_runs_leave_raw_as_the_source(crm_dag, sandbox, warehouse_conn) -> None:
    dynamics = crm_dag("dynamics", STREAMS)
    applied = dynamics.run_days(3, lambda day, at: apply_dynamics_day_changes(sandbox, day, at))
    assert [{**a, "updated": 0} for a in applied] == [{"created": 1, "updated": 0, "deleted": 2, "mass_updated": 25}] * 3
    assert all(a["updated"] in (3, 4) for a in applied)  # an account without SIREN gets no new SIRET
    assert compare_dynamics_raw_with_source(warehouse_conn, sandbox) == []
    last = dynamics.load_counts(3)
    assert set(last) == STREAMS
    # accounts renamed and re-identified; the other two updates are a line quantity and a won opportunity
    assert last["accounts"] == [1, applied[-1]["updated"] - 2, 0]
    assert last["contacts"][1] == 25 and last["contacts"][2] == 1
    assert last["opportunities"][1:] == [1, 1] and last["opportunityproducts"][2] >= 1
    assert last["transactioncurrencies"] == [0, 0, 0]
