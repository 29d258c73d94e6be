"""Rules: a Great Expectations expectation with a stable id, a severity and a reason for humans.

Severities:

- ``quarantine``: row-level. Every row failing the rule is copied to ``quality.quarantine`` with the
  rule id and a reason naming the field and value, then deleted from the staging table.
- ``critical``: table-level. A failure fails the run (the task goes red) once results are saved.
- ``warning``: recorded in ``quality.validation_results`` and reported; rows are kept.

Checks that span columns or tables (a SIRET that starts with its SIREN, a foreign key that must exist
in its parent) are computed in the SQL that loads the table, as boolean columns whose name starts
with ``_``: NULL when the check does not apply, so GX skips them like any NULL.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    Expectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metadata_types import FailureSeverity

from passerelle.quality.expectations import ExpectColumnValuesToBeInRange
from passerelle.quality.xml_text import SQL_UNSAFE, unsafe_reason

Severity = Literal["quarantine", "critical", "warning"]
QUARANTINE: Severity = "quarantine"
CRITICAL: Severity = "critical"
WARNING: Severity = "warning"
SEVERITIES: tuple[Severity, ...] = (QUARANTINE, CRITICAL, WARNING)

# GX's own severity, shown in Data Docs: quarantined rows are handled, warnings are only reported.
GX_SEVERITY = {CRITICAL: FailureSeverity.CRITICAL, QUARANTINE: FailureSeverity.WARNING, WARNING: FailureSeverity.INFO}

Reason = str | Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Reference:
    """A foreign key that must exist in its parent table (as the parent stands after its own quarantine)."""

    column: str
    parent: str
    parent_key: str

    @property
    def check(self) -> str:
        return f"_{self.column.removesuffix('_key')}_found"


@dataclass(frozen=True)
class Rule:
    """``reason`` is a ``str.format`` template over the failing row's columns, or a function of the row.

    ``check_sql`` is the SQL (over the staged row ``t``) of the computed column the expectation reads;
    ``reference`` the foreign key whose presence in the parent table that column tells.
    """

    id: str
    severity: Severity
    expectation: Expectation
    reason: Reason
    check_sql: str | None = None
    reference: Reference | None = None
    also_reads: tuple[str, ...] = ()  # columns a reason given as a function needs besides the checked one

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.id}: unknown severity {self.severity!r}")
        if self.severity == QUARANTINE and not self.row_level:
            raise ValueError(f"{self.id}: only row-level expectations can quarantine rows")
        # meta carries the rule back in the results; Data Docs show the description instead of GX's
        # generic sentence ("_b2b_siren_present values must belong to this set: True").
        self.expectation.meta = {"rule": self.id, "severity": self.severity}
        self.expectation.description = f"{self.id} ({self.severity}): {self.describe()}"
        self.expectation.severity = GX_SEVERITY[self.severity]

    @property
    def row_level(self) -> bool:
        return isinstance(self.expectation, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation))

    @property
    def column(self) -> str | None:
        return getattr(self.expectation, "column", None)

    @property
    def reads(self) -> set[str]:
        """Columns the rule needs from the row: the one checked, those its reason names, and ``also_reads``
        (a reason given as a function reads the checked column and those)."""
        fields = ({self.column} if self.column else set()) | set(self.also_reads)
        if isinstance(self.reason, str):
            fields |= {name for _, name, _, _ in string.Formatter().parse(self.reason) if name}
        return fields

    def explain(self, row: Mapping[str, Any]) -> str:
        """The reason for one failing row."""
        if callable(self.reason):
            return self.reason(row)
        return self.reason.format_map(_Row(row))

    def describe(self) -> str:
        """The reason as a template (for Data Docs and table-level failures)."""
        return self.reason if isinstance(self.reason, str) else (self.reason.__doc__ or self.id).strip()


class _Row(dict):
    """Row values for reason templates; NULL prints as NULL rather than None."""

    def __getitem__(self, name: str) -> Any:
        value = super().__getitem__(name)
        return "NULL" if value is None or (isinstance(value, float) and math.isnan(value)) else value


@dataclass(frozen=True)
class Suite:
    """The rules of one table, the computed checks they read, and the raw-row-count sanity bound.

    ``row_count`` compares the staging row count (before quarantine) with the live raw records of
    ``raw_streams``: ``equal`` for tables built one row per raw record, ``at_most`` for tables derived
    from streams that each record may feed at most once (a Trello card is a task, a milestone or a
    time entry, never two rows of one table), which must also be non-empty when raw is not, unless
    ``may_be_empty`` (milestones: many projects have none).
    """

    table: str
    key: str
    rules: tuple[Rule, ...]
    row_count: Literal["equal", "at_most"] | None = None
    raw_streams: tuple[tuple[str, str], ...] = ()
    may_be_empty: bool = False

    @property
    def name(self) -> str:
        return self.table

    @property
    def short(self) -> str:
        return self.table.partition(".")[2]

    @property
    def columns(self) -> list[str]:
        """Table columns read for validation: the key, then what the rules check and their reasons name."""
        computed = set(self.checks) | {reference.check for reference in self.references}
        return [self.key, *sorted(set().union(*(rule.reads for rule in self.rules)) - computed - {self.key})]

    @property
    def checks(self) -> dict[str, str]:
        """Computed check columns: name -> SQL expression over the staged row ``t``."""
        return {rule.column: rule.check_sql for rule in self.rules if rule.check_sql and rule.column}

    @property
    def references(self) -> list[Reference]:
        return [rule.reference for rule in self.rules if rule.reference]

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.id == rule_id)


def row_count_rule(suite: Suite, raw_live: int, held: int = 0) -> Rule | None:
    """The critical row-count rule of ``suite``: ``raw_live`` live raw records, ``held`` rows of them
    still in quarantine from earlier runs (not in staging until the next rebuild). None if not applicable."""
    rule_id = f"{suite.short}.row_count_vs_raw"
    expected = max(raw_live - held, 0)
    held_note = f", less {held} held in quarantine" if held else ""
    if suite.row_count == "equal":
        return Rule(rule_id, CRITICAL, gxe.ExpectTableRowCountToEqual(value=expected),
                    f"{suite.table} must hold one row per live raw record ({raw_live}{held_note})")
    if suite.row_count == "at_most":
        low = 1 if raw_live and not held and not suite.may_be_empty else 0
        return Rule(rule_id, CRITICAL, gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=expected),
                    f"{suite.table} must hold {low} .. {expected} rows: at most one per live raw record "
                    f"({raw_live}{held_note})")
    return None


# Rule builders: the usual shapes, named so that suites read like a list of requirements.

def not_null(table: str, column: str, severity: Severity, reason: str | None = None) -> Rule:
    return Rule(f"{table}.{column}_not_null", severity, gxe.ExpectColumnValuesToNotBeNull(column=column),
                reason or f"missing {column}")


def unique_key(table: str, column: str) -> Rule:
    return Rule(f"{table}.{column}_unique", QUARANTINE, gxe.ExpectColumnValuesToBeUnique(column=column),
                f"duplicate {column} '{{{column}}}'")


def identity(table: str, key: str) -> list[Rule]:
    """Key present and unique, source system and id present: what every staging table needs.

    The three columns are NOT NULL in the DDL, so a NULL there means the contract changed: critical,
    and such a row could not be filed in quarantine under a key anyway.
    """
    return [
        not_null(table, key, CRITICAL),
        unique_key(table, key),
        not_null(table, "source_system", CRITICAL),
        not_null(table, "source_id", CRITICAL),
    ]


def is_true(rule_id: str, severity: Severity, check_sql: str, reason: Reason) -> Rule:
    """A check computed in SQL over the staged row ``t`` must be TRUE (NULL: not applicable)."""
    column = "_" + rule_id.partition(".")[2]
    expectation = gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True])
    return Rule(rule_id, severity, expectation, reason, check_sql=check_sql)


def xml_text(table: str, column: str) -> Rule:
    """``column`` holds only characters XML 1.0 can carry (rule ``<table>.<column>_xml_text``): every
    document Passerelle writes is XML, so a control character would stop the row at issuing."""
    def reason(row: Mapping[str, Any]) -> str:
        return unsafe_reason(column, row.get(column)) or f"{column} holds a character XML 1.0 cannot carry"

    reason.__doc__ = f"{column} holds a character XML 1.0 cannot carry (control character, U+FFFE or U+FFFF)"
    check = f"CASE WHEN t.{column} IS NOT NULL THEN t.{column} !~ '{SQL_UNSAFE}' END"
    rule = is_true(f"{table}.{column}_xml_text", QUARANTINE, check, reason)
    return Rule(rule.id, rule.severity, rule.expectation, rule.reason, check_sql=rule.check_sql,
                also_reads=(column,))


def references(table: str, column: str, parent: str, parent_key: str, severity: Severity, reason: str) -> Rule:
    """``column`` (when not NULL) names a row of ``parent``: rule ``<table>.<column without _key>_exists``."""
    reference = Reference(column, parent, parent_key)
    expectation = gxe.ExpectColumnValuesToBeInSet(column=reference.check, value_set=[True])
    return Rule(f"{table}.{column.removesuffix('_key')}_exists", severity, expectation, reason, reference=reference)


def between(rule_id: str, severity: Severity, column: str, reason: Reason,
            min_value: Any = None, max_value: Any = None) -> Rule:
    """Inclusive bounds, compared exactly (Decimal with Decimal or int, date with date)."""
    expectation = ExpectColumnValuesToBeInRange(column=column, min_value=min_value, max_value=max_value)
    return Rule(rule_id, severity, expectation, reason)


def in_set(rule_id: str, severity: Severity, column: str, values: list[Any], reason: Reason) -> Rule:
    return Rule(rule_id, severity, gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values), reason)
