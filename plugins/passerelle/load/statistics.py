"""Fresh planner statistics for the raw tables a window load has just grown a lot.

A first (full) load turns an empty stream into hundreds of thousands of rows in one commit. Until
autovacuum's next pass (a minute at best, much later on a busy server) the planner still believes
the table holds what it held at the last ``ANALYZE``, and the next window's probes of ``raw.records``
are planned for a nearly empty table: about a second instead of a few milliseconds to classify 200
changed records against 200,000 (``python -m passerelle_dev.bench_incremental``).

So, once a window has committed, each raw table it added rows to is analyzed if it was never analyzed
or if those rows are at least :data:`STALE_SHARE` of the rows its statistics describe. Smaller
windows are left to autovacuum, which handles gradual growth: analyzing 200,000 rows costs far more
than the few milliseconds it would save a 200-record window. ``ANALYZE`` samples a fixed number of
rows, takes a SHARE UPDATE EXCLUSIVE lock that inserts do not wait for, and runs in its own short
transaction after the load's, so it never lengthens the load's transaction or its locks. Failing to
refresh statistics never fails a load that has already committed: it is logged and left to autovacuum.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import psycopg2
from psycopg2 import sql

STALE_SHARE = 0.1
"""Rows added, as a share of the rows the table's statistics count, that make them stale (autovacuum's
default ``autovacuum_analyze_scale_factor``, applied at once instead of at its next pass)."""

# Two loads finishing together queue for the same lock for well under a second; a long wait means
# a manual VACUUM or an index build holds the table, and autovacuum will analyze it later anyway.
LOCK_TIMEOUT = "30s"

_ROWS_KNOWN = "SELECT reltuples FROM pg_class WHERE oid = %s::regclass"

KEY_COLUMNS = {"raw.records": ("source", "stream", "record_id", "cursor_value", "is_deleted")}
"""Columns whose statistics the next window's probes are planned with. Sampling the payloads (large,
TOASTed jsonb nobody filters on here) was most of an ``ANALYZE``'s cost; the transform's own
``ANALYZE raw.records`` still covers every column before staging reads them."""


def _analyze_target(table: str) -> sql.Composable:
    name = sql.Identifier(*table.split(".", 1))
    columns = KEY_COLUMNS.get(table)
    if not columns:
        return name
    return sql.SQL("{} ({})").format(name, sql.SQL(", ").join(map(sql.Identifier, columns)))


def refresh_statistics(conn: Any, added: Mapping[str, int], logger: logging.Logger,
                       label: str) -> tuple[tuple[str, ...], float]:
    """``ANALYZE`` those of the schema-qualified tables in ``added`` (table → rows just added) whose
    statistics the additions made stale, and commit; returns the tables analyzed and the seconds spent.

    ``conn`` must have no transaction in progress (the load's is committed): the analyze is its own.
    """
    began = time.perf_counter()
    added = {table: rows for table, rows in added.items() if rows > 0}
    if not added:
        return (), 0.0
    stale: list[str] = []
    try:
        with conn.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = %s", (LOCK_TIMEOUT,))
            for table, rows in added.items():
                cur.execute(_ROWS_KNOWN, (table,))
                known = cur.fetchone()[0]
                if known < 0 or rows >= STALE_SHARE * known:  # -1: never analyzed nor vacuumed
                    stale.append(table)
            if stale:
                cur.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(map(_analyze_target, stale))))
        conn.commit()
    except psycopg2.Error as exc:
        try:
            conn.rollback()
        except psycopg2.Error:
            pass
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        logger.warning("%s: statistics of %s not refreshed (%s); autovacuum will refresh them",
                       label, ", ".join(stale or added), first_line)
        return (), time.perf_counter() - began
    # A role that does not own a table gets a WARNING, not an error, and the table is skipped.
    skipped = [notice.strip() for notice in conn.notices[-len(stale):] if "skipping" in notice] if stale else []
    for notice in skipped:
        logger.warning("%s: statistics not refreshed: %s", label, notice)
    analyzed = tuple(t for t in stale if not any(f'"{t.split(".", 1)[1]}"' in notice for notice in skipped))
    seconds = time.perf_counter() - began
    if analyzed:
        logger.info("%s: statistics of %s refreshed in %.2fs", label, ", ".join(analyzed), seconds)
    return analyzed, seconds
