"""The counting behind every emulator's rate limits: sliding windows and fixed budgets.

A vendor declares its limits with these and keeps its own numbers, headers and error bodies. A
limit or a window length is a number or a callable, so that a vendor can read its live ``config``
(tests change it between calls). Windows use the wall clock (``time.monotonic``): clients back off
in real seconds, and moving the data clock must neither throttle nor free anyone.

The ``limits`` library counts windows too, but not weighted costs recorded after the fact
(Dataverse execution time), rejected calls that still count (Asana), or a limit read anew on each
call, which the vendors here need.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

Amount = float | Callable[[], float]
"""A number, or a callable returning it (read on every use)."""


def _value(amount: Amount) -> float:
    return float(amount() if callable(amount) else amount)


class Allowance:
    """What a window and a budget share: a limit, a cost used so far, admission and bookkeeping."""

    def __init__(self, limit: Amount = math.inf) -> None:
        self._limit = limit
        self.lock = threading.RLock()

    @property
    def limit(self) -> float:
        return _value(self._limit)

    def used(self) -> float:
        raise NotImplementedError

    def add(self, cost: float = 1, at: float | None = None) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def remaining(self) -> int:
        """Whole calls (or cost units) left, never below zero."""
        return max(0, int(self.limit - self.used()))

    def fits(self, cost: float = 1) -> bool:
        return self.used() + cost <= self.limit

    def take(self, cost: float = 1, *, enforce: bool = True, count_rejected: bool = False) -> bool:
        """Count a call costing ``cost`` if it fits; False when refused. Unenforced, every call counts."""
        with self.lock:
            admitted = not enforce or self.fits(cost)
            if admitted or count_rejected:
                self.add(cost)
            return admitted


class SlidingWindow(Allowance):
    """The calls (or their cost: query complexity, execution time) of the last ``seconds``."""

    def __init__(self, seconds: Amount, limit: Amount = math.inf) -> None:
        super().__init__(limit)
        self._seconds = seconds
        self._entries: deque[tuple[float, float]] = deque()

    @property
    def seconds(self) -> float:
        return _value(self._seconds)

    def _prune(self, now: float) -> None:
        horizon = now - self.seconds
        while self._entries and self._entries[0][0] <= horizon:
            self._entries.popleft()

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()

    def add(self, cost: float = 1, at: float | None = None) -> None:
        """Count ``cost`` at ``at`` (a ``time.monotonic`` instant, now by default)."""
        with self.lock:
            self._entries.append((time.monotonic() if at is None else at, cost))

    def used(self) -> float:
        with self.lock:
            self._prune(time.monotonic())
            return sum(cost for _, cost in self._entries)

    def calls(self) -> int:
        """How many calls the window holds, whatever their cost."""
        with self.lock:
            self._prune(time.monotonic())
            return len(self._entries)

    def retry_after(self) -> int | None:
        """Whole seconds (at least 1) until the oldest counted call leaves the window; None when empty."""
        with self.lock:
            now = time.monotonic()
            self._prune(now)
            if not self._entries:
                return None
            return max(1, math.ceil(self._entries[0][0] + self.seconds - now))


class Budget(Allowance):
    """A fixed allowance (a day's API calls or credits) spent until the emulator is reset."""

    def __init__(self, limit: Amount) -> None:
        super().__init__(limit)
        self._used = 0.0

    def clear(self) -> None:
        with self.lock:
            self._used = 0.0

    def add(self, cost: float = 1, at: float | None = None) -> None:
        with self.lock:
            self._used += cost

    def used(self) -> float:
        with self.lock:
            return self._used


class WindowsByKey:
    """One :class:`SlidingWindow` per key (an access token, a refresh token), made on first use."""

    def __init__(self, seconds: Amount, limit: Amount = math.inf) -> None:
        self._seconds, self._limit = seconds, limit
        self._lock = threading.Lock()
        self._windows: dict[str, SlidingWindow] = {}

    def __getitem__(self, key: str) -> SlidingWindow:
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = SlidingWindow(self._seconds, self._limit)
            return window

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


_together = threading.Lock()


def take_together(charges: Iterable[tuple[str, Allowance, float]], *, enforce: bool = True) -> str | None:
    """Count a call against several limits at once, or against none.

    ``charges`` are ``(name, limit, cost)`` in the order the vendor checks them; the answer is the
    name of the first limit the call does not fit (nothing counted), or None once all are charged.
    """
    charges = list(charges)
    with _together:
        if enforce:
            for name, allowance, cost in charges:
                if not allowance.fits(cost):
                    return name
        for _, allowance, cost in charges:
            allowance.add(cost)
        return None
