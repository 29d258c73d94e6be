"""Reading a staging table into pandas for validation, and counting the raw records it comes from.

The frame keeps the values psycopg2 returns (``Decimal`` for NUMERIC, ``date``, aware ``datetime``)
in object columns: no float ever stands in for an amount, and GX compares Decimals with the rule
bounds exactly (``Decimal('2.10') == Decimal('2.1')``, ``Decimal('-0.01') < 0``).

Computed checks are columns of the same SELECT, so one query reads the table and every
cross-column and cross-table verdict. Foreign keys are checked with a LEFT JOIN on the parent's
distinct keys: a hash join that spills to disk if it must, rather than a per-row subquery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from psycopg2 import sql

from passerelle.quality.rules import Suite

# Tombstones a staging model keeps on purpose, by (source, stream): monday.com turns an archived board
# into a tombstone, yet an archived board is a closed project whose items and time stay live
# (include/sql/staging/projects/monday.sql), so it counts as a live record.
KEPT_TOMBSTONES = {("monday", "boards"): "r.payload->>'state' = 'archived'"}

# The current version of every record of the streams, the same "latest version" the staging SQL
# reads through the ``current`` macro (a tombstone at the same cursor wins).
LIVE_RAW_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (r.source, r.stream, r.record_id) ({live}) AS live
      FROM raw.records AS r
     WHERE (r.source, r.stream) IN (SELECT * FROM unnest(%(sources)s::text[], %(streams)s::text[]))
     ORDER BY r.source, r.stream, r.record_id, r.cursor_value DESC, r.is_deleted DESC
)
SELECT count(*) FILTER (WHERE live) FROM latest
"""


def live_condition() -> str:
    """SQL over a raw record ``r``: it counts as live (not a tombstone, or a tombstone staging keeps)."""
    kept = [f"(r.source = '{source}' AND r.stream = '{stream}' AND {predicate})"
            for (source, stream), predicate in KEPT_TOMBSTONES.items()]
    return " OR ".join(["NOT r.is_deleted", *kept])


def _stream_params(streams: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    return {"sources": [source for source, _ in streams], "streams": [stream for _, stream in streams]}


def live_raw_count(conn: Any, streams: tuple[tuple[str, str], ...]) -> int:
    """Live records of the raw ``(source, stream)`` pairs: latest version not a tombstone (or a kept one)."""
    with conn.cursor() as cur:
        cur.execute(LIVE_RAW_SQL.format(live=live_condition()), _stream_params(streams))
        return cur.fetchone()[0]


# Open quarantine entries whose record is absent from the staging table just read: either the table
# was not rebuilt since (a retried validation) and the record is still live in raw, so its rows count as
# staged for the row-count sanity check; or the record was deleted at the source, so nothing will ever
# bring it back to be fixed and its entries can be released.
OPEN_ENTRIES_SQL = """
SELECT quarantine_id, record_key, source_system, source_id,
       CASE jsonb_typeof(row_data) WHEN 'array' THEN jsonb_array_length(row_data) ELSE 1 END AS rows
  FROM quality.quarantine
 WHERE table_name = %(table)s AND released_at IS NULL
"""
# Whether each (source, record id) is live: its latest raw version under the suite's streams is not a
# tombstone (or is one the staging model keeps); a record raw never had is not live.
LIVENESS_SQL = """
SELECT h.source, h.record_id,
       EXISTS (SELECT FROM (SELECT {live} AS live
                              FROM raw.records AS r
                             WHERE r.source = h.source AND r.record_id = h.record_id
                               AND (r.source, r.stream) IN (SELECT * FROM unnest(%(sources)s::text[], %(streams)s::text[]))
                             ORDER BY r.cursor_value DESC, r.is_deleted DESC
                             LIMIT 1) AS latest
                WHERE latest.live) AS live
  FROM unnest(%(held_sources)s::text[], %(held_ids)s::text[]) AS h(source, record_id)
"""


@dataclass(frozen=True)
class AbsentEntries:
    """Open quarantine entries of records not in the staging table just read."""

    held_rows: int  # rows still live at the source, held out of staging by earlier runs
    gone_ids: list[int]  # entries of records deleted at the source


def absent_entries(conn: Any, suite: Suite, present: pd.Series) -> AbsentEntries:
    """Sort the open entries of ``suite.table`` whose record is not among the ``present`` keys (the rows
    just read from staging) into held (still live in raw) and gone (deleted at the source)."""
    with conn.cursor() as cur:
        cur.execute(OPEN_ENTRIES_SQL, {"table": suite.table})
        entries = pd.DataFrame(cur.fetchall(),
                               columns=["quarantine_id", "record_key", "source_system", "source_id", "rows"])
        absent = entries[~entries["record_key"].isin(present)]
        if absent.empty:
            return AbsentEntries(0, [])
        records = absent[["source_system", "source_id"]].drop_duplicates()
        cur.execute(LIVENESS_SQL.format(live=live_condition()), {
            "held_sources": records["source_system"].tolist(), "held_ids": records["source_id"].tolist(),
            **_stream_params(suite.raw_streams),
        })
        liveness = pd.DataFrame(cur.fetchall(), columns=["source_system", "source_id", "live"])
    absent = absent.merge(liveness, on=["source_system", "source_id"])
    held = absent[absent["live"]].drop_duplicates("record_key")["rows"].sum()
    return AbsentEntries(int(held), absent.loc[~absent["live"], "quarantine_id"].tolist())


def select_statement(suite: Suite) -> sql.Composed:
    """SELECT of the columns the suite reads, with its computed check columns (the quarantine copies
    whole rows in SQL, so nothing else needs to travel to Python)."""
    schema, _, name = suite.table.partition(".")
    columns = [sql.SQL("t.{}").format(sql.Identifier(column)) for column in suite.columns]
    joins = []
    for check, expression in suite.checks.items():
        columns.append(sql.SQL("({}) AS {}").format(sql.SQL(expression), sql.Identifier(check)))
    for number, reference in enumerate(suite.references):
        alias = sql.Identifier(f"p{number}")
        parent_schema, _, parent_name = reference.parent.partition(".")
        column = sql.Identifier(reference.column)
        columns.append(sql.SQL("CASE WHEN t.{column} IS NOT NULL THEN {alias}.k IS NOT NULL END AS {check}").format(
            column=column, alias=alias, check=sql.Identifier(reference.check)))
        joins.append(sql.SQL("LEFT JOIN (SELECT DISTINCT {key} AS k FROM {parent}) AS {alias}"
                             " ON {alias}.k = t.{column}")
                     .format(key=sql.Identifier(reference.parent_key),
                             parent=sql.Identifier(parent_schema, parent_name), alias=alias, column=column))
    return sql.SQL("SELECT {columns} FROM {table} AS t {joins}").format(
        columns=sql.SQL(", ").join(columns), table=sql.Identifier(schema, name), joins=sql.SQL(" ").join(joins))


def load_frame(conn: Any, suite: Suite) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(select_statement(suite))
        names = [column.name for column in cur.description]
        rows = cur.fetchall()
    return pd.DataFrame(rows, columns=names, dtype=object)
