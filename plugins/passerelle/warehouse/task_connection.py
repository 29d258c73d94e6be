"""The warehouse connection of code running inside an Airflow task.

Resolved like everywhere else (``WAREHOUSE_URL``, else the Airflow Connection ``passerelle_warehouse``
with its extras) but never falling back to starting an embedded server on a worker. A warehouse that is not
up yet (refused, timed out, starting) is waited for up to :data:`WAIT_SECONDS`, each attempt logged to the
task log; one that still cannot be reached fails the task with one masked line naming where it was configured. Python tasks
connect with :func:`connect_warehouse`, Airflow's SQL operators through :func:`warehouse_hook`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.extensions

from passerelle.warehouse.connection_errors import WarehouseUnreachable, describe_failure
from passerelle.warehouse.settings import AIRFLOW_CONN_ID, CONNECT_DEFAULTS, connect, connect_kwargs, resolve_warehouse

if TYPE_CHECKING:
    from airflow.providers.postgres.hooks.postgres import PostgresHook


log = logging.getLogger("airflow.task")
WAIT_SECONDS = 60.0
# libpq's words for a server that may yet come up; wrong credentials or names are not waited for.
NOT_UP_YET = ("connection refused", "timeout expired", "no route to host", "no such file or directory",
              "the database system is starting up", "the database system is in recovery mode")


def connect_warehouse(**overrides: object) -> psycopg2.extensions.connection:
    """A psycopg2 connection (autocommit off) to the warehouse, for an Airflow task."""
    warehouse = resolve_warehouse(in_airflow_task=True)
    deadline = time.monotonic() + WAIT_SECONDS
    attempt = 0
    while True:
        try:
            return connect(warehouse.url, **overrides)
        except psycopg2.OperationalError as exc:
            message = describe_failure(exc, warehouse.url, warehouse.origin)
            if message is None:
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not any(words in str(exc).lower() for words in NOT_UP_YET):
                raise WarehouseUnreachable(message) from None
            attempt += 1
            delay = min(2.0 ** attempt, 10.0, remaining)
            log.warning("waiting for the warehouse (attempt %d, next in %.0fs): %s", attempt, delay, message)
            time.sleep(delay)


def warehouse_hook() -> PostgresHook:
    """A ``PostgresHook`` on the same warehouse as :func:`connect_warehouse`, with the same libpq settings.

    A SQL operator given only a ``conn_id`` reads the Airflow Connection and would ignore ``WAREHOUSE_URL``;
    this hook carries the resolved URL as a Connection of its own instead (its extras: the libpq parameters).
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk import Connection

    params = {**CONNECT_DEFAULTS, **connect_kwargs(resolve_warehouse(in_airflow_task=True).url)}
    connection = Connection(
        conn_id=AIRFLOW_CONN_ID, conn_type="postgres", host=params.pop("host", None), port=params.pop("port", None),
        login=params.pop("user", None), password=params.pop("password", None), schema=params.pop("dbname", None),
        extra=json.dumps(params),
    )
    return PostgresHook(postgres_conn_id=AIRFLOW_CONN_ID, connection=connection)
