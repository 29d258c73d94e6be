"""The embedded warehouse lets no one in without a password, and pipelines' role holds no admin power.

Probed as another local user would: over TCP and over the Unix socket, without a password and with a
wrong one, then as each role. A cluster made the old way (``initdb --auth=trust``) is secured in place.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from alembic import command
from sqlalchemy import create_engine, pool, text

from passerelle.warehouse.embedded import HOST, SUPERUSER, EmbeddedWarehouse, _free_port
from passerelle.warehouse.migrate import alembic_config, current_revision, head_revision, migrate
from passerelle.warehouse.roles import BI, LOADER, PROJECTS
from passerelle.warehouse.settings import sqlalchemy_url

ROLES = (SUPERUSER, LOADER, BI, PROJECTS)


@pytest.fixture(scope="module")
def secured() -> Iterator[EmbeddedWarehouse]:
    """A fresh embedded warehouse, migrated as the loader (outside pytest's tmp: see test_embedded)."""
    parent = Path(tempfile.mkdtemp(prefix="passerelle-wh-sec-"))
    server = EmbeddedWarehouse(parent / "warehouse")
    try:
        migrate(server.start())
        yield server
    finally:
        server.stop()
        shutil.rmtree(parent, ignore_errors=True)


def connect_as(server: EmbeddedWarehouse, role: str, *, password: str | None = "stored", socket: bool = False,
               dbname: str = "passerelle") -> psycopg2.extensions.connection:
    kwargs = {"host": str(server.socket_dir) if socket else HOST, "port": server.port, "user": role,
              "dbname": dbname, "connect_timeout": 5}
    if password == "stored":
        kwargs["password"] = server.passwords()[role]
    elif password is not None:
        kwargs["password"] = password
    return psycopg2.connect(**kwargs)


def run(conn: psycopg2.extensions.connection, statement: str) -> list[tuple]:
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.rollback()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pg_hba_asks_a_scram_password_on_every_line(secured: EmbeddedWarehouse) -> None:
    lines = [line.split() for line in secured.hba_file.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines and all(line[-1] == "scram-sha-256" for line in lines)
    assert "trust" not in secured.hba_file.read_text()


def test_files_are_private(secured: EmbeddedWarehouse) -> None:
    assert mode(secured.credentials_file) == 0o600
    assert mode(secured.pgdata) == 0o700
    assert mode(secured.socket_dir) == 0o700
    assert mode(secured.log_file) == 0o600
    assert sorted(secured.passwords()) == sorted(ROLES)


@pytest.mark.parametrize("socket", [False, True], ids=["tcp", "socket"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("password", [None, "wrong-password"], ids=["no-password", "wrong-password"])
def test_no_or_wrong_password_is_refused(secured: EmbeddedWarehouse, role: str, socket: bool,
                                         password: str | None) -> None:
    with pytest.raises(psycopg2.OperationalError, match="password"):
        connect_as(secured, role, password=password, socket=socket)
    connect_as(secured, role, socket=socket).close()  # the stored password works on the same path


def test_passwords_never_reach_the_server_in_clear(secured: EmbeddedWarehouse) -> None:
    conn = connect_as(secured, SUPERUSER)
    stored = dict(run(conn, "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)" % (
        "ARRAY['" + "','".join(ROLES) + "']")))
    conn.close()
    log = secured.log_file.read_text()
    for role, password in secured.passwords().items():
        assert stored[role].startswith("SCRAM-SHA-256$") and password not in stored[role]
        assert password not in log


def test_loader_owns_the_data_but_has_no_admin_power(secured: EmbeddedWarehouse) -> None:
    conn = connect_as(secured, LOADER)
    assert run(conn, "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = current_user") == [
        (False, False, False)]
    owners = run(conn, "SELECT DISTINCT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN "
                       "('raw', 'staging', 'marts', 'quality', 'reference', 'audit', 'billing', 'projects')")
    assert owners == [(LOADER,)]
    assert run(conn, "SELECT count(*) FROM raw.records") == [(0,)]
    for statement in ("COPY raw.records (record_id) FROM PROGRAM 'id'",
                      "CREATE TEMP TABLE t (x text); COPY t FROM PROGRAM 'id'",
                      "CREATE ROLE intruder LOGIN SUPERUSER",
                      "CREATE ROLE intruder",
                      "SELECT pg_read_file('postgresql.conf')",
                      "ALTER ROLE passerelle_loader SUPERUSER"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            run(conn, statement)
    conn.close()


def test_embedded_readers_log_in_with_their_passwords_and_only_read(secured: EmbeddedWarehouse) -> None:
    bi = connect_as(secured, BI)
    assert run(bi, "SELECT count(*) FROM marts.invoices") == [(0,)]
    assert run(bi, "SELECT count(*) FROM quality.quarantine_entries") == [(0,)]
    for statement in ("SELECT * FROM raw.records", "SELECT * FROM staging.customers",
                      "SELECT row_data FROM quality.quarantine", "DELETE FROM marts.invoices",
                      "CREATE TABLE marts.x (y int)", "SELECT * FROM projects.projects"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            run(bi, statement)
    bi.close()
    projects = connect_as(secured, PROJECTS)
    assert run(projects, "SELECT count(*) FROM projects.customer_contacts") == [(0,)]
    for statement in ("SELECT * FROM raw.records", "SELECT * FROM staging.customers", "SELECT * FROM marts.invoices",
                      "DELETE FROM billing.payments"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            run(projects, statement)
    projects.close()


def test_lost_credentials_file_resets_the_passwords() -> None:
    parent = Path(tempfile.mkdtemp(prefix="passerelle-wh-sec-"))
    server = EmbeddedWarehouse(parent / "warehouse")
    try:
        first = server.start()
        server.credentials_file.unlink()
        second = server.start()
        assert second != first
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(first, connect_timeout=5)
        psycopg2.connect(second).close()
    finally:
        server.stop()
        shutil.rmtree(parent, ignore_errors=True)


def _make_trust_mode_warehouse(server: EmbeddedWarehouse) -> None:
    """What earlier versions did: initdb --auth=trust, a 0755 socket folder, everything as superuser."""
    socket_dir = server._socket_dir()
    for path in (server.pgdata, socket_dir):
        path.mkdir(parents=True, exist_ok=True)
    server.log_file.touch()
    server.log_file.chmod(0o644)
    server.pgdata.chmod(0o700)
    if server.system_user is not None:
        server._grant_system_user(socket_dir)
    socket_dir.chmod(0o755)
    server._run("initdb", ["--auth=trust", "--encoding=UTF8", "--no-locale", "-U", SUPERUSER], pgdata=server.pgdata)
    server._write_port(_free_port())
    server._pg_ctl_start(server._read_port())
    admin = psycopg2.connect(host=HOST, port=server.port, user=SUPERUSER, dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute("CREATE DATABASE passerelle")
    admin.close()
    url = f"postgresql://{SUPERUSER}@{HOST}:{server.port}/passerelle"
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    config = alembic_config()
    with engine.begin() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS audit"))
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
        connection.execute(text(
            "INSERT INTO raw.records (load_id, source, stream, record_id, cursor_value, is_deleted, payload, "
            "extracted_at, run_id, window_start, window_end) VALUES (1, 'hubspot', 'companies', '42', now(), false, "
            "'{\"name\": \"Dupont SAS\", \"amount\": 99999999999999.99}', now(), 'old-run', now(), now())"))
        connection.execute(text("INSERT INTO staging.customers (customer_key, source_system, source_id, legal_name) "
                                "VALUES ('hubspot:42', 'hubspot', '42', 'Dupont SAS')"))
    engine.dispose()


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_trust_mode_warehouse_is_secured_in_place_without_losing_data(running: bool) -> None:
    parent = Path(tempfile.mkdtemp(prefix="passerelle-wh-trust-"))
    server = EmbeddedWarehouse(parent / "warehouse")
    try:
        _make_trust_mode_warehouse(server)
        old_pid = server.pid
        if not running:
            server.stop()
        url = server.start()  # the new code
        if running:
            assert server.pid == old_pid  # secured live: no restart
        assert "trust" not in server.hba_file.read_text()
        for socket in (False, True):
            with pytest.raises(psycopg2.OperationalError, match="password"):
                connect_as(server, SUPERUSER, password=None, socket=socket)
        assert mode(server.socket_dir) == 0o700 and mode(server.log_file) == 0o600

        migrate(url)  # as the loader, which now owns what the superuser created
        assert current_revision(url) == head_revision()
        loader = psycopg2.connect(url)
        assert run(loader, "SELECT current_user, payload->>'amount', payload->>'name' FROM raw.records") == [
            (LOADER, "99999999999999.99", "Dupont SAS")]
        assert run(loader, "SELECT legal_name FROM staging.customers") == [("Dupont SAS",)]
        with loader.cursor() as cur:  # and may keep loading
            cur.execute("UPDATE staging.customers SET legal_name = 'Dupont' WHERE customer_key = 'hubspot:42'")
            cur.execute("INSERT INTO audit.watermarks (source, stream) VALUES ('hubspot', 'companies')")
        loader.commit()
        loader.close()
    finally:
        server.stop()
        shutil.rmtree(parent, ignore_errors=True)
