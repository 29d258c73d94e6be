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
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.extensions
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from passerelle.warehouse.connection_errors import WarehouseUnreachable, describe_failure
from passerelle.warehouse.settings import AIRFLOW_CONN_ID, CONNECT_DEFAULTS, connect, connect_kwargs, resolve_warehouse

if TYPE_CHECKING:
    from airflow.providers.postgres.hooks.postgres import PostgresHook


log = logging.getLogger("airflow.task")
WAIT_SECONDS = 60.0
# libpq's words for a server that may yet come up; wrong credentials or names are not waited for.
NOT_UP_YET = ("connection refused", "timeout expired", "no route to host", "no such file or directory",
              "the database system is starting up", "the database system is in recovery mode")


class WarehouseNotUpYet(WarehouseUnreachable):
    """The warehouse may yet come up (refused, timed out, starting): waited for, then given up on."""


def connect_warehouse(**overrides: object) -> psycopg2.extensions.connection:
    """A psycopg2 connection (autocommit off) to the warehouse, for an Airflow task."""
    warehouse = resolve_warehouse(in_airflow_task=True)

    def attempt() -> psycopg2.extensions.connection:
        try:
            return connect(warehouse.url, **overrides)
        except psycopg2.OperationalError as exc:
            message = describe_failure(exc, warehouse.url, warehouse.origin)
            if message is None:
                raise
            up_later = any(words in str(exc).lower() for words in NOT_UP_YET)
            raise (WarehouseNotUpYet if up_later else WarehouseUnreachable)(message) from None

    retrying = Retrying(retry=retry_if_exception_type(WarehouseNotUpYet), stop=stop_after_delay(WAIT_SECONDS),
                        wait=_until_deadline, before_sleep=_log_wait, reraise=True)
    return retrying(attempt)


_BACKOFF = wait_exponential(multiplier=2, max=10)  # 2, 4, 8, then 10 s between attempts


def _until_deadline(state: RetryCallState) -> float:
    """The backoff, cut short so that the last attempt comes at :data:`WAIT_SECONDS`."""
    return min(_BACKOFF(state), max(WAIT_SECONDS - state.seconds_since_start, 0.0))


def _log_wait(state: RetryCallState) -> None:
    log.warning("waiting for the warehouse (attempt %d, next in %.0fs): %s", state.attempt_number,
                state.upcoming_sleep, state.outcome.exception() if state.outcome else "")


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
