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
import time
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
    components: dict[str, subprocess.Popen] = {}
    try:
        api = base_url()
        components["api-server"] = start_component(home, "api-server")
        wait_for(f"the API server ({api}/api/v2/monitor/health)", lambda: alive(components) and healthy(api) or None,
                 STARTUP_TIMEOUT)
        for name in ("dag-processor", "scheduler", "triggerer"):
            components[name] = start_component(home, name)
        wait_for("the DAG processor, scheduler and triggerer to report healthy",
                 lambda: alive(components) and healthy(api, SCHEDULING) or None, STARTUP_TIMEOUT)
        password = wait_for("the admin password", lambda: admin_password(home), STARTUP_TIMEOUT)
        unpaused = AirflowApi(api, password).unpause_all()
        if unpaused:
            print(f"unpaused: {', '.join(unpaused)}", flush=True)
        print_access(home, sandbox, password)
        return wait_any(components)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_tree(*(process.pid for process in components.values()))
        sandbox.stop()
        pid_file.unlink(missing_ok=True)


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


def start_component(home: Path, name: str) -> subprocess.Popen:
    """``airflow <name>`` in its own session, logging to ``<home>/logs/<name>.log``."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        process = subprocess.Popen([*AIRFLOW, name], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    print(f"{name}: started (log: {logs / f'{name}.log'})", flush=True)
    return process


def port_in_use(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname, parts.port)) == 0


def alive(components: dict[str, subprocess.Popen]) -> bool:
    """True while every component runs; a component that exited during start-up stops it with its log named."""
    for name, process in components.items():
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode} while starting: see its log")
    return True


def wait_any(components: dict[str, subprocess.Popen]) -> int:
    """Block until a component exits; its exit status (the others are then stopped by the caller)."""
    while True:
        for name, process in components.items():
            if process.poll() is not None:
                print(f"{name} exited with status {process.returncode}: see its log", flush=True)
                return process.returncode or 1
        time.sleep(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_tree(*pids: int, timeout: float = 60) -> None:
    """Stop components and every process they started (not all stay in their process group), together."""
    import psutil

    processes = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            processes += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        process.kill()


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
