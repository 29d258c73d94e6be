"""One line saying why the warehouse cannot be reached, instead of a driver traceback.

libpq reports connection failures as free text with no SQLSTATE, so the cause is read from its
message; the URL is always shown with its password masked, and the line names where the warehouse was
configured (``WAREHOUSE_URL``, the Airflow Connection or the embedded warehouse) since that is what to fix.
"""

from __future__ import annotations

import os

import psycopg2
import sqlalchemy.exc

from passerelle.errors import one_line
from passerelle.warehouse.settings import (
    AIRFLOW_CONN_ENV_VAR,
    AIRFLOW_CONN_ID,
    AIRFLOW_ORIGIN,
    EMBEDDED_ORIGIN,
    ENV_VAR,
    airflow_connection_url,
    mask_url,
)


class WarehouseUnreachable(ConnectionError):
    """The warehouse cannot be reached or refuses the credentials; the message is one masked line."""

# (substring of libpq's message, what is wrong, what to check); the first match wins.
_CAUSES: tuple[tuple[str, str, str], ...] = (
    ("password authentication failed", "authentication refused: wrong password",
     "the user and password in {var}"),
    ("no password supplied", "authentication refused: the server wants a password",
     "the password in {var}"),
    ("no pg_hba.conf entry", "authentication refused: the server does not accept this user/host/database",
     "the server's pg_hba.conf and the user and database in {var}"),
    ("role \"", "authentication refused: unknown user", "the user in {var}"),
    ("database \"", "the database does not exist", "the database name in {var}"),
    ("could not translate host name", "host name does not resolve", "the host in {var}"),
    ("name or service not known", "host name does not resolve", "the host in {var}"),
    ("connection refused", "host unreachable: connection refused",
     "that Postgres is running and the host and port in {var}"),
    ("timeout expired", "host unreachable: connection timed out",
     "the host and port in {var} and any firewall in between"),
    ("no route to host", "host unreachable: no route", "the host in {var} and the network"),
    ("no such file or directory", "no server socket at that path",
     "that Postgres is running and the socket directory (host=...) in {var}"),
    ("ssl", "TLS negotiation failed", "the sslmode and certificates in {var}"),
)


def describe_failure(exc: BaseException, url: str, origin: str | None = None) -> str | None:
    """One line naming what is wrong with the warehouse at ``url`` and what to check, or None when
    ``exc`` is not a connection/URL problem (a bug, a failed migration...), which keeps its traceback.

    ``origin`` is where ``url`` was configured (:class:`passerelle.warehouse.settings.Warehouse`); without
    it, ``WAREHOUSE_URL`` when ``url`` is given, else the Airflow Connection if its environment variable
    is set, else the embedded warehouse.
    """
    if origin is None and not url:
        url, origin = _from_airflow_env()
    origin = origin or (ENV_VAR if url else EMBEDDED_ORIGIN)
    if origin == ENV_VAR:
        var, also = ENV_VAR, f"; Airflow Connection '{AIRFLOW_CONN_ID}'"
    else:
        var, also = ("the " + origin if origin == AIRFLOW_ORIGIN else origin), ""
    where = f"warehouse {mask_url(url)}" if url else "embedded warehouse" if origin == EMBEDDED_ORIGIN else "warehouse"
    if origin != EMBEDDED_ORIGIN:
        where += f" ({origin}{also})"
    password = _password(url)
    if isinstance(exc, sqlalchemy.exc.ArgumentError):
        return f"{where}: not a database URL — check {var}: postgresql://user:password@host:port/database"
    if isinstance(exc, ValueError) and "must be PostgreSQL" in str(exc):
        return f"{where}: not a postgres URL — check the scheme of {var}: postgresql://user:password@host:port/database"
    if isinstance(exc, sqlalchemy.exc.OperationalError) and isinstance(exc.orig, psycopg2.OperationalError):
        exc = exc.orig
    if not isinstance(exc, psycopg2.OperationalError) or getattr(exc, "pgcode", None):
        return None
    message = one_line(str(exc))
    if password:
        message = message.replace(password, "***")
    lowered = message.lower()
    for needle, problem, check in _CAUSES:
        if needle in lowered:
            return f"{where}: {problem} ({message[:200]}) — check {check.format(var=var)}"
    return f"{where}: cannot connect ({message[:200]}) — check {var}"


def _from_airflow_env() -> tuple[str, str | None]:
    """The Airflow Connection's URL when its environment variable is what configured the warehouse."""
    if not os.environ.get(AIRFLOW_CONN_ENV_VAR, "").strip():
        return "", None
    try:
        return airflow_connection_url() or "", AIRFLOW_ORIGIN
    except Exception:
        return "", AIRFLOW_ORIGIN


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password if url else None
    except Exception:
        return None
    return str(password) if password else None
