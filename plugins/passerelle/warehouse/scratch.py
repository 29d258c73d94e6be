"""Throw-away databases beside the warehouse, for benchmarks that must not touch the real one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg2 import sql

from passerelle.warehouse.settings import connect, parse


@contextmanager
def scratch_database(base_url: str, name: str) -> Iterator[str]:
    """Create ``name`` on ``base_url``'s server, migrate it, yield its URL and drop it afterwards.

    An earlier run's leftover of the same name is dropped first, so an interrupted benchmark does not
    block the next one.
    """
    from passerelle.warehouse.migrate import migrate

    admin = connect(base_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = parse(base_url).set(database=name).render_as_string(hide_password=False)
        migrate(url)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
