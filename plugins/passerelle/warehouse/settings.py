"""Where the warehouse is, and how each client (psycopg2, SQLAlchemy, Airflow) is pointed at it.

One resolution, :func:`resolve_warehouse`, for tasks, the CLI, the demo and the benchmarks:

1. ``WAREHOUSE_URL``, the shortcut, wins when set;
2. else the Airflow Connection ``passerelle_warehouse``, read the way ``PostgresHook`` reads it (any
   secrets backend inside Airflow; outside it, only when ``AIRFLOW_CONN_PASSERELLE_WAREHOUSE`` is set),
   its extras (``sslmode``, ``sslrootcert``, ``options``, ``application_name``, ``connect_timeout``,
   ``keepalives*``...) becoming libpq parameters of the URL;
3. else, outside Airflow tasks, the embedded server, started (or reused): the loader role's URL, with
   the password generated into ``.passerelle/warehouse/credentials.json``.

Everything then connects from that one URL. URLs carry passwords, so everything that logs or prints
one goes through :func:`mask_url`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg2
import psycopg2.extensions
from sqlalchemy.engine import URL, make_url

logger = logging.getLogger(__name__)

ENV_VAR = "WAREHOUSE_URL"
AIRFLOW_CONN_ID = "passerelle_warehouse"
AIRFLOW_CONN_ENV_VAR = f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}"
AIRFLOW_ORIGIN = f"Airflow Connection '{AIRFLOW_CONN_ID}'"
EMBEDDED_ORIGIN = "the embedded warehouse"

# libpq settings every connection gets unless the URL or the Connection's extras say otherwise: give up
# on an unreachable host after 10 s instead of never, and notice a dead server or a dropped NAT entry
# during a long COPY within about two minutes instead of the kernel's two hours.
CONNECT_DEFAULTS: dict[str, str] = {
    "application_name": "passerelle",
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "60",
    "keepalives_interval": "10",
    "keepalives_count": "6",
}

# Extras an Airflow user may set that are not libpq's: how a token is obtained instead of a password.
_TOKEN_EXTRAS = ("iam", "redshift", "redshift-serverless", "azure_conn_id")


class WarehouseNotConfigured(RuntimeError):
    """Inside an Airflow task, neither ``WAREHOUSE_URL`` nor the Airflow Connection names a warehouse."""


@dataclass(frozen=True)
class Warehouse:
    """A resolved warehouse: its URL (with password: never log it, use :func:`mask_url`) and where it
    was configured (``WAREHOUSE_URL``, the Airflow Connection or the embedded warehouse)."""

    url: str
    origin: str


def resolve_warehouse(data_dir: Path | None = None, *, in_airflow_task: bool = False) -> Warehouse:
    """The warehouse to use: ``WAREHOUSE_URL``, else the Airflow Connection, else the embedded server.

    Inside an Airflow task (``in_airflow_task``; :mod:`passerelle.warehouse.task_connection`) the
    Connection is looked up through every secrets backend and no embedded server is ever started: a
    missing configuration fails the task with :class:`WarehouseNotConfigured`. Elsewhere the Connection is only consulted when its
    ``AIRFLOW_CONN_PASSERELLE_WAREHOUSE`` environment variable is set, so the CLI does not import Airflow.
    """
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return Warehouse(url, ENV_VAR)
    if in_airflow_task or os.environ.get(AIRFLOW_CONN_ENV_VAR, "").strip():
        url = airflow_connection_url(AIRFLOW_CONN_ID)
        if url:
            logger.info("using warehouse %s (%s)", mask_url(url), AIRFLOW_ORIGIN)
            return Warehouse(url, AIRFLOW_ORIGIN)
        if in_airflow_task:
            raise WarehouseNotConfigured(
                f"no warehouse configured for this task: define the {AIRFLOW_ORIGIN} (a Postgres connection) "
                f"or set {ENV_VAR}")
    from passerelle.warehouse.embedded import EmbeddedWarehouse

    url = EmbeddedWarehouse(data_dir).start()
    logger.info("using embedded warehouse %s", mask_url(url))
    return Warehouse(url, EMBEDDED_ORIGIN)


def warehouse_url(data_dir: Path | None = None) -> str:
    """The URL of :func:`resolve_warehouse` (outside Airflow tasks)."""
    return resolve_warehouse(data_dir).url


def airflow_connection_url(conn_id: str = AIRFLOW_CONN_ID) -> str | None:
    """The URL of the Airflow Connection ``conn_id`` as ``PostgresHook`` would connect, or None if undefined.

    Airflow is imported here, lazily: the product only needs it when a Connection is actually used.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    hook = PostgresHook(postgres_conn_id=conn_id)
    try:
        connection = hook.connection
    except AirflowNotFoundException:
        return None
    return url_from_connection(
        conn_type=connection.conn_type, host=connection.host, port=connection.port, login=connection.login,
        password=connection.password, schema=hook.database or connection.schema, extra=connection.extra_dejson,
        ignored=hook.ignored_extra_options, conn_id=conn_id,
    )


def url_from_connection(*, conn_type: str | None, host: str | None, port: int | None, login: str | None,
                        password: str | None, schema: str | None, extra: Mapping[str, Any],
                        ignored: frozenset[str] | set[str] = frozenset(), conn_id: str = AIRFLOW_CONN_ID) -> str:
    """A ``postgresql://`` URL from an Airflow Connection's fields, its extras as libpq query parameters.

    Like ``PostgresHook.get_conn``: ``schema`` is the database, every extra except the hook's own
    (``ignored``: ``cursor``, ``sqlalchemy_*``...) is handed to libpq. Extras asking for a cloud IAM token
    instead of a password are refused rather than silently ignored. A ``host`` that is a directory
    (a Unix socket) travels as the ``host`` parameter.
    """
    where = f"Airflow Connection '{conn_id}'"
    if conn_type and conn_type not in ("postgres", "postgresql"):
        raise ValueError(f"{where} must be a Postgres connection, got conn_type {conn_type!r}")
    token = [key for key in _TOKEN_EXTRAS if extra.get(key)]
    if token:
        raise ValueError(f"{where}: {', '.join(token)} (token authentication) is not supported; "
                         "give the connection a password")
    query: dict[str, str] = {}
    for key, value in extra.items():
        if key in ignored or key in _TOKEN_EXTRAS or value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (str, int)):
            raise ValueError(f"{where}: extra {key!r} must be a string or a number, got {type(value).__name__}")
        query[key] = str(value)
    if host and host.startswith("/"):
        query["host"], host = host, None
    return URL.create("postgresql", username=login or None, password=password or None, host=host or None,
                      port=int(port) if port else None, database=schema or None,
                      query=query).render_as_string(hide_password=False)


def parse(url: str) -> URL:
    """Parse a ``postgresql[+driver]://`` URL; other databases are refused early and clearly."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"warehouse must be PostgreSQL, got {mask_url(url)}")
    return parsed


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe for logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable warehouse URL>"


def sqlalchemy_url(url: str) -> URL:
    """The URL for SQLAlchemy, pinned to psycopg2 (psycopg 3 is installed too, for Airflow)."""
    return parse(url).set(drivername="postgresql+psycopg2")


def connect_kwargs(url: str) -> dict[str, object]:
    """psycopg2/libpq keyword arguments; query parameters (``sslmode``, ``host`` for a socket...) pass through."""
    parsed = parse(url)
    kwargs: dict[str, object] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    kwargs.update({key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()})
    return {key: value for key, value in kwargs.items() if value not in (None, "")}


def connect(url: str, **overrides: object) -> psycopg2.extensions.connection:
    """A psycopg2 connection (autocommit off) for ``url``, with :data:`CONNECT_DEFAULTS` where it sets nothing."""
    kwargs: dict[str, object] = {**CONNECT_DEFAULTS, **connect_kwargs(url)}
    kwargs.update(overrides)
    return psycopg2.connect(**kwargs)


def airflow_conn_uri(url: str) -> str:
    """The value of ``AIRFLOW_CONN_PASSERELLE_WAREHOUSE`` for ``url``.

    Airflow wants ``postgresql://login:password@host:port/schema`` (``schema`` is the database)
    with login and password percent-encoded; query parameters become connection extras, which
    PostgresHook hands to the driver.
    """
    parsed = parse(url)
    auth = ""
    if parsed.username:
        auth = quote(parsed.username, safe="")
        if parsed.password:
            auth += ":" + quote(str(parsed.password), safe="")
        auth += "@"
    host = parsed.host or ""
    port = f":{parsed.port}" if parsed.port else ""
    database = quote(parsed.database or "", safe="")
    query = ""
    if parsed.query:
        flat = {key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()}
        query = "?" + urlencode(flat)
    return f"postgresql://{auth}{host}{port}/{database}{query}"
