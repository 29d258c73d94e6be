"""The warehouse connection of code running inside an Airflow task.

Resolved like everywhere else (``WAREHOUSE_URL``, else the Airflow Connection ``passerelle_warehouse``
with its extras) but never falling back to starting an embedded server on a worker; a warehouse that
cannot be reached fails the task with one masked line naming where it was configured. Python tasks
connect with :func:`connect_warehouse`, Airflow's SQL operators through :func:`warehouse_hook`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.extensions

from passerelle.warehouse.connection_errors import WarehouseUnreachable, describe_failure
from passerelle.warehouse.settings import AIRFLOW_CONN_ID, CONNECT_DEFAULTS, connect, connect_kwargs, resolve_warehouse

if TYPE_CHECKING:
    from airflow.providers.postgres.hooks.postgres import PostgresHook


def connect_warehouse(**overrides: object) -> psycopg2.extensions.connection:
    """A psycopg2 connection (autocommit off) to the warehouse, for an Airflow task."""
    warehouse = resolve_warehouse(in_airflow_task=True)
    try:
        return connect(warehouse.url, **overrides)
    except psycopg2.OperationalError as exc:
        message = describe_failure(exc, warehouse.url, warehouse.origin)
        if message is None:
            raise
        raise WarehouseUnreachable(message) from None


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
