"""Extract one stream for one Airflow data interval and load it into the raw layer atomically."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.engine import extract, plan_window
from passerelle.connectors.prefetch import Prefetched
from passerelle.connectors.options import validated
from passerelle.connectors.retry import RetrySettings, failures_named
from passerelle.connectors.spec import SourceSpec
from passerelle.connectors.token_store import second_connection
from passerelle.load.raw_loader import LoadStats, get_watermark, load_window

log = logging.getLogger(__name__)


def retry_settings(source: SourceSpec, config: SourceConfig) -> RetrySettings:
    """The source's retry policy, tightened or loosened by ``retry_attempts`` / ``retry_max_wait`` extras."""
    overrides = {
        name: config.option(key)
        for name, key in (("attempts", "retry_attempts"), ("max_wait", "retry_max_wait"), ("initial_wait", "retry_initial_wait"))
        if config.option(key) is not None
    }
    return replace(source.retry, **overrides)


def run_stream(
    conn,
    source: SourceSpec,
    stream_name: str,
    config: SourceConfig,
    *,
    interval_start: datetime,
    interval_end: datetime,
    run_id: str,
) -> LoadStats:
    """Plan the window from the interval and the watermark, stream it from the API into raw.

    The window's rows, its load-log entry and the watermark commit together: a failure anywhere
    (API, bad record, database) leaves the warehouse as it was, and the Airflow retry redoes it. A
    record jsonb cannot store is set aside (``raw.quarantined_records``) and does not fail the window.
    The Connection's extras are checked first: a bad one fails the run before any request or write.
    The next pages are read while the current one is copied (:mod:`passerelle.connectors.prefetch`). A
    first load is copied straight into ``raw.records`` (see :func:`passerelle.load.raw_loader.load_window`).
    """
    config = replace(validated(config, source.options, source.name, source.conn_id),
                     warehouse=partial(second_connection, conn), conn_id=config.conn_id or source.conn_id)
    stream = source.stream(stream_name)
    watermark = get_watermark(conn, source.name, stream.name)
    conn.rollback()  # the load takes its own transaction and lock
    lookback = source.lookback
    if config.option("lookback_minutes") is not None:
        lookback = timedelta(minutes=config.option("lookback_minutes"))
    window = plan_window(interval_start, interval_end, watermark.window_end if watermark else None, lookback)
    log.info(
        "%s.%s: interval [%s, %s) -> window [%s, %s) (watermark %s)",
        source.name, stream.name, interval_start, interval_end, window.start or "beginning", window.end,
        watermark.window_end if watermark else "none",
    )
    state = dict(watermark.state) if watermark else {}
    with failures_named(source.name, source.conn_id, config):
        session = source.connect(config, retry_settings(source, config))
        stats = load_window(
            conn, source=source.name, stream=stream.name, window=window,
            pages=Prefetched(extract(source, stream, session, window, state), name=f"{source.name}.{stream.name} reader"),
            run_id=run_id, logger=log, state=state, direct=True,
        )
    log.info(
        "%s.%s: %d records -> %d inserted, %d updated, %d deleted, %d unchanged; %d unloadable set aside in "
        "raw.quarantined_records, %d conflicting duplicates quarantined; in %.1fs",
        source.name, stream.name, stats.records, stats.inserted, stats.updated, stats.deleted, stats.unchanged,
        stats.unloadable, stats.quarantined, stats.seconds,
    )
    return stats
