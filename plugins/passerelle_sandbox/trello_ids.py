"""Trello identifiers: Mongo ObjectIds, whose first 4 bytes are the creation time in epoch seconds.

Trello accepts an ObjectId wherever it accepts a date (``since``/``before``), because ordering ids
orders records by creation time. The sandbox generates its ids the same way so that property holds.
"""

from __future__ import annotations

import random
import re
import threading
from datetime import datetime, timezone

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


def is_object_id(value: object) -> bool:
    return isinstance(value, str) and bool(OBJECT_ID.match(value))


def object_id_seconds(value: str) -> int:
    """Creation time (epoch seconds) encoded in an ObjectId."""
    return int(value[:8], 16)


def object_id_time(value: str) -> datetime:
    return datetime.fromtimestamp(object_id_seconds(value), tz=timezone.utc)


def boundary_id(seconds: int) -> str:
    """The smallest ObjectId of a second: every id created in or after that second is greater."""
    return f"{seconds:08x}" + "0" * 16


class ObjectIds:
    """ObjectId factory: timestamp, a constant 5-byte "machine" value, an increasing 3-byte counter."""

    def __init__(self, seed: str) -> None:
        rng = random.Random(seed)
        self._machine = rng.getrandbits(40) | (1 << 39)
        self._counter = rng.getrandbits(20)
        self._lock = threading.Lock()

    def at_ms(self, ms: int) -> str:
        return self.at_seconds(ms // 1000)

    def at_seconds(self, seconds: int) -> str:
        with self._lock:
            self._counter = (self._counter + 1) % (1 << 24)
            return f"{seconds:08x}{self._machine:010x}{self._counter:06x}"

    def at(self, moment: datetime) -> str:
        return self.at_seconds(int(moment.timestamp()))
