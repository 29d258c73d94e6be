"""Custom Great Expectations for French and international identifiers, currencies and countries.

Each is a column map expectation with a pandas partial: the check runs once over the distinct values
(vectorised, see :mod:`passerelle.quality.identifiers`) and the verdicts are mapped back onto the
column, so a million rows cost a hash lookup each. As for every GX map expectation, NULLs are not
checked (``mostly`` applies to the non-null values); a missing value is the business of a separate
not-null rule.

Values must already be in the compact form staging stores (digits only for SIREN/SIRET, upper case
without spaces for VAT numbers): '732 829 320' is a formatting defect of the staging SQL, not a
valid SIREN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer
from great_expectations.render.renderer_configuration import RendererConfiguration, RendererValueType

from passerelle.quality import identifiers


def verdicts(column: pd.Series, check: Callable[[pd.Series], np.ndarray]) -> pd.Series:
    """``check`` run once over the distinct values of ``column``, its verdicts mapped back onto every row."""
    distinct = pd.Series(pd.unique(column), dtype=object)
    verdict = pd.Series(check(distinct), index=pd.Index(distinct, dtype=object))
    return column.map(verdict).astype(bool)


class ColumnValuesValidSiren(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_siren"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return verdicts(column, identifiers.siren_valid)


class ColumnValuesValidSiret(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_siret"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return verdicts(column, identifiers.siret_valid)


class ColumnValuesValidVatNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_vat_number"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return verdicts(column, identifiers.vat_valid)


class ColumnValuesIso4217Currency(ColumnMapMetricProvider):
    condition_metric_name = "column_values.iso4217_currency"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return verdicts(column, identifiers.currency_valid)


class ColumnValuesIso3166Alpha2(ColumnMapMetricProvider):
    condition_metric_name = "column_values.iso3166_alpha2"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return verdicts(column, identifiers.country_valid)


class _ValidValuesExpectation(ColumnMapExpectation):
    """Shared Data Docs rendering: '<column> values must be <what>'."""

    what: ClassVar[str] = ""
    success_keys = ("mostly",)
    args_keys = ("column",)

    @classmethod
    def _prescriptive_template(cls, renderer_configuration: RendererConfiguration) -> RendererConfiguration:
        renderer_configuration.add_param(name="column", param_type=RendererValueType.STRING)
        renderer_configuration.template_str = f"$column values must be {cls.what}."
        return renderer_configuration

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls, configuration: Any = None, result: Any = None, runtime_configuration: dict | None = None, **kwargs: Any,
    ) -> list[RenderedStringTemplateContent]:
        column = configuration.kwargs.get("column") if configuration else None
        return [RenderedStringTemplateContent(
            content_block_type="string_template",
            string_template={"template": f"$column values must be {cls.what}.", "params": {"column": column}},
        )]


class ExpectColumnValuesToBeValidSiren(_ValidValuesExpectation):
    """Non-null values are 9-digit SIREN numbers with a valid Luhn check digit."""

    map_metric = "column_values.valid_siren"
    what = "valid SIREN numbers (9 digits, Luhn checksum)"


class ExpectColumnValuesToBeValidSiret(_ValidValuesExpectation):
    """Non-null values are 14-digit SIRET numbers whose checksum and SIREN part are valid."""

    map_metric = "column_values.valid_siret"
    what = "valid SIRET numbers (14 digits, Luhn checksum, valid SIREN part)"


class ExpectColumnValuesToBeValidVatNumber(_ValidValuesExpectation):
    """Non-null values are VAT numbers valid for the country their prefix names (python-stdnum vatin)."""

    map_metric = "column_values.valid_vat_number"
    what = "valid VAT numbers for the country of their prefix"


class ExpectColumnValuesToBeIso4217Currency(_ValidValuesExpectation):
    """Non-null values are ISO 4217 alphabetic currency codes (pycountry)."""

    map_metric = "column_values.iso4217_currency"
    what = "ISO 4217 currency codes"


class ExpectColumnValuesToBeIso3166Alpha2(_ValidValuesExpectation):
    """Non-null values are ISO 3166-1 alpha-2 country codes (pycountry)."""

    map_metric = "column_values.iso3166_alpha2"
    what = "ISO 3166-1 alpha-2 country codes"


class ColumnValuesInRange(ColumnMapMetricProvider):
    condition_metric_name = "column_values.in_range"
    condition_value_keys = ("min_value", "max_value")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, min_value: Any = None, max_value: Any = None, **kwargs: Any) -> pd.Series:
        def inside(value: Any) -> bool:
            try:
                return (min_value is None or value >= min_value) and (max_value is None or value <= max_value)
            except ArithmeticError:  # Decimal('NaN') compares to nothing: out of range
                return False  # (a TypeError, e.g. a date bound on a timestamp column, fails the rule loudly)

        return verdicts(column, lambda distinct: np.array([inside(value) for value in distinct], dtype=bool))


class ExpectColumnValuesToBeInRange(ColumnMapExpectation):
    """Non-null values lie within [min_value, max_value] (either bound optional, both inclusive).

    GX's own between compares row by row in Python for Decimal and date columns; this compares each
    distinct value once, with the same exact Decimal/date semantics (amounts, hours and days repeat).
    """

    min_value: Any = None
    max_value: Any = None
    map_metric = "column_values.in_range"
    success_keys = ("min_value", "max_value", "mostly")
    args_keys = ("column", "min_value", "max_value")

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(
        cls, configuration: Any = None, result: Any = None, runtime_configuration: dict | None = None, **kwargs: Any,
    ) -> list[RenderedStringTemplateContent]:
        params = dict(configuration.kwargs) if configuration else {}
        low, high = params.get("min_value"), params.get("max_value")
        bounds = [f"at least {low}" if low is not None else "", f"at most {high}" if high is not None else ""]
        text = " and ".join(bound for bound in bounds if bound)
        return [RenderedStringTemplateContent(
            content_block_type="string_template",
            string_template={"template": f"$column values must be {text}.", "params": {"column": params.get("column")}},
        )]
