"""Build one extract DAG per source from the connector registry.

DAG files stay thin: ``dags/extract_sources.py`` calls :func:`build_extract_dag` for every source.
Each stream is its own task (own retries, own Asset) so one failing stream neither blocks nor
reloads the others, and the Airflow UI shows per-stream state.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import (
    DAG,
    Asset,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    get_current_context,
    task,
)

from passerelle.connectors.spec import SourceSpec

WAREHOUSE_CONN_ID = "passerelle_warehouse"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

# Credentials that were refused after a refresh, or payloads that cannot be parsed, will not be
# fixed by waiting: fail the task at once so the red square is the first thing a person sees.
NO_RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception="passerelle.errors.AuthError", action=RetryAction.FAIL, reason="credentials refused"),
        RetryRule(exception="passerelle.errors.BadRecordError", action=RetryAction.FAIL, reason="bad payload"),
        RetryRule(exception="passerelle.connectors.options.ConnectionOptionsError", action=RetryAction.FAIL,
                  reason="the Connection's extras are invalid"),
    ]
)


def raw_asset(source: str, stream: str) -> Asset:
    """The Asset a stream's raw rows publish; the staging transform schedules on these."""
    return Asset(name=f"raw.{source}.{stream}", uri=f"passerelle://warehouse/raw/{source}/{stream}", group="raw")


def warehouse_connection():
    """A psycopg2 connection to the warehouse (``WAREHOUSE_URL``, else the Airflow Connection with its
    extras); psycopg2 because the loader streams with ``COPY ... FROM STDIN``."""
    from passerelle.warehouse.task_connection import connect_warehouse

    return connect_warehouse()


def extract_stream_task(source_name: str, stream_name: str) -> dict[str, Any]:
    """Task body: one stream, one data interval, one transaction."""
    from passerelle.connectors.config import SourceConfig
    from passerelle.connectors.registry import get_source
    from passerelle.connectors.run import run_stream

    context = get_current_context()
    source = get_source(source_name)
    config = SourceConfig.from_airflow(source.conn_id)
    conn = warehouse_connection()
    try:
        stats = run_stream(
            conn, source, stream_name, config,
            interval_start=context["data_interval_start"],
            interval_end=context["data_interval_end"],
            run_id=context["run_id"],
        )
    finally:
        conn.close()
    summary = {
        "window_start": stats.window_start.isoformat() if stats.window_start else None,
        "window_end": stats.window_end.isoformat(),
        "records": stats.records, "inserted": stats.inserted, "updated": stats.updated,
        "deleted": stats.deleted, "unchanged": stats.unchanged, "pages": stats.pages,
        "unloadable": stats.unloadable, "conflicting": stats.quarantined,
    }
    context["outlet_events"][raw_asset(source_name, stream_name)].extra = summary
    return summary


def build_extract_dag(source: SourceSpec) -> DAG:
    streams = "\n".join(f"- `{s.name}`: {s.description}" for s in source.streams)
    with DAG(
        dag_id=f"extract_{source.name}",
        description=f"Incremental extract of {source.title} into raw.records",
        doc_md=f"# Extract {source.title}\n\n{source.doc}\n\nStreams:\n{streams}\n\n"
        "Each run extracts its data interval `[start, end)` (plus the source's lookback, and any gap since "
        "the watermark). Backfill a past range with `airflow backfill create --dag-id "
        f"extract_{source.name} --from-date ... --to-date ...`: reruns never duplicate raw rows.",
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        max_consecutive_failed_dag_runs=5,
        dagrun_timeout=timedelta(hours=6),
        tags=["extract", *source.tags, source.name],
        default_args={
            "owner": "passerelle",
            "retries": 3,
            "retry_delay": timedelta(seconds=30),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=15),
            "execution_timeout": timedelta(hours=2),
            "retry_policy": NO_RETRY_POLICY,
        },
    ) as dag:
        for stream in source.streams:
            task(
                extract_stream_task,
                task_id=f"extract_{stream.name}",
                pool=source.pool,
                pool_slots=source.pool_slots,
                outlets=[raw_asset(source.name, stream.name)],
                doc_md=stream.description,
            )(source.name, stream.name)
    return dag
