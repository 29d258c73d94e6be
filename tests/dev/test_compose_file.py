"""docker-compose.yml's structure (no Docker engine here), the .env that feeds it, and the sandbox certificate
the containers verify: CeleryExecutor on Redis and Postgres, two workers, health checks and start-up
conditions, every source's Connection, the seller's file and ``output/`` mounted, secrets never defaulted."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from passerelle.connectors.registry import SOURCES
from passerelle_dev.compose_env import COMPOSE_PORTS, SANDBOX_CA, SECRETS, compose_env
from passerelle_sandbox.server import VENDOR_FACTORIES, start_sandbox

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")
VOLUME = re.compile(r"(?P<source>\$\{[^}]*\}|[^:]+):(?P<target>[^:]+)(:ro)?")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose["services"].items() if service.get("command") == "celery worker"}


def test_celery_executor_on_redis_and_postgres_with_two_workers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "warehouse", "sandbox", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    running = workers(compose)
    assert sum(service.get("deploy", {}).get("replicas", 1) for service in running.values()) >= 2
    assert len({service.get("hostname") for service in running.values()}) == len(running)  # told apart in task instances
    for name in (*AIRFLOW_SERVICES, *running, "airflow-init"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_secrets_come_from_the_generated_env_file_without_defaults(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    for variable in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        assert REQUIRED.fullmatch(env[variable]), f"{variable} must be required from .env, not defaulted"
    text = (ROOT / "docker-compose.yml").read_text()
    assert set(REQUIRED.findall(text)) - {f"AIRFLOW_CONN_{c}" for c in _connection_ids()} <= set(SECRETS)
    assert "/.env" in (ROOT / ".gitignore").read_text().split()


def test_every_long_running_service_is_health_checked_and_waited_for(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        if name != "airflow-init":
            assert service["healthcheck"]["test"], name
        for needed, rule in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            if needed == "airflow-init":
                assert rule["condition"] == "service_completed_successfully", name
            else:
                assert rule["condition"] == "service_healthy" and services[needed]["healthcheck"], (name, needed)
    for name in (*AIRFLOW_SERVICES, *workers(compose), "sandbox"):
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
    for name in workers(compose):
        assert {"airflow-apiserver", "sandbox", "redis"} <= set(services[name]["depends_on"]), name


def test_every_source_has_its_connection_and_every_emulator_is_published(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    for conn_id in _connection_ids():
        assert env[f"AIRFLOW_CONN_{conn_id}"] == f"${{AIRFLOW_CONN_{conn_id}:?run make compose-env}}"
    assert env["AIRFLOW_CONN_PASSERELLE_WAREHOUSE"].startswith("postgresql://passerelle:")
    sandbox = compose["services"]["sandbox"]
    assert "--public-host=sandbox" in sandbox["entrypoint"]
    served = {arg.split("=", 2)[1]: int(arg.split("=", 2)[2]) for arg in sandbox["entrypoint"] if arg.startswith("--port=")}
    assert served == COMPOSE_PORTS and set(served) == set(VENDOR_FACTORIES)
    assert sorted(sandbox["ports"]) == sorted(f"127.0.0.1:{port}:{port}" for port in COMPOSE_PORTS.values())


def test_the_seller_file_output_and_shared_state_are_mounted(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    mounts = [VOLUME.fullmatch(volume) for volume in common["volumes"]]
    targets = {mount["target"]: mount["source"] for mount in mounts if mount}
    env = common["environment"]
    assert targets[env["PASSERELLE_SELLER_FILE"]].startswith("${SELLER_FILE:-./")
    assert targets[env["PASSERELLE_OUTPUT_DIR"]] == "./output"
    assert targets[env["PASSERELLE_STATE_DIR"]] == "sandbox-state"
    assert SANDBOX_CA.startswith(env["PASSERELLE_STATE_DIR"] + "/")
    assert (ROOT / targets[env["PASSERELLE_SELLER_FILE"]].removeprefix("${SELLER_FILE:-").rstrip("}")).exists()


def test_the_env_file_is_private_keeps_its_secrets_and_points_sources_at_the_sandbox(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    first = compose_env(path, uid=1234)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    real = '{"conn_type": "http", "host": "https://api.hubapi.com", "password": "pat-real"}'
    path.write_text(path.read_text().replace(
        next(line for line in path.read_text().splitlines() if line.startswith("AIRFLOW_CONN_PASSERELLE_HUBSPOT=")),
        f"AIRFLOW_CONN_PASSERELLE_HUBSPOT='{real}'"))
    second = compose_env(path, uid=1234)
    assert second["AIRFLOW_CONN_PASSERELLE_HUBSPOT"] == real  # a real vendor's Connection is kept
    del second["AIRFLOW_CONN_PASSERELLE_HUBSPOT"]
    assert all(first[name] == second[name] for name in SECRETS)  # a new Fernet key would lose every secret
    assert {f"AIRFLOW_CONN_{c}" for c in _connection_ids()} - {"AIRFLOW_CONN_PASSERELLE_HUBSPOT"} <= set(second)
    for conn_id in set(_connection_ids()) - {"PASSERELLE_HUBSPOT"}:
        conn = json.loads(second[f"AIRFLOW_CONN_{conn_id}"])
        assert conn["host"].startswith("https://sandbox:84") and conn["extra"]["ca_bundle"] == SANDBOX_CA


def test_the_sandbox_certificate_is_valid_for_the_service_name(tmp_path: Path) -> None:
    with start_sandbox(state_dir=tmp_path, vendors={"folk": VENDOR_FACTORIES["folk"]}, public_host="sandbox") as sandbox:
        endpoint = sandbox.vendors["folk"]
        assert endpoint.base_url.startswith("https://sandbox:")
        port = int(endpoint.base_url.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=str(sandbox.ca_path))
        for name in ("sandbox", "localhost"):
            with socket.create_connection(("127.0.0.1", port), 5) as raw, \
                    context.wrap_socket(raw, server_hostname=name) as tls:
                assert tls.version()
        with socket.create_connection(("127.0.0.1", port), 5) as raw, pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="elsewhere")


def _connection_ids() -> list[str]:
    ids = {source.conn_id.upper() for source in SOURCES.values()}
    return sorted(ids)


def test_the_sandbox_service_command_serves_every_emulator_under_the_service_name(
        compose: dict[str, Any], tmp_path: Path) -> None:
    """The service's own arguments (free ports and a temporary state directory swapped in) start the sandbox."""
    import subprocess
    import sys

    ports = {}
    argv = []
    for arg in compose["services"]["sandbox"]["entrypoint"]:
        if arg.startswith("--port="):
            vendor = arg.split("=")[1]
            ports[vendor] = _free_port()
            arg = f"--port={vendor}={ports[vendor]}"
        elif arg.startswith("--state-dir="):
            arg = f"--state-dir={tmp_path}"
        elif arg == "--host=0.0.0.0":
            arg = "--host=127.0.0.1"
        argv.append(arg)
    assert argv[:3] == ["python", "-m", "passerelle_sandbox"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    process = subprocess.Popen([sys.executable, *argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env)
    banner: list[str] = []
    try:
        while sum("_BASE_URL=" in line for line in banner) < len(ports) and (line := process.stdout.readline()):
            banner.append(line)  # the banner ends with the last vendor's lines; EOF if the sandbox died
    finally:
        process.terminate()
        process.wait(30)
    urls = dict(re.findall(r"^export (\w+)_BASE_URL=(\S+)$", "".join(banner), re.M))
    assert urls == {vendor.upper(): f"https://sandbox:{port}" for vendor, port in ports.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
