"""Throw-away databases beside the warehouse: per-test copies and benchmark databases.

Created and dropped through the server's ``postgres`` maintenance database, names quoted as identifiers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from passerelle.warehouse.settings import connect, parse

DROP_ATTEMPTS = 10  # plain DROP DATABASE already waits 5 s for other sessions to leave each time


def database_url(server_url: str, database: str) -> str:
    """``server_url`` pointed at ``database`` on the same server."""
    return parse(server_url).set(database=database).render_as_string(hide_password=False)


def admin_connection(server_url: str) -> psycopg2.extensions.connection:
    """Autocommit connection to the server's maintenance database (CREATE/DROP DATABASE)."""
    conn = connect(database_url(server_url, "postgres"))
    conn.autocommit = True
    return conn


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create ``name`` (a copy of ``template`` if given) and return its URL."""
    conn = admin_connection(server_url)
    try:
        with conn.cursor() as cur:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            cur.execute(statement)
    finally:
        conn.close()
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop ``name`` if it exists, closing any session still connected to it.

    ``WITH (FORCE)`` needs the right to signal every process in the database, which the loader (an owner,
    not a superuser) lacks for an autovacuum worker that happens to be there. It then closes its own
    role's sessions and drops the plain way, which makes autovacuum workers leave by themselves.
    """
    conn = admin_connection(server_url)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            except psycopg2.errors.InsufficientPrivilege:
                pass
            for attempt in range(DROP_ATTEMPTS):
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                            " AND pid <> pg_backend_pid() AND usename = current_user", (name,))
                try:
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                    return
                except psycopg2.errors.ObjectInUse:
                    if attempt == DROP_ATTEMPTS - 1:
                        raise
                    time.sleep(0.2)
    finally:
        conn.close()


@contextmanager
def scratch_database(base_url: str, name: str) -> Iterator[str]:
    """Create ``name`` on ``base_url``'s server, migrate it, yield its URL and drop it afterwards.

    An earlier run's leftover of the same name is dropped first, so an interrupted benchmark does not
    block the next one.
    """
    from passerelle.warehouse.migrate import migrate

    drop_database(base_url, name)
    url = create_database(base_url, name)
    try:
        migrate(url)
        yield url
    finally:
        drop_database(base_url, name)
