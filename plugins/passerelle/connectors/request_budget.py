"""A request budget: at most ``requests`` calls per sliding ``window`` of seconds, for one API account.

Some vendors do not slow a client down, they lock it out (Zoho Projects: past 100 calls in 2 minutes,
30 minutes without access), so retrying after the fact is too late: every request first takes a slot
here and waits for one when the window is full. The stream tasks of one source run one after the other
(an Airflow pool), each in its own process: the recent calls are therefore kept in a small file (call
times only, no secret) in a per-user folder of the machine's temporary directory, locked while read and
written, so that a task starting right after another sees the calls the other just made.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

_LOCK = threading.Lock()


def default_directory() -> Path:
    """``<tmp>/passerelle-request-budgets-<uid>``, owner-only (workers of one machine share it)."""
    return Path(tempfile.gettempdir()) / f"passerelle-request-budgets-{os.getuid()}"


_CHECKED: set[Path] = set()


def private_directory(directory: Path) -> None:
    """Create ``directory`` owner-only, or check that the one found is ours and closed to others: in a
    shared temporary folder another user could have made it first to read or empty our budgets."""
    if directory in _CHECKED:
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(
            f"request budget directory {directory} must be a directory of user {os.getuid()} closed to others "
            f"(mode 700); found owner {info.st_uid}, mode {stat.filemode(info.st_mode)}: remove it or point the "
            "budget elsewhere")
    _CHECKED.add(directory)


@dataclass
class RequestBudget:
    """``acquire()`` before each request; it returns the seconds it waited."""

    key: str
    requests: int
    window: float
    directory: Path | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    waited: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window <= 0:
            raise ValueError(f"a request budget needs at least one request per window, got {self.requests} per {self.window}s")

    @property
    def path(self) -> Path:
        name = hashlib.sha256(self.key.encode()).hexdigest()[:24]
        return (self.directory or default_directory()) / f"{name}.json"

    def acquire(self) -> float:
        waited = 0.0
        while True:
            delay = self._take()
            if delay <= 0:
                self.waited += waited
                return waited
            log.info("request budget of %s: %d calls in %.0f s used, waiting %.1f s", self.key, self.requests,
                     self.window, delay)
            self.sleep(delay)
            waited += delay

    def _take(self) -> float:
        """Record a call now if the window has room (0), else the seconds until it will."""
        path = self.path
        private_directory(path.parent)
        with _LOCK, open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                text = handle.read()
                try:
                    calls = [float(t) for t in json.loads(text)] if text.strip() else []
                except (ValueError, TypeError):
                    calls = []  # a torn file only loses history: the budget restarts from now
                now = self.clock()
                calls = sorted(t for t in calls if now - self.window < t <= now + 1)
                if len(calls) >= self.requests:
                    return calls[len(calls) - self.requests] + self.window - now + 0.01
                calls.append(now)
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(calls))
                return 0.0
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
