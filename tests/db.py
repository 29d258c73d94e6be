"""Read-only queries for tests: run, fetch, and end the transaction so the next step sees fresh data."""

from __future__ import annotations

from typing import Any

import psycopg2.extras


def rows(conn: Any, query: str, *params: Any) -> list[dict[str, Any]]:
    """All rows of ``query`` as dicts."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(query, params)
        result = [dict(row) for row in cur.fetchall()]
    conn.rollback()
    return result


def tuples(conn: Any, query: str, *params: Any) -> list[tuple]:
    """All rows of ``query`` as tuples."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        result = cur.fetchall()
    conn.rollback()
    return result
