"""Real DAG runs (``dag.test()``) of the extract DAGs against the sandbox and a real warehouse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from passerelle.orchestration.runner import run_interval
from passerelle_sandbox.scenario import apply_day_changes, compare_raw_with_sources
from tests.connectors.helpers import FAST, audit_counts

pytestmark = pytest.mark.dag
DAY1 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def run_day(dag, sandbox, day: int):
    end = DAY1 + timedelta(days=day + 1)
    for vendor in sandbox.vendors.values():
        vendor.control.set_clock(end + timedelta(minutes=30))
    return run_interval(dag, end)


def load_log(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT source, stream, window_end, inserted, updated, deleted, unchanged FROM audit.load_log "
            "ORDER BY source, stream, window_end, load_id"
        )
        rows = cur.fetchall()
    conn.rollback()
    return rows


def test_three_windows_with_changes_give_the_source_state(dagbag, sandbox, warehouse_conn, connections, fast_retries) -> None:
    dags = [fast_retries(dagbag.dags[d]) for d in ("extract_salesforce", "extract_hubspot")]
    for day in range(3):
        apply_day_changes(sandbox, day, DAY1 + timedelta(days=day, hours=10))
        for dag in dags:
            run = run_day(dag, sandbox, day)
            assert run.state == "success"
            assert (run.data_interval_start, run.data_interval_end) == (
                DAY1 + timedelta(days=day), DAY1 + timedelta(days=day + 1),
            )
    assert compare_raw_with_sources(warehouse_conn, sandbox) == []
    log = {(s, st, w.date().isoformat()): (i, u, d) for s, st, w, i, u, d, _ in load_log(warehouse_conn)}
    # Day 2 and 3 windows hold exactly that day's changes (scenario: 3 account updates + 1 new account...).
    assert log[("salesforce", "Account", "2026-03-03")] == (1, 3, 0)
    assert log[("salesforce", "Contact", "2026-03-03")][2] == 1
    assert log[("hubspot", "deals", "2026-03-04")] == (0, 0, 1)
    assert log[("hubspot", "contacts", "2026-03-04")][0] == 1


def test_backfill_of_a_past_window_is_idempotent(dagbag, sandbox, warehouse_conn, connections, fast_retries) -> None:
    dag = fast_retries(dagbag.dags["extract_salesforce"])
    for day in range(2):
        apply_day_changes(sandbox, day, DAY1 + timedelta(days=day, hours=10))
        assert run_day(dag, sandbox, day).state == "success"
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*), max(load_id) FROM raw.records")
        before = cur.fetchone()
        cur.execute("SELECT stream, window_end FROM audit.watermarks ORDER BY stream")
        watermarks = cur.fetchall()
    warehouse_conn.rollback()
    assert run_interval(dag, DAY1 + timedelta(days=2)).state == "success"  # re-run window 2026-03-02
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.records")
        assert cur.fetchone()[0] == before[0]
        cur.execute("SELECT stream, window_end FROM audit.watermarks ORDER BY stream")
        assert cur.fetchall() == watermarks
        cur.execute("SELECT sum(inserted + updated + deleted), sum(unchanged) FROM audit.load_log WHERE load_id > %s", (before[1],))
        changed, unchanged = cur.fetchone()
    warehouse_conn.rollback()
    assert changed == 0 and unchanged > 0


def test_failed_task_leaves_nothing_and_its_retry_completes(
    dagbag, sandbox, warehouse_conn, connections, airflow_connections, fast_retries
) -> None:
    dag = fast_retries(dagbag.dags["extract_salesforce"].partial_subset(task_ids=["extract_Account"]), retries=1)
    connections["passerelle_salesforce"]["extra"]["batch_size"] = 200
    airflow_connections({"passerelle_salesforce": connections["passerelle_salesforce"]})
    # Page 2 onwards (after the window's COUNT() and page 1) fails more often than the connector retries:
    # the first try must fail whole.
    sandbox.vendors["salesforce"].control.bulk("Account", create=500)
    sandbox.vendors["salesforce"].control.add_fault(
        **{"kind": "error", "status": 500, "times": FAST["retry_attempts"], "after": 2, "path": "/query"}
    )
    run = run_day(dag, sandbox, 0)
    assert run.state == "success"
    assert run.get_task_instance("extract_Account").try_number == 2
    assert not [p for p in compare_raw_with_sources(warehouse_conn, sandbox) if p.startswith("salesforce.Account")]
    assert audit_counts(warehouse_conn)[0] == 1  # one committed load: the failed try left no trace


def test_refused_credentials_fail_the_task_without_retrying(dagbag, sandbox, warehouse_conn, connections, airflow_connections) -> None:
    dag = dagbag.dags["extract_hubspot"].partial_subset(task_ids=["extract_owners"])
    sandbox.vendors["hubspot"].control.add_fault(**{"kind": "expire_tokens"})
    run = run_day(dag, sandbox, 0)
    assert run.state == "failed"
    assert run.get_task_instance("extract_owners").try_number == 1
    assert audit_counts(warehouse_conn) == (0, 0)
