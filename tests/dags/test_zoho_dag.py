"""Real runs (``dag.test()``) of the generated ``extract_zoho_crm`` and ``extract_bigin`` DAGs against the sandbox."""

from __future__ import annotations

import pytest

from passerelle_sandbox.zoho_scenario import apply_zoho_day_changes, compare_zoho_raw_with_source

pytestmark = pytest.mark.dag
STREAMS = {"zoho_crm": {"Accounts", "Contacts", "Deals", "Quotes", "Products", "users"},
           "bigin": {"Accounts", "Contacts", "Pipelines", "Products", "users"}}


@pytest.mark.parametrize("vendor", ["zoho_crm", "bigin"])
def test_three_daily_runs_leave_raw_as_the_source(crm_dag, sandbox, warehouse_conn, vendor) -> None:
    zoho = crm_dag(vendor, STREAMS[vendor])
    changes = zoho.run_days(3, lambda day, at: apply_zoho_day_changes(sandbox, day, at, vendor))
    assert changes == [{"created": 1, "updated": 3, "deleted": 2, "mass_updated": 25}] * 3
    assert compare_zoho_raw_with_source(warehouse_conn, sandbox, vendor) == []
    last = zoho.load_counts(3)
    deals = "Deals" if vendor == "zoho_crm" else "Pipelines"
    assert set(last) == STREAMS[vendor]
    assert last["Accounts"] == [1, 2, 0] and last["Contacts"][1:] == [25, 1] and last[deals][1:] == [1, 1]
