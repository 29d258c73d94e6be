"""The CeleryExecutor set-up of ``make up-celery`` runs a short pipeline on two workers.

The components start as ``make up-celery`` starts them (:class:`passerelle_dev.celery_stack.CeleryStack`),
on this machine's Redis and a throw-away metadata database on the test Postgres, provisioned as
``make up-celery`` provisions its own (:mod:`passerelle_dev.metadata_db`: a role of its own that owns only its
database); two real extract DAGs (against the sandbox) and a small fan-out DAG are triggered through the REST
API. Every task must succeed, both workers must have run some (task instances' ``hostname``), and the vendor
pools must still bound each source; no log holds the metadata database's password. The task → worker table is
printed whatever the outcome.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pytest
import requests
from psycopg2 import sql

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.warehouse.credentials import verifier_matches
from passerelle.warehouse.scratch import admin_connection, create_database, drop_database
from passerelle.warehouse.settings import connect, parse
from passerelle_dev.celery_stack import CeleryStack
from passerelle_dev.components import started
from passerelle_dev.devserver import migrate_metadata
from passerelle_dev.metadata_db import PASSWORD_FILE, MetadataDatabaseTaken, provision
from passerelle_sandbox.server import Sandbox
from tests.db import tuples
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


@dataclass(frozen=True)
class Provisioned:
    home: Path
    role: str
    database: str
    admin_url: str

    def __call__(self) -> str:
        return provision(self.home, self.admin_url, role=self.role, database=self.database)


@pytest.fixture
def admin(warehouse_admin_url: str) -> Iterator[psycopg2.extensions.connection]:
    conn = admin_connection(warehouse_admin_url)
    yield conn
    conn.close()


@pytest.fixture
def provisioned(warehouse_admin_url: str, admin: psycopg2.extensions.connection,
                tmp_path: Path) -> Iterator[Provisioned]:
    """``make up-celery``'s provisioning with a role and database of the test's own, both dropped afterwards."""
    name = unique_database_name("airflow")
    yield Provisioned(tmp_path / "airflow", name, name, warehouse_admin_url)
    drop_database(warehouse_admin_url, name)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_the_metadata_database_gets_a_role_of_its_own_that_owns_only_it(
        provisioned: Provisioned, admin: psycopg2.extensions.connection) -> None:
    url = provisioned()
    password_file = provisioned.home / PASSWORD_FILE
    password = password_file.read_text().strip()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600 and len(password) >= 32
    parts = parse(url)
    assert (parts.drivername, parts.username, parts.password, parts.database) == (
        "postgresql+psycopg2", provisioned.role, password, provisioned.database)

    [role] = tuples(admin, "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolpassword FROM pg_authid"
                           " WHERE rolname = %s", provisioned.role)
    assert role[:4] == (True, False, False, False) and verifier_matches(role[4], password)
    assert tuples(admin, "SELECT datname FROM pg_database WHERE datdba = %s::regrole",
                  provisioned.role) == [(provisioned.database,)]  # its database, and only it
    assert tuples(admin, "SELECT count(*) FROM pg_database d,"  # no right left to PUBLIC (grantee 0)
                         " aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a"
                         " WHERE d.datname = %s AND a.grantee = 0", provisioned.database) == [(0,)]

    conn = connect(url)  # the role connects, and may create Airflow's tables in its own database
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE probe (id int); SELECT current_user")
            assert cur.fetchone() == (provisioned.role,)
    finally:
        conn.rollback()
        conn.close()

    assert provisioned() == url  # a second start reuses the password, the role and the database as they are
    assert password_file.read_text().strip() == password
    assert tuples(admin, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", provisioned.role) == [(role[4],)]


def test_a_metadata_database_owned_by_another_role_is_refused(provisioned: Provisioned) -> None:
    create_database(provisioned.admin_url, provisioned.database)  # as make up-celery made it before it had a role
    with pytest.raises(MetadataDatabaseTaken, match=f"the database {provisioned.database} belongs to "):
        provisioned()


@pytest.fixture
def metadata_url(provisioned: Provisioned) -> str:
    return provisioned()


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

    password = parse(metadata_url).password
    assert [log for log in tmp_path.glob("**/*.log") if password in log.read_text(errors="replace")] == []

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
