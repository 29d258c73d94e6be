"""Named points where a run may be killed on purpose, to prove it can be retried from each of them.

``PASSERELLE_CRASH_AT=<point>[:<n>]`` makes the process kill itself with SIGKILL the ``n``-th time (the
first by default) it reaches ``point``: no exception, no ``finally``, no rollback, no file closed — what
the OOM killer or a lost Airflow worker does. Unset (always, outside the crash tests), a crash point only
reads the environment. The points of issuing are listed in :data:`passerelle.invoicing.issue.CRASH_POINTS`.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

from passerelle.settings import settings

VARIABLE = "PASSERELLE_CRASH_AT"
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Kill this process here if ``PASSERELLE_CRASH_AT`` names ``name`` (and this is its ``n``-th time)."""
    wanted = settings().crash_at
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
