"""Running the SQL files of ``include/sql`` outside Airflow, rendered exactly as Airflow renders them.

In a DAG a file is the ``sql`` of a ``SQLExecuteQueryOperator`` whose ``template_searchpath`` is
``include/sql``; the transform runner, invoicing, the reports, the tests and the benchmarks run the
very same files through :func:`run_sql_file`, so every statement has one definition. Files take their
parameters as ``{{ params.<name> }}`` and share the macros of ``include/sql/macros.sql``.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import jinja2
import psycopg2.extensions

from passerelle.paths import SQL_DIR


@cache
def template_env() -> jinja2.Environment:
    """The Jinja environment Airflow gives SQL templates: search path ``include/sql``, strict undefined."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )


def render(sql_path: str, **params: Any) -> str:
    """The statement text of ``sql_path`` (relative to ``include/sql``) with ``params`` filled in."""
    return template_env().get_template(sql_path).render(params=params)


def run_sql_file(conn: Any, sql_path: str, **params: Any) -> float:
    """Render and execute one SQL file in one transaction of its own (committed); returns seconds taken.

    A transaction the caller left open is committed first, as the file's commit would have done: a file may
    open with ``SET TRANSACTION`` (a staging build reads raw in one snapshot), which must come first.
    """
    statement = render(sql_path, **params)
    if conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS:
        conn.commit()
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return time.monotonic() - started
