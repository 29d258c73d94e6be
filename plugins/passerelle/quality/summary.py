"""What a run's validation found, per table, read back from the warehouse (for the demo and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from passerelle.transform.models import MODELS

SUMMARY_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (table_name) *
      FROM quality.validation_runs
     WHERE run_id = %(run_id)s
     ORDER BY table_name, validated_at DESC, validation_id DESC
)
SELECT l.table_name, l.row_count, l.success, l.quarantined, l.released, l.data_docs,
       count(*) FILTER (WHERE NOT r.success AND r.severity = 'quarantine') AS quarantine_rules_failed,
       count(*) FILTER (WHERE NOT r.success AND r.severity = 'critical') AS critical_rules_failed,
       count(*) FILTER (WHERE NOT r.success AND r.severity = 'warning') AS warning_rules_failed,
       coalesce(sum(r.unexpected_count) FILTER (WHERE NOT r.success AND r.severity = 'warning'), 0) AS warning_rows,
       (SELECT count(*) FROM quality.quarantine q
         WHERE q.table_name = l.table_name AND q.released_at IS NULL) AS open_quarantine_entries
  FROM latest l
  JOIN quality.validation_results r USING (validation_id)
 GROUP BY l.validation_id, l.table_name, l.row_count, l.success, l.quarantined, l.released, l.data_docs
"""


@dataclass(frozen=True)
class TableSummary:
    table: str
    rows_validated: int
    success: bool
    quarantine_rules_failed: int
    critical_rules_failed: int
    warning_rules_failed: int
    warning_rows: int
    quarantined: int
    released: int
    open_quarantine_entries: int
    data_docs: str | None


def validation_summary(conn: Any, run_id: str) -> list[TableSummary]:
    """One line per table validated by ``run_id`` (its latest validation), in validation order."""
    with conn.cursor() as cur:
        cur.execute(SUMMARY_SQL, {"run_id": run_id})
        names = [column.name for column in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    order = {model.table: number for number, model in enumerate(MODELS)}
    rows.sort(key=lambda row: (order.get(row["table_name"], len(order)), row["table_name"]))
    return [
        TableSummary(
            table=row["table_name"], rows_validated=row["row_count"], success=row["success"],
            quarantine_rules_failed=row["quarantine_rules_failed"], critical_rules_failed=row["critical_rules_failed"],
            warning_rules_failed=row["warning_rules_failed"], warning_rows=int(row["warning_rows"]),
            quarantined=row["quarantined"], released=row["released"],
            open_quarantine_entries=row["open_quarantine_entries"], data_docs=row["data_docs"],
        )
        for row in rows
    ]


def format_summary(summaries: list[TableSummary]) -> str:
    """A plain-text table of :func:`validation_summary` for a terminal."""
    header = ("table", "rows", "quarantine rules", "critical", "warnings (rows)", "quarantined", "released",
              "open")
    lines = [header] + [
        (s.table, str(s.rows_validated), str(s.quarantine_rules_failed), str(s.critical_rules_failed),
         f"{s.warning_rules_failed} ({s.warning_rows})", str(s.quarantined), str(s.released),
         str(s.open_quarantine_entries))
        for s in summaries
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    docs = next((s.data_docs for s in summaries if s.data_docs), None)
    if docs:
        # The index lists runs with JavaScript from a CDN; the per-run pages are plain HTML.
        text.append(f"Data Docs: {docs} (one page per validation run under {Path(docs).parent / 'validations'})")
    return "\n".join(text)
