"""The records and windows that flow from connectors to the raw loader.

Connectors yield :class:`Record` objects page by page; the loader writes them to ``raw.records``.
Nothing here knows about a particular vendor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True, slots=True)
class Window:
    """Half-open extraction window ``[start, end)``; ``start=None`` means full history."""

    start: datetime | None
    end: datetime

    def __post_init__(self) -> None:
        for value in (self.start, self.end):
            if value is not None and value.tzinfo is None:
                raise ValueError(f"window bounds must be timezone-aware, got {value!r}")
        if self.start is not None and self.start >= self.end:
            raise ValueError(f"empty window: start {self.start} >= end {self.end}")

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and moment < self.end


@dataclass(frozen=True, slots=True)
class Record:
    """One version of one source record as extracted.

    ``cursor`` is the vendor's modification time for this version (the incremental cursor);
    ``deleted`` marks a tombstone (the record was deleted or archived at the source).
    """

    record_id: str
    cursor: datetime
    payload: dict[str, Any]
    deleted: bool = False


@dataclass(slots=True)
class Page:
    """A page of records as it came from the API, with where it came from for logs and errors."""

    records: list[Record]
    location: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


def utc(moment: datetime) -> datetime:
    """Return ``moment`` as a plain aware UTC datetime (naive values are taken as UTC).

    Subclasses such as pendulum's DateTime (Airflow's context values) are converted to the standard
    type, whose arithmetic keeps the time zone.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return datetime(
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond,
        tzinfo=timezone.utc,
    )
