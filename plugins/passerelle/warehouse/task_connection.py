"""The warehouse connection of code running inside an Airflow task.

Resolved like everywhere else (``WAREHOUSE_URL``, else the Airflow Connection ``passerelle_warehouse``
with its extras) but never falling back to starting an embedded server on a worker; a warehouse that
cannot be reached fails the task with one masked line naming where it was configured.
"""

from __future__ import annotations

import psycopg2
import psycopg2.extensions

from passerelle.warehouse.connection_errors import WarehouseUnreachable, describe_failure
from passerelle.warehouse.settings import connect, resolve_warehouse


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
