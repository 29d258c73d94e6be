"""``make up``: the project's Airflow with the sandbox and the warehouse, started in order.

The warehouse (migrated) and the sandbox (listening) come first; then the API server, and only once
``/api/v2/monitor/health`` answers do the DAG processor, scheduler and triggerer start, so no task is
ever queued before the Execution API that runs it is up. Once they all report healthy, the project's
DAGs are unpaused. Airflow's default time zone, and the UI's, is Europe/Paris. Each component logs to
``$AIRFLOW_HOME/logs/<component>.log``; the admin password is printed once it exists. Ctrl-C stops all.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from passerelle.orchestration.airflow_env import (
    configure_airflow,
    export_connections,
    sandbox_connections,
    warehouse_connection,
)
from passerelle.paths import PROJECT_ROOT
from passerelle_dev.airflow_api import SCHEDULING, AirflowApi, admin_password, base_url, healthy, wait_for
from passerelle_dev.components import Component, ComponentFailed, Stage, started, watch
from passerelle_dev.stop import DEV_SERVER_PID

if TYPE_CHECKING:
    from passerelle_sandbox.server import Sandbox

AIRFLOW = [sys.executable, "-m", "airflow"]
TIMEZONE = "Europe/Paris"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
STARTUP_TIMEOUT = 300.0


def local_settings() -> None:
    """The environment every component shares (a deployment's own values win)."""
    # The components run as `airflow ...`: the venv's bin must be on PATH.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    os.environ.setdefault("AIRFLOW__API__PORT", "8080")
    os.environ.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"{base_url()}/execution/")
    os.environ.setdefault("AIRFLOW__CORE__DEFAULT_TIMEZONE", TIMEZONE)
    os.environ.setdefault("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE_AUTH_MANAGER)
    os.environ.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")


def main() -> int:
    home = configure_airflow()
    local_settings()
    if port_in_use(base_url()):
        print(f"{base_url()} is already in use (another make up?): stop it, or set AIRFLOW__API__PORT", file=sys.stderr)
        return 1
    pid_file = home / DEV_SERVER_PID  # how make clean finds what to stop
    pid_file.write_text(f"{os.getpid()}\n")
    sandbox = start_dependencies()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT is ignored
    try:
        with started(stages(base_url()), home / "logs", timeout=STARTUP_TIMEOUT) as running:
            password = wait_for("the admin password", lambda: admin_password(home), STARTUP_TIMEOUT)
            unpaused = AirflowApi(base_url(), password).unpause_all()
            if unpaused:
                print(f"unpaused: {', '.join(unpaused)}", flush=True)
            print_access(home, sandbox, password)
            return watch(running)
    except KeyboardInterrupt:
        return 0
    except ComponentFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    finally:
        sandbox.stop()
        pid_file.unlink(missing_ok=True)


def stages(api: str) -> list[Stage]:
    """The API server first, healthy before anything can queue a task on its Execution API; then the rest."""
    scheduling = [Component(name, [*AIRFLOW, name]) for name in ("dag-processor", "scheduler", "triggerer")]
    return [api_server_stage(api),
            Stage("the DAG processor, scheduler and triggerer to report healthy", scheduling,
                  lambda: healthy(api, SCHEDULING))]


def api_server_stage(api: str) -> Stage:
    """``airflow api-server``, ready once its health endpoint answers with a healthy metadata database."""
    return Stage(f"the API server ({api}/api/v2/monitor/health)", [Component("api-server", [*AIRFLOW, "api-server"])],
                 lambda: healthy(api))


def start_dependencies() -> Sandbox:
    """What every local Airflow needs before it starts, with Connections exported to this process's environment:
    the warehouse (migrated), the sandbox (listening), the example seller, and Airflow's metadata database
    migrated with the pools imported."""
    from passerelle_sandbox.server import start_sandbox
    from passerelle.warehouse.migrate import migrate
    from passerelle.warehouse.settings import warehouse_url

    url = warehouse_url()
    migrate(url)  # connects: the warehouse is up and at the latest schema
    print("warehouse: ready", flush=True)
    sandbox = start_sandbox()  # returns once every emulator listens
    print(f"sandbox: {len(sandbox.vendors)} vendor emulators listening", flush=True)
    export_connections(sandbox_connections(sandbox.vendors, sandbox.ca_path))
    export_connections({"passerelle_warehouse": warehouse_connection(url)})
    from passerelle_dev.examples import use_example_configuration

    use_example_configuration()  # the invoicing and compliance DAGs need a seller; set PASSERELLE_SELLER_FILE for yours
    migrate_metadata()
    return sandbox


def migrate_metadata(env: Mapping[str, str] | None = None) -> None:
    """Airflow's metadata database migrated and the vendor pools (pools.json) imported into it."""
    subprocess.run([*AIRFLOW, "db", "migrate"], check=True, stdout=subprocess.DEVNULL, env=env)
    subprocess.run([*AIRFLOW, "pools", "import", str(PROJECT_ROOT / "pools.json")], check=True,
                   stdout=subprocess.DEVNULL, env=env)


def port_in_use(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def print_access(home: Path, sandbox: Sandbox, password: str | None = None) -> None:
    """How to reach the UI and the sandbox (the admin password waited for when not given)."""
    if password is None:
        password = wait_for("the admin password", lambda: admin_password(home), STARTUP_TIMEOUT)
    print("\n" + "=" * 72)
    print(f"Airflow UI: http://localhost:{os.environ['AIRFLOW__API__PORT']}  user: admin  password: {password}")
    print(f"Times in {os.environ['AIRFLOW__CORE__DEFAULT_TIMEZONE']} (the UI's user menu picks another zone)."
          " The project's DAGs are active.")
    for name, vendor in sandbox.vendors.items():
        print(f"sandbox {name}: {vendor.base_url}")
    print(f"component logs: {home / 'logs'}")
    print("Ctrl-C stops Airflow and the sandbox (the warehouse keeps running: make clean stops it).")
    print("=" * 72 + "\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
