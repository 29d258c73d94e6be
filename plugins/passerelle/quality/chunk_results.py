"""One Great Expectations result for a table validated chunk by chunk.

Each chunk of a staging table is validated with the same expectations; a row-level expectation's
results are then added up (rows, missing, unexpected, and every failing row in chunk order) and
formatted by GX's own map-output routine, so counts, percentages, ``mostly`` and the partial lists
are computed exactly as GX computes them on the whole table. Table-level expectations (the row count)
are validated once, on a column-less frame of the table's row count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.expectations.expectation import _format_map_output, _mostly_success
from great_expectations.expectations.expectation_configuration import parse_result_format


@dataclass
class _Sum:
    """The running totals of one row-level expectation over the chunks."""

    first: ExpectationValidationResult
    element_count: int = 0
    nonnull_count: int = 0
    unexpected_count: int = 0
    unexpected_list: list[Any] = field(default_factory=list)
    unexpected_index_list: list[Any] = field(default_factory=list)
    error: ExpectationValidationResult | None = None


class ChunkedResult:
    """Adds chunk results up, rule by rule (``meta["rule"]`` identifies an expectation).

    Every failing row is kept for the rules in ``keep_all`` (quarantine rules: each row is filed);
    the other rules keep their first ``sample`` failing rows beside their counts, so a warning that
    fails on most rows of a large table costs no more memory than one chunk's worth.
    """

    def __init__(self, result_format: dict[str, Any], keep_all: set[str], sample: int) -> None:
        self.result_format = parse_result_format(result_format)
        self.keep_all = keep_all
        self.sample = sample
        self.sums: dict[str, _Sum] = {}
        self.template: ExpectationSuiteValidationResult | None = None

    def add(self, result: ExpectationSuiteValidationResult) -> None:
        self.template = self.template or result
        for item in result.results:
            rule = item.expectation_config.meta["rule"]
            total = self.sums.setdefault(rule, _Sum(first=item))
            if item.exception_info and item.exception_info.get("raised_exception"):
                total.error = total.error or item
                continue
            found = item.result or {}
            elements = found.get("element_count") or 0
            total.element_count += elements
            total.nonnull_count += elements - (found.get("missing_count") or 0)
            total.unexpected_count += found.get("unexpected_count") or 0
            room = None if rule in self.keep_all else max(self.sample - len(total.unexpected_index_list), 0)
            total.unexpected_list += (found.get("unexpected_list") or [])[:room]
            total.unexpected_index_list += (found.get("unexpected_index_list") or [])[:room]

    def result(self, table_level: ExpectationSuiteValidationResult | None = None) -> ExpectationSuiteValidationResult:
        """The merged result: the row-level expectations in their order, then the table-level ones."""
        assert self.template is not None, "no chunk was added"
        items = [self._merged(total) for total in self.sums.values()]
        if table_level is not None:
            items += table_level.results
        successful = sum(1 for item in items if item.success)
        statistics = {
            "evaluated_expectations": len(items), "successful_expectations": successful,
            "unsuccessful_expectations": len(items) - successful,
            "success_percent": successful / len(items) * 100 if items else None,
        }
        return ExpectationSuiteValidationResult(
            success=successful == len(items), results=items, suite_name=self.template.suite_name,
            statistics=statistics, meta=self.template.meta, batch_id=self.template.batch_id,
        )

    def _merged(self, total: _Sum) -> ExpectationValidationResult:
        if total.error is not None:
            return total.error
        config = total.first.expectation_config
        mostly = config.kwargs.get("mostly", 1)
        vacuous = total.element_count == 0 or total.nonnull_count == 0
        success = vacuous or _mostly_success(total.nonnull_count, total.unexpected_count, mostly)
        output = _format_map_output(
            result_format=self.result_format, success=success, element_count=total.element_count,
            nonnull_count=total.nonnull_count, unexpected_count=total.unexpected_count,
            unexpected_list=total.unexpected_list, unexpected_index_list=total.unexpected_index_list,
            unexpected_index_column_names=(total.first.result or {}).get("unexpected_index_column_names"),
        )
        return ExpectationValidationResult(
            success=output["success"], expectation_config=config, result=output["result"],
            meta=total.first.meta, exception_info=total.first.exception_info,
        )
