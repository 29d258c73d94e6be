"""Where the warehouse is, and how each client (psycopg2, SQLAlchemy, Airflow) is pointed at it.

``WAREHOUSE_URL`` selects any Postgres; without it the embedded server is started (or reused) and its
URL is the loader role's, with the password generated into ``.passerelle/warehouse/credentials.json``.
URLs carry passwords, so everything that logs or prints one goes through :func:`mask_url`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg2
import psycopg2.extensions
from sqlalchemy.engine import URL, make_url

logger = logging.getLogger(__name__)

ENV_VAR = "WAREHOUSE_URL"
AIRFLOW_CONN_ID = "passerelle_warehouse"
AIRFLOW_CONN_ENV_VAR = f"AIRFLOW_CONN_{AIRFLOW_CONN_ID.upper()}"


def warehouse_url(data_dir: Path | None = None) -> str:
    """``$WAREHOUSE_URL`` if set, else the embedded server's URL for the loader role (started if needed)."""
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        return url
    from passerelle.warehouse.embedded import EmbeddedWarehouse

    url = EmbeddedWarehouse(data_dir).start()
    logger.info("using embedded warehouse %s", mask_url(url))
    return url


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
    """A psycopg2 connection (autocommit off) for ``url``."""
    kwargs = connect_kwargs(url)
    kwargs.setdefault("application_name", "passerelle")
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
