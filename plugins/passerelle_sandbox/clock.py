"""Virtual time for the sandbox and the timestamp formats the vendors use.

Stored timestamps are kept in one canonical text form, ``2026-02-27T10:15:00.000Z`` (UTC, fixed
width, milliseconds), so they sort and compare as plain strings: filtering and sorting a million
records then costs no date parsing. Each vendor renders them its own way on the way out.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import date, datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_INSTANT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 date or datetime (``Z``, ``+01:00``, ``+0100`` or naive = UTC) to aware UTC."""
    match = _INSTANT.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros,
        tzinfo=timezone.utc,
    )
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        moment -= sign * shift
    return moment


def canonical(moment: datetime) -> str:
    """``2026-02-27T10:15:00.000Z`` for an aware datetime (naive is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def is_canonical(value: object) -> bool:
    """Cheap shape check so already-canonical values skip parsing."""
    return (
        isinstance(value, str) and len(value) == 24 and value[-1] == "Z" and value[19] == "." and value[10] == "T"
    )


def canonicalize(value: str) -> str:
    """Any ISO-8601 timestamp in canonical form."""
    return value if is_canonical(value) else canonical(parse_instant(value))


def from_canonical(value: str) -> datetime:
    return parse_instant(value)


def salesforce_datetime(value: str) -> str:
    """Canonical → ``2026-02-27T10:15:00.000+0000``, as Salesforce's REST API renders datetimes."""
    return value[:-1] + "+0000" if is_canonical(value) else value


def epoch_ms(moment: datetime) -> int:
    delta = moment.astimezone(timezone.utc) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_epoch_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def canonical_ms(ms: int) -> str:
    """Epoch milliseconds → canonical text (Jira and Trello keep their stamps as epoch milliseconds)."""
    return canonical(from_epoch_ms(ms))


def is_date_text(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def looks_like_datetime(value: object) -> bool:
    if not isinstance(value, str) or len(value) < 16 or value[10] not in "T ":
        return False
    try:
        parse_instant(value)
    except ValueError:
        return False
    return True


class VirtualClock:
    """The sandbox's "now": frozen unless moved through the control API (or set to tick).

    A frozen clock makes tests deterministic: every change made between two ``advance`` calls
    carries the same stamp, which is exactly the same-timestamp situation connectors must survive.
    ``ticking`` lets an interactive sandbox follow the wall clock from its start value.
    """

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base = start.astimezone(timezone.utc)
        self._ticking = False
        self._anchor = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            if self._ticking:
                return self._base + timedelta(seconds=time.monotonic() - self._anchor)
            return self._base

    def now_text(self) -> str:
        return canonical(self.now())

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            self._base = moment.astimezone(timezone.utc)
            self._anchor = time.monotonic()
            return self._base

    def advance(self, seconds: float) -> datetime:
        current = self.now()
        return self.set(current + timedelta(seconds=seconds))

    @property
    def ticking(self) -> bool:
        return self._ticking

    def set_ticking(self, ticking: bool) -> None:
        current = self.now()
        with self._lock:
            self._base, self._anchor, self._ticking = current, time.monotonic(), ticking
