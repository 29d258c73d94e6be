"""Load one extraction window of one stream into ``raw.records``, all or nothing.

A window load is a single transaction: the stream's watermark row is locked first (two runs of
the same stream queue up instead of interleaving), pages are streamed into a temporary table with
COPY, new record versions are appended with ``ON CONFLICT DO NOTHING`` (reruns and overlapping
windows are harmless), then the watermark and the load log are written. If anything fails, the
rollback leaves no rows, no watermark move and no load log entry, so the window can simply be
retried.

A record id that arrives twice in one window with the same cursor but different content (a source
contradicting itself across pages) is not resolved by guessing: every version goes to
``quality.quarantine`` (rule ``raw.conflicting_duplicate``) and none to ``raw.records``; the next
clean version of that record releases the quarantine entry.

A record whose content ``jsonb`` cannot store (NUL, lone surrogate, NaN, a number beyond numeric, nesting
too deep) is set aside in ``raw.quarantined_records`` with its reason and its JSON as received, in the
same transaction; the rest of the window commits, and ``LoadStats.unloadable`` and
``audit.load_log.unloadable`` count them.

Once the window has committed, the raw tables it grew by a large share are analyzed in a short
transaction of their own (:mod:`passerelle.load.statistics`), so the next window is planned against
their real size.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import psycopg2.errors
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from psycopg2.extras import Json

from passerelle import exact_json
from passerelle.load.copy import COLUMNS, PageStream, UnloadableRecordError
from passerelle.load.statistics import refresh_statistics
from passerelle.records import Page, Window

log = logging.getLogger(__name__)

TEMP_TABLE = "passerelle_load_batch"


@dataclass
class LoadStats:
    source: str
    stream: str
    window_start: datetime | None
    window_end: datetime
    run_id: str
    records: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    pages: int
    seconds: float
    quarantined: int = 0
    """Records quarantined as conflicting duplicates (``quality.quarantine``)."""
    unloadable: int = 0
    """Records jsonb cannot store, set aside in ``raw.quarantined_records``."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per step: ``prepare``, ``copy`` (includes reading the pages, which are consumed lazily),
    ``conflict_check`` and ``insert_and_classify`` (through the batch table) or ``classify`` (a first load
    copied straight into ``raw.records``), ``commit`` and ``analyze`` (deciding, and analyzing if needed)."""
    analyzed: tuple[str, ...] = ()
    """The raw tables whose statistics this window made stale, analyzed after the commit."""


@dataclass
class Watermark:
    source: str
    stream: str
    cursor: datetime | None
    window_end: datetime | None
    state: dict[str, Any] = field(default_factory=dict)


_LOCK_WATERMARK = """
INSERT INTO audit.watermarks (source, stream) VALUES (%(source)s, %(stream)s) ON CONFLICT DO NOTHING;
SELECT cursor_value, window_end FROM audit.watermarks
 WHERE source = %(source)s AND stream = %(stream)s FOR UPDATE;
"""

_CREATE_TEMP = f"""
CREATE TEMP TABLE {TEMP_TABLE} (
    ord          bigint GENERATED ALWAYS AS IDENTITY,
    record_id    text        NOT NULL,
    cursor_value timestamptz NOT NULL,
    is_deleted   boolean     NOT NULL,
    payload      jsonb       NOT NULL
) ON COMMIT DROP
"""

# All parts of one statement share a snapshot, so the EXISTS probes on raw.records see only the
# versions stored before this load, while the INSERT in ``ins`` adds the new ones. The batch holds each
# version once (_DROP_REPEATS ran first), so it is inserted as it stands: no sort of the payloads.
_INSERT_AND_CLASSIFY = f"""
WITH ins AS (
    INSERT INTO raw.records (load_id, source, stream, record_id, cursor_value, is_deleted, payload,
                             run_id, window_start, window_end)
    SELECT %(load_id)s, %(source)s, %(stream)s, record_id, cursor_value, is_deleted, payload,
           %(run_id)s, %(window_start)s, %(window_end)s
      FROM {TEMP_TABLE}
    ON CONFLICT (source, stream, record_id, cursor_value, is_deleted) DO NOTHING
    RETURNING record_id, cursor_value, is_deleted
), latest AS (
    SELECT DISTINCT ON (record_id) record_id, is_deleted
      FROM ins
     ORDER BY record_id, cursor_value DESC, is_deleted DESC
), classified AS MATERIALIZED (  -- one EXISTS probe per record, not one per FILTER
    SELECT l.is_deleted,
           EXISTS (SELECT 1 FROM raw.records r
                    WHERE r.source = %(source)s AND r.stream = %(stream)s AND r.record_id = l.record_id) AS existed
      FROM latest l
)
SELECT count(*) FILTER (WHERE NOT is_deleted AND NOT existed),
       count(*) FILTER (WHERE NOT is_deleted AND existed),
       count(*) FILTER (WHERE is_deleted),
       (SELECT count(*) FROM {TEMP_TABLE} t
         WHERE EXISTS (SELECT 1 FROM raw.records r
                        WHERE r.source = %(source)s AND r.stream = %(stream)s AND r.record_id = t.record_id
                          AND r.cursor_value = t.cursor_value AND r.is_deleted = t.is_deleted)),
       (SELECT max(cursor_value) FROM {TEMP_TABLE}),
       (SELECT count(*) FROM ins)
  FROM classified
"""

# The versions of each record that arrived with different content at the same cursor. Payloads are
# compared (sorted, deduplicated) only for the rare keys that occur more than once in the batch, never
# for the whole batch: a key met once cannot conflict.
CONFLICTING_VERSIONS = f"""
    SELECT t.record_id, t.cursor_value, t.is_deleted, jsonb_agg(DISTINCT t.payload) AS versions
      FROM {TEMP_TABLE} t
      JOIN (SELECT record_id, cursor_value, is_deleted
              FROM {TEMP_TABLE}
             GROUP BY record_id, cursor_value, is_deleted
            HAVING count(*) > 1) repeated USING (record_id, cursor_value, is_deleted)
     GROUP BY t.record_id, t.cursor_value, t.is_deleted
    HAVING count(DISTINCT t.payload) > 1
"""

# Runs before _INSERT_AND_CLASSIFY: conflicting versions leave the batch for the quarantine.
_QUARANTINE_CONFLICTS = f"""
WITH conflicts AS ({CONFLICTING_VERSIONS}), removed AS (
    DELETE FROM {TEMP_TABLE} t USING conflicts c
     WHERE t.record_id = c.record_id AND t.cursor_value = c.cursor_value AND t.is_deleted = c.is_deleted
), quarantined AS (
    INSERT INTO quality.quarantine (table_name, record_key, source_system, source_id, rule, reason, row_data,
                                    first_run_id, last_run_id)
    SELECT 'raw.' || %(source)s || '.' || %(stream)s, record_id, %(source)s, record_id, 'raw.conflicting_duplicate',
           jsonb_array_length(versions) || ' different versions of ' || %(source)s || '.' || %(stream)s || ' record '
           || record_id || ' with the same cursor ' || cursor_value || ' (duplicate id across pages)',
           jsonb_build_object('cursor_value', cursor_value, 'is_deleted', is_deleted, 'versions', versions),
           %(run_id)s, %(run_id)s
      FROM conflicts
    ON CONFLICT (table_name, record_key, rule) WHERE released_at IS NULL
    DO UPDATE SET last_run_id = EXCLUDED.last_run_id, last_seen_at = now(), reason = EXCLUDED.reason,
                  row_data = EXCLUDED.row_data
    RETURNING record_key
)
SELECT coalesce(array_agg(record_key ORDER BY record_key), '{{}}') FROM quarantined
"""

# Runs after _QUARANTINE_CONFLICTS: a version that arrived more than once (the same content on two
# pages) keeps its last copy. Only the rare repeated keys are touched, never the whole batch.
_DROP_REPEATS = f"""
DELETE FROM {TEMP_TABLE} t
 USING (SELECT record_id, cursor_value, is_deleted, max(ord) AS kept
          FROM {TEMP_TABLE}
         GROUP BY record_id, cursor_value, is_deleted
        HAVING count(*) > 1) repeated
 WHERE t.record_id = repeated.record_id AND t.cursor_value = repeated.cursor_value
   AND t.is_deleted = repeated.is_deleted AND t.ord <> repeated.kept
"""

# A newer clean version of a quarantined record (stored by this load) releases its entry.
_RELEASE_CONFLICTS = """
UPDATE quality.quarantine q
   SET released_at = now(), released_run_id = %(run_id)s
 WHERE q.table_name = 'raw.' || %(source)s || '.' || %(stream)s AND q.rule = 'raw.conflicting_duplicate'
   AND q.released_at IS NULL
   AND EXISTS (SELECT 1 FROM raw.records r
                WHERE r.source = %(source)s AND r.stream = %(stream)s AND r.record_id = q.record_key
                  AND r.cursor_value > (q.row_data ->> 'cursor_value')::timestamptz)
"""

_QUARANTINE_UNLOADABLE = """
INSERT INTO raw.quarantined_records (source, stream, record_id, cursor_value, reason, original,
                                     first_load_id, last_load_id, first_run_id, last_run_id)
VALUES (%(source)s, %(stream)s, %(record_id)s, %(cursor_value)s, %(reason)s, %(original)s,
        %(load_id)s, %(load_id)s, %(run_id)s, %(run_id)s)
ON CONFLICT (source, stream, original_sha256)
DO UPDATE SET last_load_id = EXCLUDED.last_load_id, last_run_id = EXCLUDED.last_run_id, last_seen_at = now(),
              times_seen = raw.quarantined_records.times_seen + 1, reason = EXCLUDED.reason
"""

_ADVANCE_WATERMARK = """
UPDATE audit.watermarks
   SET cursor_value = GREATEST(cursor_value, %(max_cursor)s),
       window_end = GREATEST(window_end, %(window_end)s),
       state = COALESCE(%(state)s, state),
       updated_at = now(),
       last_run_id = %(run_id)s
 WHERE source = %(source)s AND stream = %(stream)s
"""

_LOG_LOAD = """
INSERT INTO audit.load_log (load_id, source, stream, window_start, window_end, run_id, records_received,
                            inserted, updated, deleted, unchanged, pages, started_at, finished_at, unloadable)
VALUES (%(load_id)s, %(source)s, %(stream)s, %(window_start)s, %(window_end)s, %(run_id)s, %(records)s,
        %(inserted)s, %(updated)s, %(deleted)s, %(unchanged)s, %(pages)s, %(started_at)s, clock_timestamp(),
        %(unloadable)s)
"""


# A first load writes straight into raw.records (load_window's ``direct``): every record it stored is new.
_STREAM_IS_EMPTY = "SELECT NOT EXISTS (SELECT FROM raw.records WHERE source = %(source)s AND stream = %(stream)s)"

_CLASSIFY_FIRST_LOAD = """
SELECT count(*) FILTER (WHERE NOT is_deleted), count(*) FILTER (WHERE is_deleted), max(cursor_value)
  FROM (SELECT DISTINCT ON (record_id) record_id, cursor_value, is_deleted
          FROM raw.records
         WHERE source = %(source)s AND stream = %(stream)s
         ORDER BY record_id, cursor_value DESC, is_deleted DESC) latest
"""


def live_record_ids(conn: Any, source: str, stream: str) -> set[str]:
    """Ids of the stream's records whose latest version in ``raw.records`` is not a deletion: what a
    census of the vendor's ids is compared with when its deletion feed was lost. Ends its transaction."""
    with conn.cursor() as cur:
        cur.execute("""SELECT record_id FROM (SELECT DISTINCT ON (record_id) record_id, is_deleted FROM raw.records
                                               WHERE source = %s AND stream = %s
                                               ORDER BY record_id, cursor_value DESC, is_deleted DESC) latest
                        WHERE NOT is_deleted""", (source, stream))
        ids = {row[0] for row in cur.fetchall()}
    conn.rollback()
    return ids


def get_watermark(conn: Any, source: str, stream: str) -> Watermark | None:
    """The stream's watermark, or None if no window of it was ever loaded.

    Ends the transaction it opens (if it opened one) so the caller is not left idle in transaction.
    """
    opened = not conn.autocommit and conn.info.transaction_status == TRANSACTION_STATUS_IDLE
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT cursor_value, window_end, state FROM audit.watermarks WHERE source = %s AND stream = %s",
                (source, stream),
            )
            row = cur.fetchone()
    finally:
        if opened:
            conn.rollback()
    return None if row is None else Watermark(source, stream, row[0], row[1], dict(row[2] or {}))


def load_window(conn: Any, *, source: str, stream: str, window: Window, pages: Iterable[Page], run_id: str,
                logger: logging.Logger | None = None, state: dict[str, Any] | None = None,
                analyze: bool = True, direct: bool = False) -> LoadStats:
    """Load ``pages`` (consumed lazily) for ``window`` in one transaction and commit it.

    ``state`` is the readers' state for this stream; its value once the pages are exhausted is saved
    with the window, so a sync token never gets ahead of (or behind) the rows it produced.

    ``conn`` is a psycopg2 connection with autocommit off; its transaction is committed on success
    and rolled back on any error, which is then re-raised (BadRecordError for invalid records).

    ``direct=True`` copies the pages straight into ``raw.records`` when the stream holds no row yet (a
    first, full load): no batch table is written and read back, and Postgres stores each page while the
    next one is read. The rows are also spooled to a private temporary file: should a version arrive
    twice (a repeat, or two contents at one cursor), the direct copy is undone and the spooled window is
    loaded through the batch table like any other, without reading the source again.

    ``analyze=False`` leaves the statistics of the tables written to as they are (for a caller that
    loads many windows in a row and analyzes once at the end, and for measuring what analyzing saves).
    """
    logger = logger or log
    if conn.autocommit:
        raise ValueError("load_window needs a connection with autocommit off: a window is one transaction")
    if not source or not stream or not run_id:
        raise ValueError("source, stream and run_id are required")
    label = f"{source}.{stream}"
    began = time.monotonic()
    params: dict[str, Any] = {
        "source": source,
        "stream": stream,
        "run_id": run_id,
        "window_start": window.start,
        "window_end": window.end,
        "started_at": datetime.now(timezone.utc),
    }

    def page_loaded(number: int, page: Page, count: int, so_far: int) -> None:
        logger.info("%s: page %d loaded %d records (%d so far)", label, number, count, so_far)

    unloadable: list[str] = []
    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[name] = round(now - mark, 4)
        mark = now

    def set_aside(error: UnloadableRecordError) -> None:
        logger.warning("%s: record set aside in raw.quarantined_records: %s", label, _printable(str(error)))
        unloadable.append(error.record)
        cur.execute(_QUARANTINE_UNLOADABLE, {**params, **quarantine_row(error)})

    try:
        with conn.cursor() as cur:
            cur.execute(_LOCK_WATERMARK, params)
            cur.execute("SELECT nextval('audit.load_id_seq')")
            params["load_id"] = cur.fetchone()[0]
            cur.execute("SET LOCAL work_mem = '64MB'")
            if direct:
                cur.execute(_STREAM_IS_EMPTY, params)
                direct = cur.fetchone()[0]
            step("prepare")
            with tempfile.TemporaryFile(prefix="passerelle-window-") if direct else nullcontext() as spool:
                if direct:
                    constants = [(name, params[name]) for name in ("load_id", "source", "stream", "run_id",
                                                                    "window_start", "window_end")]
                    copied = PageStream(pages, source=source, stream=stream, on_page=page_loaded,
                                        keep_unloadable=True, constants=constants, spool=spool)
                    cur.execute("SAVEPOINT direct_copy")
                    try:
                        copied.copy_into(cur, "raw.records")
                    except psycopg2.errors.UniqueViolation:
                        cur.execute("ROLLBACK TO SAVEPOINT direct_copy")
                        logger.info("%s: a record version arrived twice in this first load; loading the window "
                                    "through the batch table, which sets repeats and conflicts apart", label)
                        direct = False
                        spool.seek(0)
                        cur.execute(_CREATE_TEMP)
                        cur.copy_expert(f"COPY {TEMP_TABLE} ({', '.join(COLUMNS)}) FROM STDIN", spool, size=1 << 20)
                else:
                    copied = PageStream(pages, source=source, stream=stream, on_page=page_loaded, keep_unloadable=True)
                    cur.execute(_CREATE_TEMP)
                    copied.copy_into(cur, TEMP_TABLE)
            for error in copied.unloadable:
                set_aside(error)
            records, page_count = copied.records, copied.pages
            if direct:
                step("copy")
                cur.execute(_CLASSIFY_FIRST_LOAD, params)
                inserted, deleted, max_cursor = cur.fetchone()
                updated = unchanged = 0
                rows_added, conflicting = records, []
                step("classify")
            else:
                cur.execute(f"ANALYZE {TEMP_TABLE} (record_id, cursor_value, is_deleted)")  # the keys, not payloads
                step("copy")
                cur.execute(_QUARANTINE_CONFLICTS, params)
                conflicting = cur.fetchone()[0]
                cur.execute(_DROP_REPEATS)
                step("conflict_check")
                if conflicting:
                    logger.warning("%s: %d records arrived with conflicting versions at the same cursor and were "
                                   "quarantined (quality.quarantine, rule raw.conflicting_duplicate): %s",
                                   label, len(conflicting), ", ".join(conflicting[:20]))
                cur.execute(_INSERT_AND_CLASSIFY, params)
                inserted, updated, deleted, unchanged, max_cursor, rows_added = cur.fetchone()
                step("insert_and_classify")
            cur.execute(_RELEASE_CONFLICTS, params)
            params.update(records=records, pages=page_count, inserted=inserted, updated=updated,
                          deleted=deleted, unchanged=unchanged, max_cursor=max_cursor, unloadable=len(unloadable))
            params["state"] = Json(state) if state is not None else None
            cur.execute(_ADVANCE_WATERMARK, params)
            cur.execute(_LOG_LOAD, params)
        conn.commit()
        step("commit")
    except BaseException:
        _rollback_quietly(conn, label, logger)
        raise
    analyzed: tuple[str, ...] = ()
    if analyze:
        added = {"raw.records": rows_added, "raw.quarantined_records": len(unloadable)}
        analyzed, seconds = refresh_statistics(conn, added, logger, label)
        timings["analyze"] = round(seconds, 4)
    stats = LoadStats(source, stream, window.start, window.end, run_id, records, inserted, updated, deleted,
                      unchanged, page_count, round(time.monotonic() - began, 3), len(conflicting), len(unloadable),
                      timings, analyzed)
    logger.info(
        "%s: window [%s, %s) loaded (load %s): %d records in %d pages, %d inserted, %d updated, %d deleted,"
        " %d unchanged, %d unloadable set aside in %.1fs",
        label, _fmt(window.start), _fmt(window.end), params["load_id"], records, page_count, inserted, updated,
        deleted, unchanged, len(unloadable), stats.seconds,
    )
    return stats


def quarantine_row(error: UnloadableRecordError) -> dict[str, Any]:
    """The columns of ``raw.quarantined_records`` that describe one unloadable record."""
    record = error.item
    record_id = record.record_id if isinstance(record.record_id, str) and record.record_id else None
    cursor = record.cursor if isinstance(record.cursor, datetime) and record.cursor.tzinfo else None
    return {
        "record_id": _printable(record_id) if record_id is not None else None,
        "cursor_value": cursor,
        "reason": _printable(error.problem),
        "original": exact_json.dumps_lossless(record.payload).encode("utf-8", "surrogatepass"),
    }


def _printable(text: str) -> str:
    """``text`` storable in a text column: NUL and lone surrogates written as ``\\u`` escapes."""
    if text.isascii() and "\x00" not in text:
        return text
    return "".join(f"\\u{ord(c):04x}" if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def unloadable_counts(conn: Any, run_id: str | None = None) -> dict[tuple[str, str], int]:
    """Records held in ``raw.quarantined_records`` per (source, stream): all of them, or those a run met."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT source, stream, count(*) FROM raw.quarantined_records"
            " WHERE %(run_id)s::text IS NULL OR last_run_id = %(run_id)s GROUP BY source, stream",
            {"run_id": run_id},
        )
        return {(source, stream): count for source, stream, count in cur.fetchall()}


def _rollback_quietly(conn: Any, label: str, logger: logging.Logger) -> None:
    """Roll back without masking the original error if the connection itself is gone."""
    try:
        conn.rollback()
    except Exception:
        logger.exception("%s: rollback failed (connection lost?); the load transaction was not committed", label)
    else:
        logger.warning("%s: window load rolled back, nothing was stored", label)


def _fmt(moment: datetime | None) -> str:
    return "-inf" if moment is None else moment.isoformat()
