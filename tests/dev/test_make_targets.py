"""``make compose-check`` says what is missing; ``make clean`` stops what the commands started first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from passerelle.paths import PROJECT_ROOT
from passerelle.warehouse.embedded import EmbeddedWarehouse
from passerelle_dev.stop import stop_dev_server


def test_compose_check_without_the_compose_client_says_what_is_missing(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: neither docker nor docker-compose
    done = subprocess.run([make, "-s", "compose-check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "needs the Docker Compose client, which is not installed" in done.stdout
    assert "https://docs.docker.com/compose/install/" in done.stdout
    assert "docker-compose.yml is valid" not in done.stdout


def test_clean_stops_every_embedded_postgres_under_the_state_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    servers = [EmbeddedWarehouse(state / "warehouse"), EmbeddedWarehouse(state / "test-warehouse")]
    try:
        for server in servers:
            server.start()
        assert all(server.is_running() for server in servers)
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PASSERELLE_"))}
        env.update({"PASSERELLE_STATE_DIR": str(state), "AIRFLOW_HOME": str(tmp_path / "airflow")})
        done = subprocess.run([sys.executable, "-m", "passerelle_dev.stop"], cwd=PROJECT_ROOT / "plugins", env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert [server.is_running() for server in servers] == [False, False]
        assert done.stdout.count("stopping the embedded Postgres in") == 2
    finally:
        for server in servers:
            server.stop()


def test_a_pid_file_naming_another_process_stops_nothing(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "devserver.pid").write_text(f"{other.pid}\n")
        assert stop_dev_server(tmp_path) is False
        assert other.poll() is None
        assert not (tmp_path / "devserver.pid").exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("content", ["", "not a pid", "999999999"])
def test_a_missing_or_stale_pid_file_is_cleared(tmp_path: Path, content: str) -> None:
    (tmp_path / "devserver.pid").write_text(content)
    assert stop_dev_server(tmp_path) is False
    assert not (tmp_path / "devserver.pid").exists()
