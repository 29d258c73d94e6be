"""SOQL aggregate queries: ``COUNT(f)``, ``COUNT_DISTINCT``, ``SUM``, ``AVG``, ``MIN``, ``MAX`` and ``GROUP BY``.

Each result row is an ``AggregateResult``: grouped fields under their own names, aggregates under
their alias or ``expr0``, ``expr1``... in select order. Sums and averages are exact (Decimal),
whatever binary float the record holds; an aggregate over no value is ``null``, a count is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from passerelle_sandbox.clock import salesforce_datetime

Record = dict[str, Any]
NUMERIC = frozenset({"int", "double", "currency", "percent", "long"})


@dataclass(frozen=True)
class AggregateColumn:
    function: str
    field: str | None
    field_type: str | None
    name: str


@dataclass(frozen=True)
class AggregatePlan:
    group_by: tuple[str, ...]
    group_types: tuple[str, ...]
    columns: tuple[tuple[str, Any], ...]  # ("group", field name) or ("aggregate", AggregateColumn)
    hidden: tuple[AggregateColumn, ...] = ()  # named only by ORDER BY or HAVING: computed, not returned
    having: Callable[[Record], bool] | None = None


def _exact(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _aggregate(column: AggregateColumn, rows: list[Record]) -> Any:
    if column.field is None:
        return len(rows)
    values = [r.get(column.field) for r in rows if r.get(column.field) is not None]
    function = column.function
    if function == "COUNT":
        return len(values)
    if function == "COUNT_DISTINCT":
        return len({str(v).casefold() if isinstance(v, str) else v for v in values})
    if not values:
        return None
    if function in ("SUM", "AVG"):
        total = sum((_exact(v) for v in values), Decimal(0))
        if function == "AVG":
            return total / len(values)
        return int(total) if column.field_type == "int" else total
    chosen = min(values) if function == "MIN" else max(values)
    return salesforce_datetime(chosen) if column.field_type == "datetime" else chosen


def aggregate_rows(plan: AggregatePlan, rows: Iterable[Record]) -> list[Record]:
    """One result per group (one in all when there is no GROUP BY), in first-seen group order."""
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for row in rows:
        key = tuple(str(row.get(f)).casefold() if isinstance(row.get(f), str) else row.get(f) for f in plan.group_by)
        groups.setdefault(key, []).append(row)
    if not plan.group_by and not groups:
        groups[()] = []
    results: list[Record] = []
    for members in groups.values():
        out: Record = {}
        for kind, column in plan.columns:
            if kind == "group":
                value = members[0].get(column)
                out[column] = value
            else:
                out[column.name] = _aggregate(column, members)
        for name in plan.group_by:  # grouped but not selected: still needed for ORDER BY
            out.setdefault(name, members[0].get(name))
        for column in plan.hidden:
            out[column.name] = _aggregate(column, members)
        results.append(out)
    return results if plan.having is None else [row for row in results if plan.having(row)]


def render_aggregate(plan: AggregatePlan, row: Record) -> Record:
    out: Record = {"attributes": {"type": "AggregateResult"}}
    for kind, column in plan.columns:
        name = column if kind == "group" else column.name
        value = row.get(name)
        if kind == "group" and value is not None and plan.group_types[plan.group_by.index(column)] == "datetime":
            value = salesforce_datetime(value)
        out[name] = value
    return out
