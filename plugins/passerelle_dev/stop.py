"""Stop what the developer commands left running, before ``make clean`` deletes their folders.

That is the ``make up`` dev server of ``AIRFLOW_HOME`` (its pid file names it; it stops its Airflow
components and the sandbox itself) and every embedded Postgres under the state folder (the warehouse of
``make up``/``make demo``, the tests' ``test-warehouse``): deleting a data folder under a running server
leaves it serving from deleted files.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEV_SERVER_PID = "devserver.pid"
DEV_SERVER_MODULE = "passerelle_dev.devserver"


def stop_dev_server(home: Path, timeout: float = 120) -> bool:
    """Stop the dev server recorded in ``<home>/devserver.pid``; True if one was running."""
    import psutil

    pid_file = home / DEV_SERVER_PID
    try:
        process = psutil.Process(int(pid_file.read_text().strip()))
        running = DEV_SERVER_MODULE in " ".join(process.cmdline())  # not a later process given the same pid
    except (OSError, ValueError, psutil.Error):
        running = False
    if running:
        print(f"stopping the dev server (pid {process.pid}) and its Airflow components", flush=True)
        process.terminate()
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()
    pid_file.unlink(missing_ok=True)
    return running


def stop_embedded_servers(state: Path) -> list[Path]:
    """Stop every embedded Postgres whose data folder lies under ``state``; the folders stopped."""
    from passerelle.warehouse.embedded import EmbeddedWarehouse

    stopped = []
    for pgdata in sorted(state.glob("**/pgdata")):
        server = EmbeddedWarehouse(pgdata.parent)
        if server.is_running():
            print(f"stopping the embedded Postgres in {pgdata.parent}", flush=True)
            server.stop()
            stopped.append(pgdata.parent)
    return stopped


def main() -> int:
    from passerelle.orchestration.airflow_env import local_airflow_home
    from passerelle.settings import settings

    stop_dev_server(local_airflow_home())
    state = settings().state_dir
    if state.exists():
        stop_embedded_servers(state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
