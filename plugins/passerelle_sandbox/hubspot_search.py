"""HubSpot CRM search request validation and matching (``POST /crm/v3/objects/{type}/search``).

``filterGroups`` are OR-ed, filters inside a group AND-ed. Limits are checked like the API does
(groups, filters per group and in total, page size) and answered with ``VALIDATION_ERROR``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from passerelle_sandbox.hubspot_model import FilterValueError, PropertyDef, comparable

Record = dict[str, Any]
Matcher = Callable[[Record], bool]
OPERATORS = frozenset(
    {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
     "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
)
QUERY_PROPERTIES = ("name", "domain", "email", "firstname", "lastname", "dealname", "phone", "hs_sku")


class SearchError(ValueError):
    """An invalid search request (answered 400 ``VALIDATION_ERROR``)."""


@dataclass(frozen=True)
class SearchLimits:
    max_groups: int
    max_filters_per_group: int
    max_filters_total: int
    max_page: int
    max_results: int


@dataclass
class SearchRequest:
    matcher: Matcher
    sort_property: PropertyDef | None
    descending: bool
    properties: list[str] | None
    limit: int
    after: int


def stored(definition: PropertyDef | None, value: Any) -> Any:
    try:
        return comparable(definition, value)
    except FilterValueError:
        return None


def _filter(defs: dict[str, PropertyDef], spec: Any) -> Matcher:
    if not isinstance(spec, dict):
        raise SearchError("each filter must be an object")
    name, operator = spec.get("propertyName"), spec.get("operator")
    if not isinstance(name, str) or not name:
        raise SearchError("filter is missing propertyName")
    if operator not in OPERATORS:
        raise SearchError(f"Invalid operator '{operator}'. Valid operators: {sorted(OPERATORS)}")
    definition = defs.get(name)
    if definition is None:
        raise SearchError(f"Unable to find property '{name}'")

    def get(record: Record) -> Any:
        return stored(definition, record["properties"].get(name))

    if operator == "HAS_PROPERTY":
        return lambda r: r["properties"].get(name) not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: r["properties"].get(name) in (None, "")
    try:
        if operator in ("IN", "NOT_IN"):
            values = spec.get("values")
            if not isinstance(values, list) or not values:
                raise SearchError(f"operator {operator} needs a non-empty 'values' list")
            allowed = frozenset(comparable(definition, v) for v in values)
            if operator == "IN":
                return lambda r: get(r) in allowed
            return lambda r: get(r) not in allowed
        if "value" not in spec or spec["value"] is None:
            raise SearchError(f"operator {operator} on '{name}' needs a 'value'")
        value = comparable(definition, spec["value"])
        if operator == "BETWEEN":
            if spec.get("highValue") is None:
                raise SearchError(f"operator BETWEEN on '{name}' needs a 'highValue'")
            high = comparable(definition, spec["highValue"])
            return lambda r: (v := get(r)) is not None and value <= v <= high
    except FilterValueError as exc:
        raise SearchError(str(exc)) from None
    if operator == "EQ":
        return lambda r: get(r) == value
    if operator == "NEQ":
        return lambda r: get(r) != value
    if operator == "LT":
        return lambda r: (v := get(r)) is not None and v < value
    if operator == "LTE":
        return lambda r: (v := get(r)) is not None and v <= value
    if operator == "GT":
        return lambda r: (v := get(r)) is not None and v > value
    if operator == "GTE":
        return lambda r: (v := get(r)) is not None and v >= value
    token = str(value).strip("*")
    if operator == "CONTAINS_TOKEN":
        return lambda r: (v := get(r)) is not None and token in str(v)
    return lambda r: (v := get(r)) is None or token not in str(v)


def parse_search(body: Any, defs: dict[str, PropertyDef], limits: SearchLimits) -> SearchRequest:
    if not isinstance(body, dict):
        raise SearchError("Invalid input JSON: the search request must be a JSON object")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise SearchError("filterGroups must be a list")
    if len(groups) > limits.max_groups:
        raise SearchError(f"Too many filter groups: {len(groups)} (maximum {limits.max_groups})")
    total = 0
    group_matchers: list[Matcher] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchError("each filter group needs a 'filters' list")
        if len(filters) > limits.max_filters_per_group:
            raise SearchError(
                f"Too many filters in a filter group: {len(filters)} (maximum {limits.max_filters_per_group})"
            )
        total += len(filters)
        matchers = [_filter(defs, spec) for spec in filters]
        group_matchers.append(lambda r, ms=matchers: all(m(r) for m in ms))
    if total > limits.max_filters_total:
        raise SearchError(f"Too many filters: {total} (maximum {limits.max_filters_total} across all groups)")
    matcher: Matcher = (lambda r: any(g(r) for g in group_matchers)) if group_matchers else (lambda r: True)
    query = body.get("query")
    if isinstance(query, str) and query.strip():
        needle = query.strip().casefold()
        base = matcher
        matcher = lambda r: base(r) and any(  # noqa: E731
            needle in str(r["properties"].get(p) or "").casefold() for p in QUERY_PROPERTIES
        )
    sort_property, descending = _sort(body.get("sorts"), defs)
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or limit < 0:
        raise SearchError("limit must be a non-negative integer")
    if limit > limits.max_page:
        raise SearchError(f"limit must be less than or equal to {limits.max_page}")
    after_raw = body.get("after", 0)
    try:
        after = int(after_raw or 0)
    except (TypeError, ValueError):
        raise SearchError(f"Invalid after value '{after_raw}'") from None
    if after < 0:
        raise SearchError("after must not be negative")
    if after + limit > limits.max_results:
        raise SearchError(
            f"Search results are limited to {limits.max_results} per query: after={after} with limit={limit} "
            f"pages past result {limits.max_results}. Narrow the filters instead of paging further."
        )
    properties = body.get("properties")
    if properties is not None:
        if isinstance(properties, str):
            properties = [p for p in properties.split(",") if p]
        if not isinstance(properties, list):
            raise SearchError("properties must be a list of property names")
    return SearchRequest(matcher, sort_property, descending, properties, limit, after)


def _sort(sorts: Any, defs: dict[str, PropertyDef]) -> tuple[PropertyDef | None, bool]:
    if not sorts:
        return None, False
    if not isinstance(sorts, list):
        raise SearchError("sorts must be a list")
    if len(sorts) > 1:
        raise SearchError("Only one sort is allowed per search request")
    sort = sorts[0]
    if isinstance(sort, str):
        name, descending = sort.lstrip("-"), sort.startswith("-")
    elif isinstance(sort, dict):
        name = sort.get("propertyName")
        direction = str(sort.get("direction", "ASCENDING")).upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise SearchError(f"Invalid sort direction '{direction}'")
        descending = direction == "DESCENDING"
    else:
        raise SearchError("each sort must be an object")
    definition = defs.get(name) if isinstance(name, str) else None
    if definition is None:
        raise SearchError(f"Unable to sort by unknown property '{name}'")
    return definition, descending


def order(records: list[Record], request: SearchRequest) -> list[Record]:
    """Sort by the requested property (missing values last), ties by numeric id ascending."""
    records.sort(key=lambda r: int(r["id"]))
    definition = request.sort_property
    if definition is None:
        return records
    name = definition.name
    keyed = [(stored(definition, r["properties"].get(name)), r) for r in records]
    present = [pair for pair in keyed if pair[0] is not None]
    missing = [r for value, r in keyed if value is None]
    # ``reverse`` keeps equal keys in input order (id ascending), as for ascending sorts.
    present.sort(key=lambda pair: pair[0], reverse=request.descending)
    return [r for _, r in present] + missing


def naive_search(records: Iterable[Record], request: SearchRequest, modified: str,
                 visible_until: str | None) -> tuple[int, list[Record]]:
    """``(total, page)`` by filtering and sorting every record: any query shape, O(n log n) a page."""
    matches = [
        r for r in records
        if not r.get("archived")
        and (visible_until is None or (r["properties"].get(modified) or "") <= visible_until)
        and request.matcher(r)
    ]
    ordered = order(matches, request)
    return len(ordered), ordered[request.after : request.after + request.limit]
