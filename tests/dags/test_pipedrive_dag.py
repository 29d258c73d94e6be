"""Real runs (``dag.test()``) of the generated ``extract_pipedrive`` DAG against the sandbox and a real warehouse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.orchestration.runner import run_interval
from passerelle_sandbox.pipedrive_scenario import apply_pipedrive_day_changes, compare_pipedrive_raw_with_source
from tests.connectors.helpers import FAST

pytestmark = pytest.mark.dag
DAY1 = datetime(2026, 3, 1, tzinfo=timezone.utc)
STREAMS = {"organizations", "persons", "deals", "deal_products", "products", "users"}


@pytest.fixture
def connections(sandbox, warehouse_url, airflow_connections):
    conns = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for conn in conns.values():
        conn["extra"].update(FAST)
    airflow_connections({**conns, "passerelle_warehouse": warehouse_connection(warehouse_url)})
    return conns


def test_three_daily_runs_leave_raw_as_the_source(dagbag, sandbox, warehouse_conn, connections, fast_retries) -> None:
    dag = fast_retries(dagbag.dags["extract_pipedrive"])
    assert {task.task_id for task in dag.tasks} >= {f"extract_{s}" for s in STREAMS}
    for day in range(3):
        apply_pipedrive_day_changes(sandbox, day, DAY1 + timedelta(days=day, hours=10))
        end = DAY1 + timedelta(days=day + 1)
        sandbox.vendors["pipedrive"].control.set_clock(end + timedelta(minutes=30))
        assert run_interval(dag, end).state == "success"
    assert compare_pipedrive_raw_with_source(warehouse_conn, sandbox) == []
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT stream, inserted, updated, deleted FROM audit.load_log WHERE source = 'pipedrive' "
                    "AND window_end = %s", (DAY1 + timedelta(days=3),))
        last = {stream: counts for stream, *counts in cur.fetchall()}
    warehouse_conn.rollback()
    assert set(last) == STREAMS
    assert last["organizations"] == [1, 2, 0] and last["persons"][2] == 1 and last["deals"][2] == 1
