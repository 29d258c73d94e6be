"""The shared extract engine: window planning, page streaming and record validation.

Every source goes through :func:`extract`; only its readers differ. Records are validated as they
stream so a bad payload fails the window with an error naming source, stream and record, before
anything is committed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any, Iterator

from passerelle.connectors.paging import UnusableResponseError
from passerelle.connectors.spec import SourceSpec, StreamSpec, dig
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.errors import BadRecordError
from passerelle.exact_json import Unloadable
from passerelle.records import Page, Record, Window, utc

log = logging.getLogger(__name__)


def plan_window(
    interval_start: datetime,
    interval_end: datetime,
    watermark_end: datetime | None,
    lookback: timedelta,
) -> Window:
    """The window a run extracts.

    - No watermark yet: full history up to the interval end (the first run backfills everything).
    - Otherwise from the earlier of the interval start and the watermark, minus the lookback: a run
      that follows failed runs closes the gap, and late or lagging updates are picked up again
      (the raw layer stores each record version once, so overlap never duplicates).
    - A backfill of a past interval re-extracts exactly that interval (plus lookback).
    """
    start, end = utc(interval_start), utc(interval_end)
    if watermark_end is None:
        return Window(None, end)
    return Window(min(start, utc(watermark_end)) - lookback, end)


def to_record(source: str, stream: StreamSpec, item: Any, location: str, position: int) -> Record:
    """Validate one vendor item and turn it into a :class:`Record`."""
    where = f"#{position} at {location}"
    if not isinstance(item, dict):
        raise BadRecordError(source, stream.name, where, f"expected a JSON object, got {type(item).__name__}")
    record_id = dig(item, stream.primary_key)
    if record_id is None or record_id == "":
        raise BadRecordError(source, stream.name, where, f"missing primary key field {stream.primary_key!r}")
    # an id JSON allowed but jsonb cannot hold (NaN...) is named by its text; the loader sets the record aside
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int, Unloadable)):
        raise BadRecordError(source, stream.name, where, f"primary key field {stream.primary_key!r} has the wrong "
                             f"type: {type(record_id).__name__} {str(record_id)[:80]!r} (expected a string or integer)")
    record_id = record_id.text if isinstance(record_id, Unloadable) else str(record_id)
    deleted = bool(dig(item, stream.deleted_field)) if stream.deleted_field else False
    cursor_field = stream.deleted_cursor_field if deleted and stream.deleted_cursor_field else stream.cursor_field
    raw_cursor = dig(item, cursor_field)
    try:
        cursor = parse_timestamp(raw_cursor)
    except (TypeError, ValueError):
        raise BadRecordError(
            source, stream.name, record_id, f"cursor field {cursor_field!r} is not a timestamp: {raw_cursor!r}"
        ) from None
    return Record(record_id=record_id, cursor=cursor, payload=item, deleted=deleted)


def extract(
    source: SourceSpec, stream: StreamSpec, session: Any, window: Window, state: dict[str, Any] | None = None
) -> Iterator[Page]:
    """Stream a window of one stream as validated pages, logging progress per page."""
    state = {} if state is None else state
    started, total, number = time.monotonic(), 0, 0
    try:
        for reader in stream.readers:
            for raw in reader.pages(session, stream, window, state):
                number += 1
                if not isinstance(raw.items, list):
                    raise UnusableResponseError(f"page at {raw.location}: expected a list of records, "
                                                f"got {type(raw.items).__name__}")
                records = [to_record(source.name, stream, item, raw.location, i) for i, item in enumerate(raw.items)]
                total += len(records)
                log.info(
                    "%s.%s: page %d fetched, %d records (%d so far, %.1fs)",
                    source.name, stream.name, number, len(records), total, time.monotonic() - started,
                )
                yield Page(records=records, location=raw.location)
    except UnusableResponseError as exc:
        raise exc.name_stream(stream.name)

