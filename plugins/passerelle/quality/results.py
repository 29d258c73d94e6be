"""Recording a suite run: one ``quality.validation_runs`` row and one ``validation_results`` row per rule."""

from __future__ import annotations

from typing import Any

from psycopg2.extras import Json, execute_values

from passerelle.quality.outcomes import TableOutcome


def record(conn: Any, outcome: TableOutcome, suite: str) -> int:
    """Insert the run and its results in the caller's transaction; returns the validation id."""
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO quality.validation_runs (
                run_id, suite, table_name, row_count, success, critical_failures, warnings,
                quarantined, released, data_docs)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING validation_id
            """,
            (outcome.run_id, suite, outcome.table, outcome.row_count, outcome.success,
             len(outcome.critical_failures), len(outcome.warnings), outcome.quarantined, outcome.released,
             outcome.data_docs),
        )
        validation_id = cur.fetchone()[0]
        execute_values(
            cur,
            """
            INSERT INTO quality.validation_results (
                validation_id, run_id, suite, expectation, column_name, rule, severity, success,
                element_count, unexpected_count, unexpected_percent, sample, kwargs)
            VALUES %s
            """,
            [
                (validation_id, outcome.run_id, suite, rule.expectation_type, rule.rule.column, rule.rule.id,
                 rule.rule.severity, rule.success, rule.element_count, rule.unexpected_count,
                 rule.unexpected_percent, Json(rule.sample), Json(rule.kwargs))
                for rule in outcome.rules
            ],
        )
    return validation_id
