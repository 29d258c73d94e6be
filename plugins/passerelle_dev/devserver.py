"""``make up``: Airflow standalone with the project's DAGs, the sandbox and the warehouse.

Starts (or reuses) the warehouse, starts the sandbox in this process, exports the Airflow
connections as environment variables, imports the pools, and runs ``airflow standalone`` until
Ctrl-C. The admin password Airflow generates is printed once it exists.
"""

from __future__ import annotations

import json
import os
import signal
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

if TYPE_CHECKING:
    from passerelle_sandbox.server import Sandbox

AIRFLOW = [sys.executable, "-m", "airflow"]


def main() -> int:
    home = configure_airflow()
    # standalone starts its components as `airflow ...`: the venv's bin must be on PATH.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    os.environ.setdefault("AIRFLOW__API__PORT", "8080")
    sandbox = start_dependencies()
    standalone = subprocess.Popen([*AIRFLOW, "standalone"], start_new_session=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT is ignored
    try:
        print_access(home, sandbox)
        return standalone.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_tree(standalone.pid)
        sandbox.stop()


def start_dependencies() -> Sandbox:
    """What every local Airflow needs before it starts, with Connections exported to this process's environment.

    The warehouse (migrated), the sandbox, the example seller, and Airflow's metadata database migrated with
    the pools imported.
    """
    from passerelle_sandbox.server import start_sandbox
    from passerelle.warehouse.migrate import migrate
    from passerelle.warehouse.settings import warehouse_url

    url = warehouse_url()
    migrate(url)
    sandbox = start_sandbox()
    export_connections(sandbox_connections(sandbox.vendors, sandbox.ca_path))
    export_connections({"passerelle_warehouse": warehouse_connection(url)})
    from passerelle_dev.examples import use_example_configuration

    use_example_configuration()  # the invoicing and compliance DAGs need a seller; set PASSERELLE_SELLER_FILE for yours
    migrate_metadata()
    return sandbox


def migrate_metadata(env: Mapping[str, str] | None = None) -> None:
    """Airflow's metadata database migrated and the vendor pools (pools.json) imported into it."""
    subprocess.run([*AIRFLOW, "db", "migrate"], check=True, stdout=subprocess.DEVNULL, env=env)
    subprocess.run([*AIRFLOW, "pools", "import", str(PROJECT_ROOT / "pools.json")], check=True, env=env)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop_tree(pid: int, timeout: float = 30) -> None:
    """Stop standalone and every component it started (they do not all stay in its process group)."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    processes = [root, *root.children(recursive=True)]
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        process.kill()


def print_access(home: Path, sandbox) -> None:
    passwords = home / "simple_auth_manager_passwords.json.generated"
    for _ in range(240):
        if passwords.exists():
            break
        time.sleep(0.5)
    password = json.loads(passwords.read_text()).get("admin") if passwords.exists() else "(see the standalone log)"
    print("\n" + "=" * 72)
    print(f"Airflow UI: http://localhost:{os.environ['AIRFLOW__API__PORT']}  user: admin  password: {password}")
    for name, vendor in sandbox.vendors.items():
        print(f"sandbox {name}: {vendor.base_url}")
    print("Ctrl-C stops Airflow and the sandbox (the warehouse keeps running: make clean stops it).")
    print("=" * 72 + "\n", flush=True)


if __name__ == "__main__":
    sys.exit(main())
