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
from collections.abc import Iterator
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
# Raw as the table's last build read it: versions of loads after that build's horizon are left out (a
# stream without a recorded horizon is read whole).
LIVE_RAW_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (r.source, r.stream, r.record_id) ({live}) AS live
      FROM raw.records AS r
      LEFT JOIN audit.staging_horizons AS h
        ON h.table_name = %(table)s AND h.source = r.source AND h.stream = r.stream
     WHERE (r.source, r.stream) IN (SELECT * FROM unnest(%(sources)s::text[], %(streams)s::text[]))
       AND (h.load_id IS NULL OR r.load_id <= h.load_id)
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


def live_raw_count(conn: Any, streams: tuple[tuple[str, str], ...], table: str) -> int:
    """Live records of the raw ``(source, stream)`` pairs as ``table``'s last build read them: latest version
    not a tombstone (or a kept one), among the loads up to the build's horizon."""
    with conn.cursor() as cur:
        cur.execute(LIVE_RAW_SQL.format(live=live_condition()), {**_stream_params(streams), "table": table})
        return cur.fetchone()[0]


# Open quarantine entries whose record is absent from the staging table just read: either the table
# was not rebuilt since (a retried validation) and the record is still live in raw, so its rows count as
# staged for the row-count sanity check; or the record was deleted at the source, so nothing will ever
# bring it back to be fixed and its entries can be released.
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


# Open entries whose record is absent from the staging table just validated (an anti-join, so the
# table's keys never travel to Python), with whether the record is live in raw.
ABSENT_SQL = """
SELECT q.quarantine_id, q.record_key, q.source_system, q.source_id,
       CASE jsonb_typeof(q.row_data) WHEN 'array' THEN jsonb_array_length(q.row_data) ELSE 1 END AS rows
  FROM quality.quarantine AS q
 WHERE q.table_name = %(table)s AND q.released_at IS NULL
   AND NOT EXISTS (SELECT FROM {staged} AS t WHERE t.{key} = q.record_key)
"""


@dataclass(frozen=True)
class AbsentEntries:
    """Open quarantine entries of records not in the staging table just read."""

    held_rows: int  # rows still live at the source, held out of staging by earlier runs
    gone_ids: list[int]  # entries of records deleted at the source


def absent_entries(conn: Any, suite: Suite) -> AbsentEntries:
    """Sort the open entries of ``suite.table`` whose record is not in the staging table (as it stands
    in the caller's transaction) into held (still live in raw) and gone (deleted at the source)."""
    schema, _, name = suite.table.partition(".")
    with conn.cursor() as cur:
        cur.execute(sql.SQL(ABSENT_SQL).format(staged=sql.Identifier(schema, name), key=sql.Identifier(suite.key)),
                    {"table": suite.table})
        absent = pd.DataFrame(cur.fetchall(),
                              columns=["quarantine_id", "record_key", "source_system", "source_id", "rows"])
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


def chunks(conn: Any, suite: Suite, rows: int | None) -> Iterator[pd.DataFrame]:
    """The rows :func:`select_statement` reads, ordered by key, as frames of about ``rows`` rows (all in
    one frame when ``rows`` is None), read through a server-side cursor of the caller's transaction.

    A chunk is only ever cut between two keys: the rows sharing a key are in the same chunk, so a
    uniqueness rule evaluated chunk by chunk finds exactly the duplicates it finds on the whole table.
    """
    statement = sql.SQL("{} ORDER BY t.{}").format(select_statement(suite), sql.Identifier(suite.key))
    with conn.cursor(name=f"validate_{suite.short}") as cur:
        cur.execute(statement)
        if rows is None:
            found = cur.fetchall()
            if found:
                yield pd.DataFrame(found, columns=[column.name for column in cur.description], dtype=object)
            return
        pending: list[tuple[Any, ...]] = []
        while fetched := cur.fetchmany(rows):
            names = [column.name for column in cur.description]
            position = names.index(suite.key)
            pending.extend(fetched)
            cut = len(pending)
            while cut and pending[cut - 1][position] == pending[-1][position]:
                cut -= 1  # the rows of the last key read may continue in the next fetch: keep them
            if cut:
                batch, pending = pending[:cut], pending[cut:]
                frame = pd.DataFrame(batch, columns=names, dtype=object)
                del batch  # the row tuples go; the frame holds their values
                yield frame
        if pending:
            yield pd.DataFrame(pending, columns=[column.name for column in cur.description], dtype=object)


def columns(conn: Any, suite: Suite) -> list[str]:
    """The column names :func:`select_statement` returns (for the frame of an empty table)."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("{} LIMIT 0").format(select_statement(suite)))
        return [column.name for column in cur.description]
