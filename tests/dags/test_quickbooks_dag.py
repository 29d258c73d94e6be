"""Real runs (``dag.test()``) of the generated ``extract_quickbooks`` DAG against the sandbox and a real warehouse."""

from __future__ import annotations

import pytest

from passerelle_sandbox.quickbooks_scenario import apply_quickbooks_day_changes, compare_quickbooks_raw_with_source

pytestmark = pytest.mark.dag
STREAMS = {"customers", "items", "invoices", "credit_memos", "payments", "time_activities", "company_info"}


def test_three_daily_runs_leave_raw_as_the_source_and_keep_the_token_chain(crm_dag, sandbox, warehouse_conn) -> None:
    quickbooks = crm_dag("quickbooks", STREAMS)
    applied = quickbooks.run_days(3, lambda day, at: apply_quickbooks_day_changes(sandbox, day, at))
    assert applied == [{"created": 3, "updated": 3, "deleted": 2}] * 3
    assert compare_quickbooks_raw_with_source(warehouse_conn, sandbox) == []
    last = quickbooks.load_counts(3)
    assert set(last) == STREAMS
    assert last["customers"][:2] == [1, 1] and last["payments"][0] == 2 and last["payments"][2] == 1
    assert last["invoices"][1] >= 2 and last["time_activities"][2] == 1 and last["company_info"] == [0, 0, 0]
    token_calls = sandbox.vendors["quickbooks"].control.stats()["by_path_status"]["/oauth2/v1/tokens/bearer"]
    assert token_calls == {"200": 3 * len(STREAMS)}  # each task refreshed from the latest stored link
