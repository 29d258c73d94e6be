"""Schemas, the generic raw table, watermarks and the load log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

SCHEMAS = {
    "raw": "Source data exactly as extracted: one append-only table for every source and stream.",
    "staging": "Typed, deduplicated views of raw data (latest version per record).",
    "marts": "Business-facing models built from staging.",
    "audit": "Load bookkeeping: watermarks, load log, schema version.",
}

RAW_RECORDS = """
CREATE TABLE raw.records (
    load_id      bigint      NOT NULL,
    source       text        NOT NULL,
    stream       text        NOT NULL,
    record_id    text        NOT NULL,
    cursor_value timestamptz NOT NULL,
    is_deleted   boolean     NOT NULL DEFAULT false,
    payload      jsonb       NOT NULL,
    extracted_at timestamptz NOT NULL DEFAULT now(),
    run_id       text        NOT NULL,
    window_start timestamptz NULL,
    window_end   timestamptz NOT NULL,
    CONSTRAINT records_version_key UNIQUE (source, stream, record_id, cursor_value, is_deleted)
);
CREATE INDEX records_latest_idx ON raw.records (source, stream, record_id, cursor_value DESC);
CREATE INDEX records_load_id_idx ON raw.records (load_id);
"""

AUDIT_TABLES = """
CREATE SEQUENCE audit.load_id_seq;

CREATE TABLE audit.watermarks (
    source       text        NOT NULL,
    stream       text        NOT NULL,
    cursor_value timestamptz NULL,
    window_end   timestamptz NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_run_id  text        NULL,
    PRIMARY KEY (source, stream)
);

CREATE TABLE audit.load_log (
    load_id          bigint      PRIMARY KEY DEFAULT nextval('audit.load_id_seq'),
    source           text        NOT NULL,
    stream           text        NOT NULL,
    window_start     timestamptz NULL,
    window_end       timestamptz NOT NULL,
    run_id           text        NOT NULL,
    records_received bigint      NOT NULL,
    inserted         bigint      NOT NULL,
    updated          bigint      NOT NULL,
    deleted          bigint      NOT NULL,
    unchanged        bigint      NOT NULL,
    pages            integer     NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER SEQUENCE audit.load_id_seq OWNED BY audit.load_log.load_id;
CREATE INDEX load_log_stream_idx ON audit.load_log (source, stream, finished_at DESC);
"""

COMMENTS = {
    "TABLE raw.records": "Every extracted version of every record of every source/stream. Append-only; a version "
    "(source, stream, record_id, cursor_value, is_deleted) is stored once however many windows or reruns see it.",
    "COLUMN raw.records.load_id": "The load (audit.load_log.load_id) that first stored this version.",
    "COLUMN raw.records.source": "Connector name, e.g. salesforce.",
    "COLUMN raw.records.stream": "Object/endpoint within the source, e.g. Account.",
    "COLUMN raw.records.record_id": "The record's identifier at the source.",
    "COLUMN raw.records.cursor_value": "Source modification time of this version (the incremental cursor).",
    "COLUMN raw.records.is_deleted": "True for a tombstone: the record was deleted or archived at the source.",
    "COLUMN raw.records.payload": "The record as returned by the API, unmodified.",
    "COLUMN raw.records.extracted_at": "When this version was first stored.",
    "COLUMN raw.records.run_id": "Airflow run (or CLI run) that first stored this version.",
    "COLUMN raw.records.window_start": "Start of the extraction window that first stored this version (NULL: full history).",
    "COLUMN raw.records.window_end": "End (exclusive) of the extraction window that first stored this version.",
    "INDEX raw.records_latest_idx": "Serves latest-version-per-record lookups (DISTINCT ON ... ORDER BY cursor_value DESC).",
    "INDEX raw.records_load_id_idx": "Serves incremental downstream models that process loads after a given load_id.",
    "TABLE audit.watermarks": "Per source/stream high-water marks; they only move forward.",
    "COLUMN audit.watermarks.source": "Connector name.",
    "COLUMN audit.watermarks.stream": "Stream within the source.",
    "COLUMN audit.watermarks.cursor_value": "Greatest cursor_value ever loaded for the stream (NULL: no record yet).",
    "COLUMN audit.watermarks.window_end": "Greatest extraction window end ever loaded; the next incremental window starts here.",
    "COLUMN audit.watermarks.updated_at": "When a load last touched this row.",
    "COLUMN audit.watermarks.last_run_id": "Run that last loaded a window of this stream.",
    "SEQUENCE audit.load_id_seq": "Load identifiers; values of failed (rolled back) loads are skipped.",
    "TABLE audit.load_log": "One row per successfully committed window load (failed loads leave no row).",
    "COLUMN audit.load_log.load_id": "Load identifier, also stamped on the raw.records rows it stored.",
    "COLUMN audit.load_log.source": "Connector name.",
    "COLUMN audit.load_log.stream": "Stream within the source.",
    "COLUMN audit.load_log.window_start": "Extraction window start (NULL: full history).",
    "COLUMN audit.load_log.window_end": "Extraction window end (exclusive).",
    "COLUMN audit.load_log.run_id": "Airflow run (or CLI run) that performed the load.",
    "COLUMN audit.load_log.records_received": "Records received from the source in this window, duplicates included.",
    "COLUMN audit.load_log.inserted": "Records seen for the first time.",
    "COLUMN audit.load_log.updated": "Records with a new version whose latest new version is not a tombstone.",
    "COLUMN audit.load_log.deleted": "Records whose latest new version is a tombstone.",
    "COLUMN audit.load_log.unchanged": "Records received whose version was already stored.",
    "COLUMN audit.load_log.pages": "API pages received.",
    "COLUMN audit.load_log.started_at": "When the load started.",
    "COLUMN audit.load_log.finished_at": "When the load finished (just before commit).",
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def upgrade() -> None:
    for schema, comment in SCHEMAS.items():
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        op.execute(f"COMMENT ON SCHEMA {schema} IS {_literal(comment)}")
    op.execute(RAW_RECORDS)
    op.execute(AUDIT_TABLES)
    for target, comment in COMMENTS.items():
        op.execute(f"COMMENT ON {target} IS {_literal(comment)}")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
