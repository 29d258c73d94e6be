"""Timestamps for the sandbox dataset, as integer milliseconds since the Unix epoch.

Everything is computed from a fixed ``clock`` (never the wall clock) so a seed always yields the
same bytes. Values are rendered the way both CRMs' APIs return them: ISO-8601 UTC with
milliseconds and ``Z``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache

SECOND_MS = 1000
DAY_MS = 86_400 * SECOND_MS
WINDOW_DAYS = 60
"""Every record's modification time falls within this many days before the clock."""

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def parse_iso(value: str) -> int:
    """Milliseconds since the epoch for an ISO-8601 timestamp (``Z`` or an offset; naive is UTC)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * SECOND_MS + delta.microseconds // 1000


@lru_cache(maxsize=8192)
def iso_date(days: int) -> str:
    """``YYYY-MM-DD`` for a day number since the epoch (cached: the bulk generator calls it a lot)."""
    return date.fromordinal(_EPOCH_ORDINAL + days).isoformat()


def iso_ms(ms: int) -> str:
    """``2026-02-27T10:15:00.000Z`` for milliseconds since the epoch."""
    days, rest = divmod(ms, DAY_MS)
    seconds, millis = divmod(rest, SECOND_MS)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{iso_date(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def day_of(ms: int) -> int:
    """Day number since the epoch of a timestamp."""
    return ms // DAY_MS


def midnight_iso(days: int) -> str:
    """Midnight UTC of a day, as HubSpot renders date properties such as ``closedate``."""
    return f"{iso_date(days)}T00:00:00.000Z"


@dataclass(frozen=True, slots=True)
class Stamps:
    """Creation and last modification time of one record (``created <= modified``)."""

    created: int
    modified: int


@dataclass(frozen=True, slots=True)
class Clock:
    """The dataset's "now": no record is modified after it, all within :data:`WINDOW_DAYS` before."""

    now: int

    @classmethod
    def parse(cls, value: str) -> Clock:
        return cls(parse_iso(value))

    @property
    def window_start(self) -> int:
        return self.now - WINDOW_DAYS * DAY_MS

    @property
    def today(self) -> int:
        return day_of(self.now)

    def stamps(
        self,
        rng: random.Random,
        *,
        not_before: int | None = None,
        not_after: int | None = None,
        max_age_days: int = 400,
    ) -> Stamps:
        """Draw whole-second stamps: modified inside the window, created before it.

        ``not_before`` (a parent's creation) bounds both from below and ``not_after`` (a parent's
        modification) bounds both from above, so children never predate their parents.
        """
        high = min(self.now, self.now if not_after is None else not_after) // SECOND_MS
        low = max(self.window_start, self.window_start if not_before is None else not_before)
        low = min(-(-low // SECOND_MS), high)
        modified = rng.randint(low, high)
        if not_before is None:
            created_low = modified - max_age_days * 86_400
        else:
            created_low = min(-(-not_before // SECOND_MS), modified)
        created = rng.randint(created_low, modified)
        return Stamps(created * SECOND_MS, modified * SECOND_MS)
