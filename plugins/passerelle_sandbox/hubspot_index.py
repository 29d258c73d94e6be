"""An ordered index answering the incremental CRM search without scanning the whole store.

Extractors ask one shape of query again and again: the modification property inside a range, maybe
``hs_object_id`` above the last id read, sorted by ``hs_object_id`` ascending, paged with ``after``.
Filtering and sorting every record for every page cost ~300 ms a page at 50,000 records. The index
keeps the live records in id order with their modification values, plus the same positions ordered by
modification value, so a query costs O(log n) bisects and a page O(page):

- few candidates in the modification range: they are taken from the modification order, sorted by id
  once, and the sorted positions are kept for the following pages;
- many candidates: the id order is scanned from the position where the previous page stopped.

``total`` is counted per block of positions (a sorted copy of each block's values), without a scan.
Any other query shape (other properties, OR-ed groups, text query, another sort) is left to the
plain filter; :func:`plan_search` says which is which. The index is rebuilt after any change to the
records, so it never disagrees with them.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from passerelle_sandbox.clock import is_canonical
from passerelle_sandbox.hubspot_model import FilterValueError, PropertyDef, comparable
from passerelle_sandbox.hubspot_search import stored

Record = dict[str, Any]
BLOCK = 512
CACHED_QUERIES = 32
ID_PROPERTY = "hs_object_id"


@dataclass(frozen=True)
class Bound:
    value: Any
    inclusive: bool


@dataclass(frozen=True)
class SearchPlan:
    """The query as two ranges: on the modification value and on ``hs_object_id``."""

    mod_low: Bound | None = None
    mod_high: Bound | None = None
    id_low: Bound | None = None
    id_high: Bound | None = None


def _tighter(current: Bound | None, new: Bound, low: bool) -> Bound:
    if current is None:
        return new
    if new.value == current.value:
        return Bound(new.value, new.inclusive and current.inclusive)
    return new if (new.value > current.value) == low else current


def plan_search(body: dict[str, Any], defs: dict[str, PropertyDef], modified: str,
                visible_until: str | None = None) -> SearchPlan | None:
    """The plan of a validated search body, or None when the index does not cover its shape."""
    groups = body.get("filterGroups") or []
    if len(groups) > 1 or (isinstance(body.get("query"), str) and body["query"].strip()):
        return None
    sorts = body.get("sorts") or []
    if sorts:
        sort = sorts[0]
        if isinstance(sort, str):
            if sort != ID_PROPERTY:
                return None
        elif sort.get("propertyName") != ID_PROPERTY or str(sort.get("direction", "ASCENDING")).upper() != "ASCENDING":
            return None
    bounds: dict[str, Bound | None] = {"mod_low": None, "mod_high": None, "id_low": None, "id_high": None}
    for spec in (groups[0].get("filters") or []) if groups else []:
        name, operator = spec.get("propertyName"), spec.get("operator")
        prefix = "mod" if name == modified else "id" if name == ID_PROPERTY else None
        if prefix is None or operator not in ("GT", "GTE", "LT", "LTE", "EQ", "BETWEEN"):
            return None
        try:
            value = comparable(defs[name], spec.get("value"))
            high = comparable(defs[name], spec.get("highValue")) if operator == "BETWEEN" else value
        except FilterValueError:
            return None
        if value is None or high is None:
            return None
        if operator in ("GT", "GTE", "EQ", "BETWEEN"):
            bound = Bound(value, operator != "GT")
            bounds[f"{prefix}_low"] = _tighter(bounds[f"{prefix}_low"], bound, low=True)
        if operator in ("LT", "LTE", "EQ", "BETWEEN"):
            bound = Bound(high, operator != "LT")
            bounds[f"{prefix}_high"] = _tighter(bounds[f"{prefix}_high"], bound, low=False)
    if visible_until is not None:
        if bounds["mod_low"] is None and bounds["mod_high"] is None:
            return None  # the lag filter alone also keeps records without a modification value
        bounds["mod_high"] = _tighter(bounds["mod_high"], Bound(visible_until, True), low=False)
    return SearchPlan(**bounds)


def _slice(values: list[Any], low: Bound | None, high: Bound | None) -> tuple[int, int]:
    """Positions ``[start, end)`` of the sorted ``values`` inside the bounds."""
    start = 0 if low is None else (bisect.bisect_left if low.inclusive else bisect.bisect_right)(values, low.value)
    end = len(values) if high is None else (bisect.bisect_right if high.inclusive else bisect.bisect_left)(
        values, high.value)
    return start, max(start, end)


def _reader(definition: PropertyDef | None) -> Callable[[Any], Any]:
    """:func:`stored` for one property, skipping the parse of values already in comparable form."""
    if definition is not None and definition.type == "datetime":
        return lambda value: value if is_canonical(value) else stored(definition, value)
    if definition is not None and definition.type == "number":
        def number(value: Any) -> Any:
            try:
                return float(value)
            except (TypeError, ValueError):
                return stored(definition, value)
        return number
    return lambda value: stored(definition, value)


class SearchIndex:
    """The live records of one object type, ordered by id and by modification value."""

    def __init__(self, records: Iterable[Record], modified: str, defs: dict[str, PropertyDef]) -> None:
        live = sorted((r for r in records if not r.get("archived")), key=lambda r: int(r["id"]))
        self.records = live
        id_value, mod_value = _reader(defs.get(ID_PROPERTY)), _reader(defs.get(modified))
        self.ids = [id_value(r["properties"].get(ID_PROPERTY)) for r in live]
        self.usable = all(v is not None for v in self.ids) and all(a < b for a, b in zip(self.ids, self.ids[1:]))
        self.mods = [mod_value(r["properties"].get(modified)) for r in live]
        ordered = sorted((m, position) for position, m in enumerate(self.mods) if m is not None)
        self.by_mod = [m for m, _ in ordered]
        self.by_mod_position = [position for _, position in ordered]
        self.blocks = [sorted(m for m in self.mods[s:s + BLOCK] if m is not None) for s in range(0, len(live), BLOCK)]
        self._queries: OrderedDict[SearchPlan, Any] = OrderedDict()

    def _matches(self, position: int, plan: SearchPlan) -> bool:
        value = self.mods[position]
        if value is None:
            return plan.mod_low is None and plan.mod_high is None
        low, high = plan.mod_low, plan.mod_high
        if low is not None and (value < low.value or (value == low.value and not low.inclusive)):
            return False
        return high is None or value < high.value or (value == high.value and high.inclusive)

    def _count(self, plan: SearchPlan, start: int, end: int) -> int:
        if plan.mod_low is None and plan.mod_high is None:
            return end - start
        total, position = 0, start
        while position < end:
            block, offset = divmod(position, BLOCK)
            if offset == 0 and position + BLOCK <= end:
                lo, hi = _slice(self.blocks[block], plan.mod_low, plan.mod_high)
                total += hi - lo
                position += BLOCK
            else:
                total += self._matches(position, plan)
                position += 1
        return total

    def search(self, plan: SearchPlan, after: int, limit: int) -> tuple[int, list[Record]]:
        """``(total, page)`` of the records matching ``plan`` in id order, from match number ``after``."""
        entry = self._queries.get(plan)
        if entry is None:
            start, end = _slice(self.ids, plan.id_low, plan.id_high)
            total = self._count(plan, start, end)
            if plan.mod_low is None and plan.mod_high is None:
                entry = ("range", total, start)
            else:
                m_start, m_end = _slice(self.by_mod, plan.mod_low, plan.mod_high)
                if (m_end - m_start) * 4 < end - start:  # sparse: sort the few candidates by id once
                    positions = sorted(p for p in self.by_mod_position[m_start:m_end] if start <= p < end)
                    entry = ("sorted", total, positions)
                else:  # dense: scan the id order, remembering where each page stopped
                    entry = ("scan", total, {0: start}, end)
            self._queries[plan] = entry
            while len(self._queries) > CACHED_QUERIES:
                self._queries.popitem(last=False)
        else:
            self._queries.move_to_end(plan)
        kind, total = entry[0], entry[1]
        if kind == "range":
            first = entry[2] + after
            return total, self.records[first:min(first + limit, entry[2] + total)]
        if kind == "sorted":
            return total, [self.records[p] for p in entry[2][after:after + limit]]
        checkpoints, end = entry[2], entry[3]
        known = max((a for a in checkpoints if a <= after), default=0)
        position, skip = checkpoints[known], after - known
        page: list[Record] = []
        while position < end and len(page) < limit:
            if self._matches(position, plan):
                if skip:
                    skip -= 1
                else:
                    page.append(self.records[position])
            position += 1
        checkpoints[after + len(page)] = position
        return total, page
