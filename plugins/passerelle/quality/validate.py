"""Validate staging tables with their suites, quarantine failing rows, record everything.

One table is validated in one transaction: the table is locked against concurrent rebuilds, read
(with its computed checks) into pandas, validated by Great Expectations, then the quarantine, the
run row and the per-rule results are written and the failing rows deleted, and the transaction
commits. Only then, if a critical rule failed, :class:`CriticalValidationError` is raised so the
Airflow task goes red with the failure on record.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from psycopg2 import sql

from passerelle.quality import gx_context, quarantine, results
from passerelle.quality.gx_context import SAMPLE_SIZE, jsonable
from passerelle.quality.errors import CriticalValidationError
from passerelle.quality.load import AbsentEntries, absent_entries, live_raw_count, load_frame
from passerelle.quality.outcomes import RuleOutcome, TableOutcome, read_outcome
from passerelle.quality.rules import QUARANTINE, Rule, Suite, row_count_rule
from passerelle.quality.suites import build_suite
from passerelle.transform.models import STAGING_MODELS

logger = logging.getLogger(__name__)


def validate_table(conn: Any, table: str, run_id: str, as_of: date | None = None,
                   raise_on_critical: bool = True) -> TableOutcome:
    """Validate one staging table (``customers`` or ``staging.customers``); commits.

    ``as_of`` is the day the date bounds are relative to (default: today, UTC); in Airflow pass the
    run's data interval end. Raises :class:`CriticalValidationError` after committing when a critical
    rule failed, unless ``raise_on_critical`` is false.
    """
    suite = build_suite(table, as_of or datetime.now(UTC).date())
    autocommit, conn.autocommit = conn.autocommit, False  # one transaction, whatever the caller's mode
    try:
        outcome = _validate(conn, suite, run_id)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.autocommit = autocommit
    _publish_docs(conn, outcome)
    _log(outcome)
    if raise_on_critical and outcome.critical_failures:
        raise CriticalValidationError(outcome.critical_failures)
    return outcome


def validate_staging(conn: Any, run_id: str, tables: list[str] | None = None,
                     as_of: date | None = None) -> list[TableOutcome]:
    """Validate the staging tables (all by default), each after the upstream models it refers to.

    Every table is validated and committed even when an earlier one failed critically; the
    critical failures of all tables are then raised together.
    """
    order = [model.name for model in STAGING_MODELS]
    wanted = [name.removeprefix("staging.") for name in tables] if tables else order
    ordered = [name for name in order if name in wanted] + [name for name in wanted if name not in order]
    outcomes = [validate_table(conn, name, run_id, as_of, raise_on_critical=False) for name in ordered]
    failures = [failure for outcome in outcomes for failure in outcome.critical_failures]
    if failures:
        raise CriticalValidationError(failures)
    return outcomes


def _validate(conn: Any, suite: Suite, run_id: str) -> TableOutcome:
    schema, _, name = suite.table.partition(".")
    with conn.cursor() as cur:
        # Readers keep reading; a concurrent rebuild waits until the quarantine is applied.
        cur.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(schema, name)))
    frame = load_frame(conn, suite)
    rules = list(suite.rules)
    absent = absent_entries(conn, suite, frame[suite.key]) if suite.raw_streams else AbsentEntries(0, [])
    if suite.row_count:
        count_rule = row_count_rule(suite, live_raw_count(conn, suite.raw_streams), absent.held_rows)
        if count_rule:
            rules.append(count_rule)
    # GX copies its whole frame for every expectation's NULL filter: give it only the columns checked.
    checked = list(dict.fromkeys([suite.key, *(rule.column for rule in rules if rule.column)]))
    result = gx_context.run_suite(suite.table, [rule.expectation for rule in rules], frame[checked], suite.key)
    by_rule = {item.expectation_config.meta["rule"]: item for item in result.results}
    outcome = TableOutcome(
        table=suite.table, key=suite.key, run_id=run_id, row_count=len(frame),
        rules=[read_outcome(rule, by_rule[rule.id], suite.key) for rule in rules], gx_result=result,
    )
    failing = _explain(outcome.rules, frame, suite.key)
    evaluated = [o.rule.id for o in outcome.rules if o.rule.severity == QUARANTINE and not o.error]
    if evaluated or failing:  # a suite without quarantine rules (project_links) never files rows
        counts = quarantine.apply(conn, suite.table, suite.key, run_id, failing, evaluated, frame[suite.key])
        outcome.quarantined, outcome.released = counts.rows_removed, counts.released
        outcome.new_quarantine_entries = counts.new_entries
    outcome.released += quarantine.release_gone(conn, run_id, absent.gone_ids)
    outcome.data_docs = str(gx_context.docs_index())
    outcome.validation_id = results.record(conn, outcome, suite.name)
    return outcome


def _explain(outcomes: list[RuleOutcome], frame: pd.DataFrame, key: str) -> list[tuple[str, str, str]]:
    """Reasons for failing rows: every row of a quarantine rule, and the sampled rows of any rule.

    Returns (record key, rule id, reason) of the rows to quarantine, once per key and rule; the
    samples of ``outcomes`` are rewritten as {key, checked value, reason} for the results table.
    """
    needed = {record_key for o in outcomes
              for record_key, _ in (o.failing if o.rule.severity == QUARANTINE else o.failing[:SAMPLE_SIZE])}
    if not needed:
        return []
    rows = frame[frame[key].isin(needed)].drop_duplicates(key).set_index(key, drop=False).to_dict("index")
    filed: dict[tuple[str, str], str] = {}
    for o in outcomes:
        column = o.rule.column
        sample = []
        for number, (record_key, value) in enumerate(o.failing):
            if o.rule.severity != QUARANTINE and number >= SAMPLE_SIZE:
                break
            reason = _reason(o.rule, {**rows[record_key], column: value})
            if o.rule.severity == QUARANTINE:
                filed.setdefault((record_key, o.rule.id), reason)
            if number < SAMPLE_SIZE:
                checked = {} if column.startswith("_") or column == key else {column: value}
                sample.append(jsonable({key: record_key, **checked, "reason": reason}))
        if sample:
            o.sample = sample
    return [(record_key, rule_id, reason) for (record_key, rule_id), reason in filed.items()]


def _reason(rule: Rule, row: dict[str, Any]) -> str:
    try:
        return rule.explain(row)
    except (KeyError, IndexError, ValueError) as error:  # a template naming a column the row lacks
        return f"{rule.describe()} ({error.__class__.__name__}: {error})"


def _publish_docs(conn: Any, outcome: TableOutcome) -> None:
    """Rebuild the Data Docs pages of this run; a docs failure is logged and clears the recorded path."""
    try:
        key = outcome.key
        failing = {o.rule.id: [f"{line[key]}: {line['reason']}" for line in o.sample if "reason" in line]
                   for o in outcome.rules if o.failing}
        # The status shown is the task's: red only on a critical failure (warnings and quarantine keep it green).
        gx_context.publish(outcome.gx_result, outcome.run_id, failing, passed=not outcome.critical_failures)
    except Exception:
        logger.exception("Data Docs for %s could not be built", outcome.table)
        outcome.data_docs = None
        with conn.cursor() as cur:
            cur.execute("UPDATE quality.validation_runs SET data_docs = NULL WHERE validation_id = %s",
                        (outcome.validation_id,))
        conn.commit()


def _log(outcome: TableOutcome) -> None:
    logger.info(
        "%s: %d rows, %d quarantine rule(s) failed, %d row(s) quarantined, %d released, %d warning(s), %d critical",
        outcome.table, outcome.row_count, len(outcome.quarantine_failures), outcome.quarantined, outcome.released,
        len(outcome.warnings), len(outcome.critical_failures),
    )
