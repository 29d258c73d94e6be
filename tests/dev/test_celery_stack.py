"""The CeleryExecutor set-up of ``make up-celery`` runs a short pipeline on two workers.

The components start as ``make up-celery`` starts them (:class:`passerelle_dev.celery_stack.CeleryStack`),
on this machine's Redis and a throw-away metadata database on the test Postgres; two real extract DAGs
(against the sandbox) and a small fan-out DAG are triggered through the REST API. Every task must succeed,
both workers must have run some (task instances' ``hostname``), and the vendor pools must still bound
each source. The task → worker table is printed whatever the outcome.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.warehouse.scratch import create_database, drop_database
from passerelle_dev.celery_stack import CeleryStack
from passerelle_dev.components import started
from passerelle_dev.devserver import migrate_metadata
from passerelle_sandbox.server import Sandbox
from tests.fixtures.warehouse import unique_database_name

DAGS = Path(__file__).parent / "celery_dags"
TRIGGERED = ("extract_folk", "extract_asana", "celery_fan_out")
BROKER_URL = "redis://127.0.0.1:6379/15"  # a database of its own, away from make up-celery's 0
POOL_SLOTS = {"folk_api": 1, "asana_api": 2}
DEADLINE = 180  # seconds for the runs, once every component is up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def metadata_url(warehouse_admin_url: str) -> Iterator[str]:
    name = unique_database_name("airflow")
    url = create_database(warehouse_admin_url, name)
    yield url.replace("postgresql://", "postgresql+psycopg2://", 1)
    drop_database(warehouse_admin_url, name)


@pytest.fixture
def redis_up() -> None:
    import redis

    try:
        redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379 (the Celery broker)")


def test_a_short_pipeline_runs_on_both_workers_within_the_pools(
    redis_up: None, metadata_url: str, warehouse_url: str, sandbox: Sandbox, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = CeleryStack(home=tmp_path / "airflow", metadata_url=metadata_url, broker_url=BROKER_URL,
                        api_port=free_port(), queue=f"passerelle-test-{os.getpid()}",
                        workers=(("worker1", 2), ("worker2", 2)), triggerer_log_port=free_port())
    env = {**os.environ, **stack.environment(), **connection_variables(sandbox, warehouse_url),
           "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PASSERELLE_STATE_DIR": str(tmp_path / "state"),
           "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}  # only the triggered runs, not the extracts' daily one
    clock = Clock()
    migrate_metadata(env)
    clock.lap("metadata migrated")
    with started(stack.stages(), tmp_path / "logs", env, timeout=150):
        clock.lap("components healthy")
        api = Api(stack.api_url, stack.home)
        api.wait_for_dags(TRIGGERED)
        clock.lap("DAGs parsed")
        runs = {dag_id: api.trigger(dag_id) for dag_id in TRIGGERED}
        instances = api.wait_for_runs(runs)
        clock.lap("runs finished")
    table = worker_table(instances)
    with capsys.disabled():
        print(f"\nCeleryExecutor, two workers ({clock}): task -> worker\n{table}")

    assert instances and all(ti["state"] == "success" for ti in instances), table
    node = socket.gethostname()
    assert {ti["hostname"] for ti in instances} == {f"worker1@{node}", f"worker2@{node}"}, table
    for pool, slots in POOL_SLOTS.items():
        assert max_overlap([ti for ti in instances if ti["pool"] == pool]) <= slots, f"{pool}\n{table}"


class Clock:
    def __init__(self) -> None:
        self.last, self.laps = time.monotonic(), []

    def lap(self, what: str) -> None:
        now = time.monotonic()
        self.laps.append(f"{what} in {now - self.last:.0f} s")
        self.last = now

    def __str__(self) -> str:
        return ", ".join(self.laps)


def connection_variables(sandbox: Sandbox, warehouse_url: str) -> dict[str, str]:
    connections = {**sandbox_connections(sandbox.vendors, sandbox.ca_path),
                   "passerelle_warehouse": warehouse_connection(warehouse_url)}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(value) for conn_id, value in connections.items()}


class Api:
    """Airflow's REST API as the admin user (the simple auth manager's generated password)."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        answer = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        answer.raise_for_status()
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        answer = self.http.get(f"{self.url}/api/v2/{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def wait_for_dags(self, dag_ids: tuple[str, ...], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not set(dag_ids) <= {dag["dag_id"] for dag in self.get("dags", limit=100)["dags"]}:
            assert time.monotonic() < deadline, "the DAG processor did not parse the DAGs in time"
            time.sleep(2)

    def trigger(self, dag_id: str) -> str:
        body = {"logical_date": datetime.now(timezone.utc).isoformat()}
        answer = self.http.post(f"{self.url}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()["dag_run_id"]

    def wait_for_runs(self, triggered: dict[str, str]) -> list[dict[str, Any]]:
        """Every run of the triggered DAGs (the scheduler's own included) finished: their task instances."""
        deadline = time.monotonic() + DEADLINE
        while True:
            runs = [(dag_id, run) for dag_id in triggered for run in self.get(f"dags/{dag_id}/dagRuns")["dag_runs"]]
            if all(run["state"] in ("success", "failed") for _, run in runs) or time.monotonic() > deadline:
                break
            time.sleep(3)
        return [ti for dag_id, run in runs
                for ti in self.get(f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]]


def worker_table(instances: list[dict[str, Any]]) -> str:
    rows = sorted(instances, key=lambda ti: (ti["dag_id"], ti["start_date"] or "", ti["task_id"]))
    lines = [f"{'DAG':<16} {'task':<28} {'pool':<13} {'state':<8} {'seconds':>7}  worker"]
    for ti in rows:
        seconds = f"{ti['duration']:.1f}" if ti["duration"] is not None else "-"
        lines.append(f"{ti['dag_id']:<16} {ti['task_id']:<28} {ti['pool']:<13} {ti['state'] or '-':<8} "
                     f"{seconds:>7}  {ti['hostname'] or '-'}")
    return "\n".join(lines)


def max_overlap(instances: list[dict[str, Any]]) -> int:
    """The most task instances running at one moment (from their start and end dates)."""
    events = sorted([(ti["start_date"], 1) for ti in instances] + [(ti["end_date"], -1) for ti in instances],
                    key=lambda event: (datetime.fromisoformat(event[0]), event[1]))
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak
