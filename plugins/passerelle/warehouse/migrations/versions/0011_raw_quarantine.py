"""Raw-level quarantine: records a source sent that ``jsonb`` cannot store, kept as bytes with the reason.

A string holding U+0000, a lone surrogate, NaN/Infinity, a number beyond ``numeric`` or a payload nested
deeper than the loader reads would otherwise fail its window on every retry. Such a record is set aside
here (its JSON as received, losslessly, in ``original``) and the rest of the window commits;
``audit.load_log.unloadable`` counts them per load and ``quality.raw_quarantine_summary`` (no payloads)
counts them per stream for the compliance report.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from passerelle.warehouse.ddl import Column, Table, create_statements, literal

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels = None
depends_on = None

QUARANTINED_RECORDS = Table(
    "raw.quarantined_records",
    "Records a source sent that raw.records cannot store (jsonb refuses them). One row per distinct "
    "original per stream; reruns that meet it again update last_* and times_seen.",
    [
        Column("quarantine_id", "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "Surrogate key."),
        Column("source", "text NOT NULL", "Connector name, e.g. salesforce."),
        Column("stream", "text NOT NULL", "Stream within the source, e.g. Account."),
        Column("record_id", "text", "The record's identifier at the source where one could be read (NUL and lone "
                                    "surrogates written as \\u escapes); NULL otherwise."),
        Column("cursor_value", "timestamptz", "Source modification time of the record, when it could be read."),
        Column("reason", "text NOT NULL", "Why jsonb cannot store it (NUL character, text that is not valid "
                                          "Unicode, NaN, number out of numeric range, nesting depth)."),
        Column("original", "bytea NOT NULL", "The record's JSON as received, UTF-8: every number's digits, every "
                                             "string escape (\\u0000, \\ud800), NaN and over-deep values kept as sent."),
        Column("original_sha256", "bytea GENERATED ALWAYS AS (sha256(original)) STORED",
               "SHA-256 of original: one row per distinct record content per stream."),
        Column("first_load_id", "bigint NOT NULL", "Load (audit.load_log.load_id) that first met the record."),
        Column("last_load_id", "bigint NOT NULL", "Latest load that met it."),
        Column("first_run_id", "text NOT NULL", "Airflow (or CLI) run that first met the record."),
        Column("last_run_id", "text NOT NULL", "Latest run that met it."),
        Column("first_seen_at", "timestamptz NOT NULL DEFAULT now()", "When first quarantined."),
        Column("last_seen_at", "timestamptz NOT NULL DEFAULT now()", "When last met."),
        Column("times_seen", "integer NOT NULL DEFAULT 1", "Loads that met this exact record."),
    ],
    ("UNIQUE (source, stream, original_sha256)",),
)

SUMMARY_VIEW = """
CREATE VIEW quality.raw_quarantine_summary AS
SELECT source, stream, count(*)::integer AS records, count(DISTINCT record_id)::integer AS record_ids,
       min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at,
       (array_agg(last_run_id ORDER BY last_seen_at DESC))[1] AS last_run_id
  FROM raw.quarantined_records
 GROUP BY source, stream
"""

COMMENTS = {
    "VIEW quality.raw_quarantine_summary": "Records held in raw.quarantined_records per source and stream, without "
                                           "their payloads (for reports and readers who must not see raw data).",
    "COLUMN quality.raw_quarantine_summary.source": "Connector name.",
    "COLUMN quality.raw_quarantine_summary.stream": "Stream within the source.",
    "COLUMN quality.raw_quarantine_summary.records": "Distinct unloadable records held.",
    "COLUMN quality.raw_quarantine_summary.record_ids": "Distinct record ids among them (NULL ids not counted).",
    "COLUMN quality.raw_quarantine_summary.first_seen_at": "When the oldest was first quarantined.",
    "COLUMN quality.raw_quarantine_summary.last_seen_at": "When a load last met one.",
    "COLUMN quality.raw_quarantine_summary.last_run_id": "Run of that load.",
    "COLUMN audit.load_log.unloadable": "Records of this load set aside in raw.quarantined_records.",
}


def upgrade() -> None:
    bind = op.get_bind()
    for statement in create_statements(QUARANTINED_RECORDS):
        bind.exec_driver_sql(statement)
    bind.exec_driver_sql("CREATE INDEX quarantined_records_stream_idx ON raw.quarantined_records (source, stream, "
                         "last_seen_at DESC)")
    bind.exec_driver_sql("COMMENT ON INDEX raw.quarantined_records_stream_idx IS "
                         + literal("Serves per-stream counts and listings, latest first."))
    bind.exec_driver_sql("ALTER TABLE audit.load_log ADD COLUMN unloadable integer NOT NULL DEFAULT 0")
    bind.exec_driver_sql(SUMMARY_VIEW)
    for target, comment in COMMENTS.items():
        bind.exec_driver_sql(f"COMMENT ON {target} IS {literal(comment)}")
    # BI sees the counts, never the payloads (raw.quarantined_records stays closed to it).
    bind.exec_driver_sql("GRANT SELECT ON quality.raw_quarantine_summary TO passerelle_bi")


def downgrade() -> None:
    raise NotImplementedError("warehouse migrations are forward-only: write a new revision instead")
