"""Validate staging tables with their suites, quarantine failing rows, record everything.

One table is validated in one transaction: the table is locked against concurrent rebuilds, read
(with its computed checks) through a server-side cursor in chunks of ``chunk_rows`` rows,
each chunk validated by Great Expectations with the same suite and the results added up
(:mod:`passerelle.quality.chunk_results`), then the quarantine, the run row and the per-rule results
are written and the failing rows deleted, and the transaction commits. Memory is bounded by the
chunk, not the table: chunks are cut between keys (uniqueness stays exact), foreign keys and
cross-column checks are computed in SQL, and the quarantine's presence tests are joins in Postgres. Only then, if a critical rule failed, :class:`CriticalValidationError` is raised so the
Airflow task goes red with the failure on record.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any, Literal

import pandas as pd
from psycopg2 import sql

from passerelle.quality import gx_context, load, quarantine, results
from passerelle.quality.chunk_results import ChunkedResult
from passerelle.quality.errors import CriticalValidationError
from passerelle.quality.gx_context import SAMPLE_SIZE, jsonable
from passerelle.quality.outcomes import RuleOutcome, TableOutcome, read_outcome
from passerelle.quality.rules import QUARANTINE, Rule, Suite, row_count_rule
from passerelle.quality.suites import build_suite
from passerelle.settings import settings
from passerelle.transform.models import STAGING_MODELS

logger = logging.getLogger(__name__)


def validate_table(conn: Any, table: str, run_id: str, as_of: date | None = None,
                   raise_on_critical: bool = True, chunk_rows: int | None | Literal["setting"] = "setting",
                   ) -> TableOutcome:
    """Validate one staging table (``customers`` or ``staging.customers``); commits.

    ``as_of`` is the day the date bounds are relative to (default: today, UTC); in Airflow pass the
    run's data interval end. ``chunk_rows`` rows are validated at a time (default: the
    ``chunk_rows`` setting; None: the whole table at once). Raises
    :class:`CriticalValidationError` after committing when a critical rule failed, unless
    ``raise_on_critical`` is false.
    """
    if chunk_rows == "setting":
        chunk_rows = settings().chunk_rows
    suite = build_suite(table, as_of or datetime.now(UTC).date())
    autocommit, conn.autocommit = conn.autocommit, False  # one transaction, whatever the caller's mode
    try:
        outcome = _validate(conn, suite, run_id, chunk_rows)
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


def _validate(conn: Any, suite: Suite, run_id: str, chunk_rows: int | None) -> TableOutcome:
    schema, _, name = suite.table.partition(".")
    with conn.cursor() as cur:
        # Readers keep reading; a concurrent rebuild waits until the quarantine is applied.
        cur.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(schema, name)))
    row_rules = [rule for rule in suite.rules if rule.row_level]
    table_rules = [rule for rule in suite.rules if not rule.row_level]
    # GX copies its whole frame for every expectation's NULL filter: give it only the columns checked.
    checked = list(dict.fromkeys([suite.key, *(rule.column for rule in row_rules if rule.column)]))
    merged = ChunkedResult(gx_context.result_format(suite.key),
                           keep_all={rule.id for rule in row_rules if rule.severity == QUARANTINE}, sample=SAMPLE_SIZE)
    failing_rows = FailingRows(row_rules, suite.key)
    row_count = 0
    for frame in load.chunks(conn, suite, chunk_rows):
        row_count += len(frame)
        result = gx_context.run_suite(suite.table, [rule.expectation for rule in row_rules], frame[checked], suite.key)
        merged.add(result)
        failing_rows.keep(result, frame)
    if not row_count:  # an empty table still gets every rule's (vacuous) result
        empty = pd.DataFrame(columns=load.columns(conn, suite), dtype=object)
        merged.add(gx_context.run_suite(suite.table, [rule.expectation for rule in row_rules], empty[checked],
                                        suite.key))
    absent = load.absent_entries(conn, suite) if suite.raw_streams else load.AbsentEntries(0, [])
    if suite.row_count:
        count_rule = row_count_rule(suite, load.live_raw_count(conn, suite.raw_streams, suite.table), absent.held_rows)
        if count_rule:
            table_rules.append(count_rule)
    table_result = None
    if table_rules:  # they read the row count only: a frame of that many rows and no column
        table_result = gx_context.run_suite(suite.table, [rule.expectation for rule in table_rules],
                                            pd.DataFrame(index=pd.RangeIndex(row_count)), suite.key)
    result = merged.result(table_result)
    by_rule = {item.expectation_config.meta["rule"]: item for item in result.results}
    outcome = TableOutcome(
        table=suite.table, key=suite.key, run_id=run_id, row_count=row_count,
        rules=[read_outcome(rule, by_rule[rule.id], suite.key) for rule in [*row_rules, *table_rules]],
        gx_result=result,
    )
    failing = _explain(outcome.rules, failing_rows.rows, suite.key)
    evaluated = [o.rule.id for o in outcome.rules if o.rule.severity == QUARANTINE and not o.error]
    if evaluated or failing:  # a suite without quarantine rules (project_links) never files rows
        counts = quarantine.apply(conn, suite.table, suite.key, run_id, failing, evaluated)
        outcome.quarantined, outcome.released = counts.rows_removed, counts.released
        outcome.new_quarantine_entries = counts.new_entries
    outcome.released += quarantine.release_gone(conn, run_id, absent.gone_ids)
    outcome.data_docs = str(gx_context.docs_index())
    outcome.validation_id = results.record(conn, outcome, suite.name)
    return outcome


class FailingRows:
    """The rows the reasons need, kept chunk by chunk: every failing row of a quarantine rule, and the
    first ``SAMPLE_SIZE`` failing rows of any other rule (by key; the first row of a duplicated key)."""

    def __init__(self, rules: list[Rule], key: str) -> None:
        self.key = key
        self.quarantine = {rule.id for rule in rules if rule.severity == QUARANTINE}
        self.sampled: dict[str, int] = {}
        self.rows: dict[Any, dict[str, Any]] = {}

    def keep(self, result: Any, frame: pd.DataFrame) -> None:
        needed = set()
        for item in result.results:
            rule = item.expectation_config.meta["rule"]
            failing = [row[self.key] for row in (item.result or {}).get("unexpected_index_list") or []]
            if rule not in self.quarantine:
                failing = failing[:max(SAMPLE_SIZE - self.sampled.get(rule, 0), 0)]
                self.sampled[rule] = self.sampled.get(rule, 0) + len(failing)
            needed.update(failing)
        if needed:
            found = frame[frame[self.key].isin(needed)].drop_duplicates(self.key)
            self.rows.update(found.set_index(self.key, drop=False).to_dict("index"))


def _explain(outcomes: list[RuleOutcome], rows: dict[Any, dict[str, Any]], key: str) -> list[tuple[str, str, str]]:
    """Reasons for failing rows: every row of a quarantine rule, and the sampled rows of any rule.

    ``rows`` are the failing rows by key. Returns (record key, rule id, reason) of the rows to
    quarantine, once per key and rule; the samples of ``outcomes`` are rewritten as {key, checked
    value, reason} for the results table.
    """
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
