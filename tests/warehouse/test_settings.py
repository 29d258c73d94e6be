"""Pointing clients at the warehouse: env override, masking, psycopg2, SQLAlchemy and Airflow's PostgresHook."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy import create_engine, pool, text

from passerelle.warehouse import settings
from passerelle.warehouse.__main__ import main, write_env_file
from passerelle.warehouse.scratch import database_url
from passerelle.warehouse.settings import airflow_conn_uri, connect, mask_url, sqlalchemy_url, warehouse_url


def test_warehouse_url_env_var_wins_and_starts_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://u:p@db.example:5433/wh")
    assert warehouse_url(tmp_path / "never") == "postgresql://u:p@db.example:5433/wh"
    assert not (tmp_path / "never").exists()


def test_mask_url_hides_password_only() -> None:
    masked = mask_url("postgresql://alice:s3cr%40t@db.example:5433/wh?sslmode=require")
    assert "s3cr" not in masked
    assert masked == "postgresql://alice:***@db.example:5433/wh?sslmode=require"
    assert mask_url("not a url") == "<unparseable warehouse URL>"


def test_connect_and_sqlalchemy_reach_the_database(warehouse_url: str) -> None:
    name = warehouse_url.rsplit("/", 1)[1]
    conn = connect(warehouse_url)
    try:
        assert not conn.autocommit
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == (name,)
    finally:
        conn.close()
    engine = create_engine(sqlalchemy_url(warehouse_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT current_database()")).scalar_one() == name
    engine.dispose()


def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ValueError, match="must be PostgreSQL"):
        connect("sqlite:///tmp/x.db")


@pytest.fixture
def odd_login(warehouse_admin_url: str) -> Iterator[tuple[str, str]]:
    """A role whose name and password need percent-encoding in a URI."""
    role = f"pw test+{uuid.uuid4().hex[:6]}@x"
    password = "p@ss:w/rd?#%é"
    admin = connect(database_url(warehouse_admin_url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            try:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role),
                                                                              sql.Literal(password)))
            except psycopg2.errors.InsufficientPrivilege:
                pytest.skip("test server user may not create roles")
        yield role, password
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    finally:
        admin.close()


def test_airflow_conn_uri_round_trips_through_airflow(odd_login: tuple[str, str]) -> None:
    from airflow.models.connection import Connection

    role, password = odd_login
    url = f"postgresql+psycopg2://{quote(role, safe='')}:{quote(password, safe='')}@127.0.0.1:5439/my_db?sslmode=disable"
    parsed = Connection(conn_id="x", uri=airflow_conn_uri(url))
    assert (parsed.conn_type, parsed.login, parsed.password, parsed.host, parsed.port, parsed.schema) == (
        "postgres", role, password, "127.0.0.1", 5439, "my_db")
    assert parsed.extra_dejson == {"sslmode": "disable"}


def test_postgres_hook_works_through_generated_conn_uri(
    warehouse_url: str, odd_login: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if "AIRFLOW_HOME" not in os.environ:
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    database = warehouse_url.rsplit("/", 1)[1]
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", airflow_conn_uri(warehouse_url))
    hook = PostgresHook(postgres_conn_id="passerelle_warehouse")
    assert tuple(hook.get_first("SELECT 1")) == (1,)
    assert tuple(hook.get_first("SELECT current_database(), count(*) FROM raw.records")) == (database, 0)

    # A login and password that need percent-encoding survive the trip too.
    role, password = odd_login
    as_role = settings.parse(warehouse_url).set(username=role, password=password).render_as_string(
        hide_password=False)
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", airflow_conn_uri(as_role))
    hook = PostgresHook(postgres_conn_id="passerelle_warehouse")
    assert tuple(hook.get_first("SELECT current_database(), current_user")) == (database, role)


@pytest.fixture
def quoted_password_url(warehouse_url: str, warehouse_admin_url: str) -> Iterator[str]:
    """``warehouse_url`` as a member of its user whose password holds a quote (servers check passwords)."""
    role = f"cli_test_{uuid.uuid4().hex[:8]}"
    owner = settings.parse(warehouse_url).username
    admin = connect(database_url(warehouse_admin_url, "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(role), sql.Literal("top'secret"), sql.Identifier(owner)))
    try:
        yield settings.parse(warehouse_url).set(username=role, password="top'secret").render_as_string(
            hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        admin.close()


def test_cli_up_writes_sourceable_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, quoted_password_url: str,
                                           capsys: pytest.CaptureFixture[str],
                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PASSERELLE_STATE_DIR", str(tmp_path))
    with_password = quoted_password_url
    monkeypatch.setenv("WAREHOUSE_URL", with_password)
    caplog.set_level(logging.INFO)
    assert main(["up"]) == 0
    out = capsys.readouterr().out
    assert "top" not in out and "***" in out
    assert "top'secret" not in caplog.text and "top%27secret" not in caplog.text

    env_file = tmp_path / "warehouse.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    sourced = subprocess.run(
        ["sh", "-c", f'set -a; . "{env_file}"; printf "%s\\n%s" "$WAREHOUSE_URL" "$AIRFLOW_CONN_PASSERELLE_WAREHOUSE"'],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert sourced == [with_password, airflow_conn_uri(with_password)]
    assert write_env_file(with_password, tmp_path / "again.env").read_text() == env_file.read_text()


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("make_url, problem", [
    (lambda port: f"postgresql://loader:Pa55-secret@127.0.0.1:{port}/passerelle", "host unreachable: connection refused"),
    (lambda port: "postgresql://loader:Pa55-secret@passerelle-no-such-host.invalid:5432/passerelle",
     "host name does not resolve"),
    (lambda port: "mysql://loader:Pa55-secret@127.0.0.1:3306/passerelle", "not a postgres URL"),
    (lambda port: "loader:Pa55-secret at 127.0.0.1", "not a database URL"),
    # On the test server itself (reachable, but refusing what the URL asks for):
    ("database", "the database does not exist"),
    ("role", "authentication refused"),  # "unknown user" on trust, "wrong password" on scram
], ids=["closed-port", "unknown-host", "bad-scheme", "not-a-url", "unknown-database", "unknown-role"])
def test_cli_up_with_a_bad_warehouse_url_prints_one_masked_line(
    make_url, problem: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    warehouse_server_url: str,
) -> None:
    if make_url == "database":
        url = settings.parse(warehouse_server_url).set(database="passerelle_no_such_database_x")
    elif make_url == "role":
        url = settings.parse(warehouse_server_url).set(username="passerelle_no_such_role_x", password="Pa55-secret")
    else:
        url = make_url(_closed_port())
    if not isinstance(url, str):
        url = url.render_as_string(hide_password=False)
    monkeypatch.setenv("PASSERELLE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_URL", url)
    assert main(["up"]) != 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and captured.out == "", captured.err
    assert lines[0].startswith("error: ") and problem in lines[0] and " — check " in lines[0]
    assert "WAREHOUSE_URL" in lines[0] and "Pa55-secret" not in lines[0]
    assert not (tmp_path / "warehouse.env").exists()


def test_cli_up_with_an_unreachable_warehouse_exits_without_a_traceback(tmp_path: Path) -> None:
    port = _closed_port()
    plugins = Path(__file__).resolve().parents[2] / "plugins"
    env = {**os.environ, "PASSERELLE_STATE_DIR": str(tmp_path), "PYTHONPATH": str(plugins),
           "WAREHOUSE_URL": f"postgresql://loader:Pa55-secret@127.0.0.1:{port}/passerelle"}
    done = subprocess.run([sys.executable, "-m", "passerelle.warehouse", "up"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"error: warehouse postgresql://loader:***@127.0.0.1:{port}/passerelle (WAREHOUSE_URL; Airflow Connection "
        f"'passerelle_warehouse'): host unreachable: connection refused (connection to server at \"127.0.0.1\", "
        f"port {port} failed: Connection refused Is the server running on that host and accepting TCP/IP "
        f"connections?) — check that Postgres is running and the host and port in WAREHOUSE_URL"]


# --- One resolution: WAREHOUSE_URL, else the Airflow Connection (with its extras), else the embedded server.

EXTRAS = {"options": "-c statement_timeout=12345", "application_name": "passerelle-test", "sslmode": "disable"}


def _connection_json(url: str, **changes: object) -> str:
    import json

    from passerelle.orchestration.airflow_env import warehouse_connection

    connection = warehouse_connection(url)
    connection["extra"] = {**connection.get("extra", {}), **EXTRAS}
    connection.update(changes)
    return json.dumps(connection)


def _session(conn: psycopg2.extensions.connection) -> tuple[str, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('statement_timeout'), current_setting('application_name')")
        row = cur.fetchone()
    conn.rollback()
    return row


def test_the_airflow_connection_and_its_extras_are_used_when_warehouse_url_is_unset(
    warehouse_url: str, odd_login: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    role, password = odd_login
    as_role = settings.parse(warehouse_url).set(username=role, password=password).render_as_string(
        hide_password=False)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", _connection_json(as_role))
    caplog.set_level(logging.INFO)
    resolved = settings.resolve_warehouse(tmp_path / "never")
    assert resolved.origin == "Airflow Connection 'passerelle_warehouse'"
    assert not (tmp_path / "never").exists()  # no embedded server started
    assert password not in caplog.text and quote(password, safe="") not in caplog.text and "***" in caplog.text
    conn = connect(resolved.url)
    try:
        assert _session(conn) == ("12345ms", "passerelle-test")
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database()")
            assert cur.fetchone() == (role, warehouse_url.rsplit("/", 1)[1])
    finally:
        conn.close()

    # WAREHOUSE_URL, the shortcut, wins over the Connection
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    assert settings.resolve_warehouse(tmp_path / "never") == settings.Warehouse(warehouse_url, "WAREHOUSE_URL")


def test_connection_extras_reach_libpq_as_postgres_hook_hands_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    extra = {**EXTRAS, "sslrootcert": "/etc/ssl/ca.pem", "connect_timeout": 7, "keepalives_idle": 30,
             "cursor": "dictcursor", "sqlalchemy_scheme": "postgresql+psycopg2"}
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", _connection_json(
        "postgresql://u:p@db.example:5433/wh", host="db.example", port=5433, login="ana lyst", password="p@ss w%rd",
        schema="wh", extra=extra))
    handed: dict[str, object] = {}
    monkeypatch.setattr(PostgresHook, "_create_connection", lambda self, args: handed.update(args))
    PostgresHook(postgres_conn_id="passerelle_warehouse").get_conn()
    handed.pop("cursor_factory", None)
    handed.pop("row_factory", None)
    url = settings.airflow_connection_url()
    assert settings.connect_kwargs(url) == {key: value if key == "port" else str(value)
                                            for key, value in handed.items()}
    assert "p@ss" not in mask_url(url)


@pytest.mark.parametrize("changes, problem", [
    ({"conn_type": "mysql"}, "must be a Postgres connection"),
    ({"extra": {"iam": True, "aws_conn_id": "aws_default"}}, "iam (token authentication) is not supported"),
    ({"extra": {"options": ["-c", "x=1"]}}, "extra 'options' must be a string or a number"),
], ids=["not-postgres", "iam", "list-extra"])
def test_connections_passerelle_cannot_honour_are_refused(changes: dict, problem: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", _connection_json("postgresql://u:p@h:5432/d", **changes))
    with pytest.raises(ValueError, match=re.escape(problem)):
        settings.resolve_warehouse()


def test_inside_a_task_without_any_configuration_nothing_is_started(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", raising=False)
    with pytest.raises(settings.WarehouseNotConfigured,
                       match="Airflow Connection 'passerelle_warehouse'.*WAREHOUSE_URL"):
        settings.resolve_warehouse(tmp_path / "never", in_airflow_task=True)
    assert not (tmp_path / "never").exists()


class _Kept(logging.Handler):
    """Keeps the records of the logger it is added to (whatever handlers earlier DAG runs left on it)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_an_unreachable_connection_is_waited_for_then_fails_a_task_with_one_masked_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from passerelle.warehouse import task_connection
    from passerelle.warehouse.connection_errors import WarehouseUnreachable

    port = _closed_port()
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", _connection_json(
        f"postgresql://loader:Pa55-secret@127.0.0.1:{port}/passerelle"))
    monkeypatch.setattr(task_connection, "WAIT_SECONDS", 3.0)
    # The task log the waits are written to, kept here: where Airflow sends its task log depends on the
    # logging set-up earlier DAG runs in this process left behind.
    kept, task_log = _Kept(), logging.Logger("airflow.task", logging.INFO)
    task_log.addHandler(kept)
    monkeypatch.setattr(task_connection, "log", task_log)
    started = time.monotonic()
    with pytest.raises(WarehouseUnreachable) as failure:
        task_connection.connect_warehouse()
    assert 3.0 <= time.monotonic() - started < 10
    waits = [line for line in kept.lines if "waiting for the warehouse" in line]
    assert len(waits) == 2 and "waiting for the warehouse (attempt 1, next in 2s): warehouse " in waits[0]
    assert all("Pa55-secret" not in line and "connection refused" in line for line in waits)
    message = str(failure.value)
    assert "\n" not in message and "Pa55-secret" not in message
    assert message.startswith(f"warehouse postgresql://loader:***@127.0.0.1:{port}/passerelle?")
    assert "(Airflow Connection 'passerelle_warehouse'): host unreachable: connection refused" in message
    assert message.endswith("— check that Postgres is running and the host and port in the Airflow Connection "
                            "'passerelle_warehouse'")


def test_a_missing_database_is_not_waited_for(monkeypatch: pytest.MonkeyPatch, warehouse_admin_url: str) -> None:
    from passerelle.warehouse import task_connection
    from passerelle.warehouse.connection_errors import WarehouseUnreachable

    missing = database_url(warehouse_admin_url, f"never_{uuid.uuid4().hex[:8]}")
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", _connection_json(missing))
    kept, task_log = _Kept(), logging.Logger("airflow.task", logging.INFO)
    task_log.addHandler(kept)
    monkeypatch.setattr(task_connection, "log", task_log)
    started = time.monotonic()
    with pytest.raises(WarehouseUnreachable, match="the database does not exist") as failure:
        task_connection.connect_warehouse()
    assert time.monotonic() - started < 2 and kept.lines == []
    assert not isinstance(failure.value, task_connection.WarehouseNotUpYet)


def test_connections_get_timeouts_and_keepalives_unless_told_otherwise(warehouse_url: str) -> None:
    conn = connect(warehouse_url)
    try:
        params = conn.info.dsn_parameters
        assert (params["connect_timeout"], params["keepalives"], params["keepalives_idle"]) == ("10", "1", "60")
        assert params["application_name"] == "passerelle"
    finally:
        conn.close()
    told = f"{warehouse_url}{'&' if '?' in warehouse_url else '?'}connect_timeout=3&keepalives_idle=15"
    conn = connect(told)
    try:
        assert (conn.info.dsn_parameters["connect_timeout"], conn.info.dsn_parameters["keepalives_idle"]) == ("3", "15")
    finally:
        conn.close()


def test_generated_connection_keeps_the_url_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from passerelle.orchestration.airflow_env import warehouse_connection

    url = "postgresql://u:s%40cret@db.example:5433/wh?sslmode=verify-full&sslrootcert=%2Fca.pem&application_name=bi"
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", json.dumps(warehouse_connection(url)))
    assert settings.connect_kwargs(settings.airflow_connection_url()) == settings.connect_kwargs(url)
    socket = "postgresql://u@/wh?host=%2Fvar%2Frun%2Fpostgresql"
    assert warehouse_connection(socket)["host"] == "/var/run/postgresql"
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", json.dumps(warehouse_connection(socket)))
    assert settings.connect_kwargs(settings.airflow_connection_url())["host"] == "/var/run/postgresql"


def test_cli_up_names_the_airflow_connection_it_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    monkeypatch.setenv("PASSERELLE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", _connection_json(
        f"postgresql://loader:Pa55-secret@127.0.0.1:{port}/passerelle"))
    assert main(["up"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: warehouse postgresql://loader:***@127.0.0.1:{port}/passerelle?")
    assert "(Airflow Connection 'passerelle_warehouse'): host unreachable" in line and "Pa55-secret" not in line
    assert not (tmp_path / "warehouse").exists()  # the embedded server was not started instead


@pytest.mark.parametrize("configured, origin", [
    ("AIRFLOW_CONN_PASSERELLE_WAREHOUSE", "Airflow Connection 'passerelle_warehouse'"),
    ("WAREHOUSE_URL", "WAREHOUSE_URL"),
])
def test_cli_url_of_a_role_is_refused_for_the_warehouse_the_pipelines_use_when_not_embedded(
        configured: str, origin: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://loader:Pa55-secret@db.example:5433/passerelle"
    monkeypatch.setenv("PASSERELLE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv(configured, _connection_json(url) if configured.startswith("AIRFLOW_CONN_") else url)
    assert main(["--data-dir", str(tmp_path / "never"), "url", "--role", "passerelle_bi"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"--role applies to the embedded warehouse only; this warehouse comes from {origin}"
    assert "passerelle_bi" not in captured.out and "Pa55-secret" not in captured.out
    assert not (tmp_path / "never").exists()  # no embedded server started, no embedded login printed
    assert main(["--data-dir", str(tmp_path / "never"), "url"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("postgresql://loader:***@db.example:5433/passerelle")
