"""Throw-away databases beside the warehouse: per-test copies and benchmark databases.

Created and dropped through the server's ``postgres`` maintenance database, names quoted as identifiers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2.extensions
from psycopg2 import sql

from passerelle.warehouse.settings import connect, parse


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
    """Drop ``name`` if it exists, closing any session still connected to it."""
    conn = admin_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
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
