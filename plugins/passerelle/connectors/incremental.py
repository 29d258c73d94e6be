"""Incremental cursors a stream names: how an extract window reaches the API and which items it keeps.

- :class:`ModifiedSince`: the API filters on a modification field (``modified_since=``,
  ``updatedAfter=``); the window becomes request parameters, and items are still checked client-side
  against the exact half-open window (server filters are often inclusive, coarser or lagging).
- :class:`WindowFilter`: the API cannot filter; every item is read and kept when its cursor falls in
  the window.
- Snapshot diff (APIs without any modification time) lives in :mod:`passerelle.connectors.snapshot`.

:func:`in_window` is the one "is this item in the window" rule every reader uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from passerelle.connectors.spec import dig
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.records import Window


def in_window(item: Any, field: str, window: Window) -> bool:
    """Whether ``item``'s cursor at ``field`` (dotted) falls in the half-open window.

    An item without a usable cursor is kept: the engine then rejects it naming the record, rather
    than a filter dropping it silently.
    """
    value = dig(item, field)
    if value is None or value == "":
        return True
    try:
        return window.contains(parse_timestamp(value))
    except (TypeError, ValueError):
        return True


def iso_ms(moment: datetime) -> str:
    """``2026-03-01T10:00:00.123Z``: the ISO form most APIs accept in filters."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Incremental:
    """No window on the request, nothing filtered (full listings)."""

    def params(self, window: Window) -> dict[str, Any]:
        return {}

    def keep(self, item: Any, window: Window) -> bool:
        return True


FullTable = Incremental


@dataclass(frozen=True)
class WindowFilter(Incremental):
    """Client-side window on ``field``: the API lists everything, the reader keeps the window. With
    ``first_window_all`` the first window (no start) keeps every item, even undated ones in the future."""

    field: str
    first_window_all: bool = False

    def keep(self, item: Any, window: Window) -> bool:
        if self.first_window_all and window.start is None:
            return True
        return in_window(item, self.field, window)


@dataclass(frozen=True)
class ModifiedSince(WindowFilter):
    """Server-side filter on a modification field, then :class:`WindowFilter` on ``field``.

    ``start_param`` receives the window start (omitted on the first, unbounded window), ``end_param``
    (optional) the window end; ``format`` renders a bound the way the API reads it.
    """

    start_param: str = "modified_since"
    end_param: str | None = None
    format: Callable[[datetime], Any] = iso_ms

    def params(self, window: Window) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if window.start is not None:
            params[self.start_param] = self.format(window.start)
        if self.end_param is not None:
            params[self.end_param] = self.format(window.end)
        return params
