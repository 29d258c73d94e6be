"""Real runs (``dag.test()``) of the generated ``extract_zoho_crm`` and ``extract_bigin`` DAGs against the sandbox."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.orchestration.runner import run_interval
from passerelle_sandbox.zoho_scenario import apply_zoho_day_changes, compare_zoho_raw_with_source
from tests.connectors.helpers import FAST

pytestmark = pytest.mark.dag
DAY1 = datetime(2026, 3, 1, tzinfo=timezone.utc)
STREAMS = {"zoho_crm": {"Accounts", "Contacts", "Deals", "Quotes", "Products", "users"},
           "bigin": {"Accounts", "Contacts", "Pipelines", "Products", "users"}}


@pytest.fixture
def connections(sandbox, warehouse_url, airflow_connections):
    conns = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for conn in conns.values():
        conn["extra"].update(FAST)
    airflow_connections({**conns, "passerelle_warehouse": warehouse_connection(warehouse_url)})
    return conns


@pytest.mark.parametrize("vendor", ["zoho_crm", "bigin"])
def test_three_daily_runs_leave_raw_as_the_source(dagbag, sandbox, warehouse_conn, connections, fast_retries,
                                                  vendor) -> None:
    dag = fast_retries(dagbag.dags[f"extract_{vendor}"])
    assert {task.task_id for task in dag.tasks} >= {f"extract_{s}" for s in STREAMS[vendor]}
    for day in range(3):
        changes = apply_zoho_day_changes(sandbox, day, DAY1 + timedelta(days=day, hours=10), vendor)
        assert changes == {"created": 1, "updated": 3, "deleted": 2, "mass_updated": 25}
        end = DAY1 + timedelta(days=day + 1)
        sandbox.vendors[vendor].control.set_clock(end + timedelta(minutes=30))
        assert run_interval(dag, end).state == "success"
    assert compare_zoho_raw_with_source(warehouse_conn, sandbox, vendor) == []
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT stream, inserted, updated, deleted FROM audit.load_log WHERE source = %s "
                    "AND window_end = %s", (vendor, DAY1 + timedelta(days=3)))
        last = {stream: counts for stream, *counts in cur.fetchall()}
    warehouse_conn.rollback()
    deals = "Deals" if vendor == "zoho_crm" else "Pipelines"
    assert set(last) == STREAMS[vendor]
    assert last["Accounts"] == [1, 2, 0] and last["Contacts"][1:] == [25, 1] and last[deals][1:] == [1, 1]
