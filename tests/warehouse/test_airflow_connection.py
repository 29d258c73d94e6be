"""Extract tasks reach the warehouse through the Airflow Connection and its extras; WAREHOUSE_URL overrides it.

Real ``dag.test()`` runs of an extract DAG against the sandbox: each stream task's connection is read
from inside the task (its session settings), then the task loads as usual.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest

from passerelle.connectors import run
from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.orchestration.runner import run_interval
from tests.connectors.helpers import FAST

pytestmark = pytest.mark.dag
DAY_END = datetime(2026, 3, 2, tzinfo=timezone.utc)
EXTRAS = {"options": "-c statement_timeout=12345", "application_name": "passerelle-test", "sslmode": "disable"}


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The session settings of the warehouse connection each stream task was given, read inside the task."""
    seen: list[tuple[str, ...]] = []
    real = run.run_stream

    def observing(conn: Any, *args: Any, **kwargs: Any) -> Any:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('statement_timeout'), application_name, current_database()"
                        "  FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            seen.append(cur.fetchone())
        conn.rollback()
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(run, "run_stream", observing)
    return seen


def run_hubspot(dagbag: Any, sandbox: Any, fast_retries: Any, airflow_connections: Any,
                warehouse: dict[str, Any]) -> Any:
    conns = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for conn in conns.values():
        conn["extra"].update(FAST)
    airflow_connections({**conns, "passerelle_warehouse": warehouse})
    sandbox.vendors["hubspot"].control.set_clock(DAY_END + timedelta(minutes=30))
    return run_interval(fast_retries(dagbag.dags["extract_hubspot"]), DAY_END)


def test_tasks_connect_with_the_airflow_connection_and_its_extras(
    dagbag, sandbox, warehouse_conn, warehouse_url: str, airflow_connections, fast_retries, observed,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    connection = warehouse_connection(warehouse_url)
    connection["extra"] = {**connection.get("extra", {}), **EXTRAS}
    run = run_hubspot(dagbag, sandbox, fast_retries, airflow_connections, connection)
    assert run.state == "success"
    database = warehouse_url.rsplit("/", 1)[1]
    streams = len(dagbag.dags["extract_hubspot"].tasks)
    assert observed == [("12345ms", "passerelle-test", database)] * streams
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.records WHERE source = 'hubspot'")
        assert cur.fetchone()[0] > 0


def test_warehouse_url_overrides_the_airflow_connection(
    dagbag, sandbox, warehouse_conn, warehouse_url: str, airflow_connections, fast_retries, observed,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The Connection points at a port where nothing listens: only WAREHOUSE_URL can make the run succeed.
    unreachable = {**warehouse_connection(warehouse_url), "host": "127.0.0.1", "port": _closed_port(),
                   "extra": EXTRAS}
    settings = {"application_name": "passerelle-override", "options": "-c statement_timeout=54321"}
    monkeypatch.setenv("WAREHOUSE_URL", f"{warehouse_url}{'&' if '?' in warehouse_url else '?'}{urlencode(settings)}")
    run = run_hubspot(dagbag, sandbox, fast_retries, airflow_connections, unreachable)
    assert run.state == "success"
    database = warehouse_url.rsplit("/", 1)[1]
    assert set(observed) == {("54321ms", "passerelle-override", database)}


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
