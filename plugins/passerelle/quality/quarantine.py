"""Moving failing rows from a staging table to ``quality.quarantine``, and releasing fixed ones.

Set-based: the failing (record key, rule, reason) triples are copied into a temporary table, then
three statements file them, release what now passes and delete the failing rows from staging.

- One quarantine entry per record and rule. An open entry (``released_at IS NULL``) is unique on
  (table, record key, rule): a later run that finds the same record failing the same rule (the staging
  rebuild brought it back unchanged) refreshes ``last_run_id`` / ``last_seen_at``, it adds nothing.
- ``row_data`` is the staged row as jsonb; when several rows share the key (a duplicate), it is the
  JSON array of all of them, so nothing is lost.
- An open entry is released when its record is back in staging and passes that rule, or when the
  record was deleted at the source (nothing is left to fix; the entry keeps the row). A record absent
  from staging but still live in raw (a retried validation, before the next rebuild) stays
  quarantined; a record that passes one rule but fails another gets only the first entry released.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

BATCH_TABLE = "quarantine_batch"


@dataclass(frozen=True)
class QuarantineCounts:
    rows_removed: int
    new_entries: int
    still_failing: int
    released: int


def apply(conn: Any, table: str, key: str, run_id: str, failing: list[tuple[str, str, str]],
          evaluated_rules: list[str]) -> QuarantineCounts:
    """File ``failing`` (record key, rule id, reason), release entries of ``evaluated_rules`` whose
    record is in ``table`` (the rows validated) and passes, delete the failing rows from ``table``.
    Runs in the caller's transaction."""
    schema, _, name = table.partition(".")
    names = {"staged": sql.Identifier(schema, name), "key": sql.Identifier(key), "batch": sql.Identifier(BATCH_TABLE)}
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TEMP TABLE {batch} (record_key text, rule text, reason text) ON COMMIT DROP")
                    .format(**names))
        buffer = io.StringIO()
        # QUOTE_ALL: an empty text stays '' (unquoted empty CSV fields load as NULL).
        csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(failing)
        buffer.seek(0)
        cur.copy_expert(sql.SQL("COPY {batch} FROM STDIN WITH (FORMAT csv)").format(**names).as_string(cur), buffer)
        cur.execute(sql.SQL("ANALYZE {batch}").format(**names))
        released = _release(cur, table, key, run_id, evaluated_rules)

        params = {"table": table, "run_id": run_id}
        cur.execute(sql.SQL("""
            WITH filed AS (
                INSERT INTO quality.quarantine AS q (
                    table_name, record_key, source_system, source_id, rule, reason, row_data,
                    first_run_id, last_run_id)
                SELECT %(table)s, b.record_key, min(t.source_system), min(t.source_id), b.rule, b.reason,
                       CASE WHEN count(*) = 1 THEN (array_agg(to_jsonb(t)))[1] ELSE jsonb_agg(to_jsonb(t)) END,
                       %(run_id)s, %(run_id)s
                  FROM {batch} AS b
                  JOIN {staged} AS t ON t.{key} = b.record_key
                 GROUP BY b.record_key, b.rule, b.reason
                ON CONFLICT (table_name, record_key, rule) WHERE released_at IS NULL DO UPDATE
                   SET reason = EXCLUDED.reason, row_data = EXCLUDED.row_data,
                       last_run_id = EXCLUDED.last_run_id, last_seen_at = now()
                RETURNING (xmax = 0) AS is_new
            )
            SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM filed
        """).format(**names), params)
        new_entries, still_failing = cur.fetchone()

        cur.execute(sql.SQL("""
            DELETE FROM {staged} AS t USING (SELECT DISTINCT record_key FROM {batch}) AS b
             WHERE t.{key} = b.record_key
        """).format(**names))
        rows_removed = cur.rowcount
    return QuarantineCounts(rows_removed, new_entries, still_failing, released)


def _release(cur: Any, table: str, key: str, run_id: str, evaluated_rules: list[str]) -> int:
    """Release the open entries of ``evaluated_rules`` whose record was validated and passed the rule.

    Runs before this run's entries are filed, so the open entries are those of earlier runs; the
    ones failing again are in the batch. The record's presence is a semi-join on the staging table
    (hashed by the planner, never a per-entry probe of the unindexed table).
    """
    schema, _, name = table.partition(".")
    cur.execute(sql.SQL("""
        UPDATE quality.quarantine AS q SET released_at = now(), released_run_id = %(run_id)s
         WHERE q.table_name = %(table)s AND q.released_at IS NULL AND q.rule = ANY(%(rules)s)
           AND NOT EXISTS (SELECT FROM {batch} AS b WHERE b.record_key = q.record_key AND b.rule = q.rule)
           AND q.record_key IN (SELECT t.{key} FROM {staged} AS t)
    """).format(batch=sql.Identifier(BATCH_TABLE), key=sql.Identifier(key), staged=sql.Identifier(schema, name)),
        {"table": table, "rules": evaluated_rules, "run_id": run_id})
    return cur.rowcount


def release_gone(conn: Any, run_id: str, quarantine_ids: list[int]) -> int:
    """Release the entries of records deleted at the source (see ``load.absent_entries``)."""
    if not quarantine_ids:
        return 0
    with conn.cursor() as cur:
        cur.execute("""UPDATE quality.quarantine SET released_at = now(), released_run_id = %s
                        WHERE quarantine_id = ANY(%s) AND released_at IS NULL""", (run_id, quarantine_ids))
        return cur.rowcount
