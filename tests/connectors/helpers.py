"""Helpers for extract tests: sandbox-backed source configs and raw-layer queries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from passerelle.connectors.config import SourceConfig
from passerelle.connectors.registry import get_source
from passerelle.connectors.run import run_stream
from passerelle.load.raw_loader import LoadStats
from passerelle.orchestration.airflow_env import sandbox_connections

DAY1 = datetime(2026, 3, 1, tzinfo=timezone.utc)
VENDOR = {"project_for_the_web": "dynamics"}
"""Sources served by another source's emulator (Project for the web lives in the Dynamics org's Dataverse)."""
FAST = {"retry_attempts": 6, "retry_initial_wait": 0.05, "retry_max_wait": 0.5}


def source_config(sandbox: Any, source: str, **extra: Any) -> SourceConfig:
    conn = sandbox_connections(sandbox.vendors, sandbox.ca_path)[f"passerelle_{source}"]
    return SourceConfig(
        host=conn["host"], login=conn.get("login"), password=conn.get("password"),
        extra={**conn["extra"], **FAST, **extra},
    )


def extract_day(conn: Any, sandbox: Any, source: str, stream: str, day: int = 0, **extra: Any) -> LoadStats:
    """Run one stream for the daily interval ``day`` days after 2026-03-01, clock set after its end."""
    start = DAY1 + timedelta(days=day)
    end = start + timedelta(days=1)
    sandbox.vendors[VENDOR.get(source, source)].control.set_clock(end + timedelta(minutes=30))
    return run_stream(
        conn, get_source(source), stream, source_config(sandbox, source, **extra),
        interval_start=start, interval_end=end, run_id=f"test__{source}_{stream}_{day}",
    )


def raw_count(conn: Any, source: str, stream: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.records WHERE source = %s AND stream = %s", (source, stream))
        value = cur.fetchone()[0]
    conn.rollback()
    return value


def raw_versions(conn: Any, source: str, stream: str) -> list[tuple[str, datetime, bool]]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT record_id, cursor_value, is_deleted FROM raw.records WHERE source = %s AND stream = %s "
            "ORDER BY record_id, cursor_value",
            (source, stream),
        )
        rows = cur.fetchall()
    conn.rollback()
    return rows


def audit_counts(conn: Any) -> tuple[int, int]:
    """(load_log rows, watermark rows): both must stay unchanged when a window fails."""
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM audit.load_log), (SELECT count(*) FROM audit.watermarks WHERE window_end IS NOT NULL)")
        value = cur.fetchone()
    conn.rollback()
    return value


def latest_version(conn: Any, source: str, stream: str, record_id: str) -> tuple[Any, bool, datetime] | None:
    """(payload, is_deleted, cursor) of a record's latest version in raw, or None."""
    with conn.cursor() as cur:
        cur.execute("SELECT payload, is_deleted, cursor_value FROM raw.records WHERE source = %s AND stream = %s"
                    " AND record_id = %s ORDER BY cursor_value DESC, is_deleted DESC LIMIT 1", (source, stream, record_id))
        row = cur.fetchone()
    conn.rollback()
    return row


def live_ids(conn: Any, source: str, stream: str) -> set[str]:
    """Ids whose latest version in raw is not a deletion."""
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM (SELECT DISTINCT ON (record_id) record_id, is_deleted FROM raw.records"
                    " WHERE source = %s AND stream = %s ORDER BY record_id, cursor_value DESC, is_deleted DESC) l"
                    " WHERE NOT is_deleted", (source, stream))
        ids = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return ids
