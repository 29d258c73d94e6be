"""What one suite run found, rule by rule, read from the GX validation result."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from great_expectations.core import ExpectationValidationResult

from passerelle.quality.errors import CriticalFailure
from passerelle.quality.gx_context import SAMPLE_SIZE, jsonable
from passerelle.quality.rules import CRITICAL, QUARANTINE, WARNING, Rule


@dataclass
class RuleOutcome:
    rule: Rule
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: Decimal | None
    sample: list[Any]
    kwargs: dict[str, Any]
    observed: Any = None
    error: str | None = None
    # Failing rows of a row-level rule: (key, value of the checked column), every one of them.
    failing: list[tuple[Any, Any]] = field(default_factory=list)

    @property
    def expectation_type(self) -> str:
        return self.rule.expectation.expectation_type

    def critical_failure(self, table: str) -> CriticalFailure | None:
        """A failure that must fail the run: a critical rule, or any rule GX could not evaluate."""
        if self.error:
            return CriticalFailure(table, self.rule.id, f"could not be evaluated: {self.error}")
        if self.success or self.rule.severity != CRITICAL:
            return None
        if self.rule.row_level:
            detail = f"{self.unexpected_count} of {self.element_count} rows fail: {self.rule.describe()}"
        else:
            detail = f"{self.rule.describe()}; observed {self.observed}"
        return CriticalFailure(table, self.rule.id, detail)


def read_outcome(rule: Rule, item: ExpectationValidationResult, key: str) -> RuleOutcome:
    result = item.result or {}
    error = _error(item.exception_info)
    if not error and not item.success and rule.row_level and result.get("unexpected_count") is None:
        error = "no result"
    percent = result.get("unexpected_percent")
    failing: list[tuple[Any, Any]] = []
    if rule.row_level and not error:
        column = rule.column
        failing = [(row[key], row.get(column, row[key])) for row in result.get("unexpected_index_list") or []]
    if error:
        sample = [{"error": error}]
    elif rule.row_level:
        sample = jsonable((result.get("unexpected_index_list") or [])[:SAMPLE_SIZE])
    else:
        sample = [jsonable({"observed_value": result.get("observed_value")})]
    return RuleOutcome(
        rule=rule,
        success=bool(item.success) and not error,
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=None if percent is None else Decimal(str(percent)),
        sample=sample,
        kwargs=jsonable(item.expectation_config.kwargs if item.expectation_config else {}),
        observed=result.get("observed_value"),
        error=error,
        failing=failing,
    )


def _error(info: dict[str, Any] | None) -> str | None:
    """First line of the exception GX caught, if any: ``info`` is either one exception record or a
    record per failed metric, keyed by metric id."""
    if not info:
        return None
    records = [info] if "raised_exception" in info else [value for value in info.values() if isinstance(value, dict)]
    for record in records:
        if record.get("raised_exception"):
            message = str(record.get("exception_message") or "unknown error").strip()
            return message.splitlines()[0] if message else "unknown error"
    return None


@dataclass
class TableOutcome:
    """One table's validation: counts for the run row and the demo, and every rule's outcome."""

    table: str
    key: str
    run_id: str
    row_count: int
    rules: list[RuleOutcome]
    quarantined: int = 0
    released: int = 0
    new_quarantine_entries: int = 0
    validation_id: int | None = None
    data_docs: str | None = None
    gx_result: Any = field(default=None, repr=False)  # the complete GX result, for the Data Docs

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.rules)

    @property
    def critical_failures(self) -> list[CriticalFailure]:
        return [f for f in (outcome.critical_failure(self.table) for outcome in self.rules) if f]

    def failed(self, severity: str) -> list[RuleOutcome]:
        return [o for o in self.rules if not o.success and not o.error and o.rule.severity == severity]

    @property
    def warnings(self) -> list[RuleOutcome]:
        return self.failed(WARNING)

    @property
    def quarantine_failures(self) -> list[RuleOutcome]:
        return self.failed(QUARANTINE)
