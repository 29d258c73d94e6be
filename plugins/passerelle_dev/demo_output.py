"""Where ``make demo`` writes: its progress lines and summary to the terminal, every log line to a file.

Airflow, structlog, Great Expectations, the sandbox and ``warnings`` each attach their own handlers, some
while a DAG runs (``dag.test()``), and most write to whatever ``sys.stdout``/``sys.stderr`` resolve to. So
the routing is done below all of them, on the process's file descriptors 1 and 2: both point at the log
file (or, with ``VERBOSE=1``, at a pipe copied to the log file and the terminal), and the demo's own lines
go to a duplicate of the original standard output, kept aside as :func:`console`.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from passerelle.paths import open_private

_console: TextIO | None = None


def console() -> TextIO:
    """The terminal while :func:`routed_output` is active, standard output otherwise."""
    return _console if _console is not None else sys.stdout


def say(text: str = "") -> None:
    print(text, file=console(), flush=True)


def verbose_requested(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get("VERBOSE", "")
    return value.strip().lower() not in ("", "0", "false", "no")


def new_log_path(state_dir: Path) -> Path:
    directory = state_dir / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"demo-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.log"


@dataclass
class _Tee:
    """Copies a pipe's bytes to the log file and the terminal until stopped (``VERBOSE=1``)."""

    source: int
    targets: tuple[int, ...]

    def __post_init__(self) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._copy, name="demo-log-tee", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        while True:
            ready, _, _ = select.select([self.source], [], [], 0.2)
            if not ready:
                if self.stopping.is_set():
                    return
                continue
            chunk = os.read(self.source, 65536)
            if not chunk:
                return
            for target in self.targets:
                os.write(target, chunk)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        os.close(self.source)


@contextmanager
def routed_output(log_path: Path, *, verbose: bool = False, level: int = logging.INFO) -> Iterator[TextIO]:
    """Send file descriptors 1 and 2, and every ``logging`` record and warning, to ``log_path`` (mode 0600).

    Yields the terminal stream, also returned by :func:`console` meanwhile. Restores everything on exit.
    """
    global _console
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    log_fd = open_private(log_path)
    saved = (os.dup(1), os.dup(2))
    terminal = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    tee: _Tee | None = None
    if verbose:
        read_end, write_end = os.pipe()
        tee = _Tee(read_end, (log_fd, terminal.fileno()))
        target = write_end
    else:
        target = log_fd
    os.dup2(target, 1)
    os.dup2(target, 2)
    if target != log_fd:
        os.close(target)
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(level)
    logging.captureWarnings(True)
    _console = terminal
    try:
        yield terminal
    finally:
        _console = None
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        if tee is not None:
            tee.stop()
        os.close(log_fd)
        terminal.close()


class Progress:
    """One line per demo stage: what it did, with counts, and how long it took."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @contextmanager
    def stage(self, label: str) -> Iterator[dict[str, object]]:
        """Time the block; the counts it puts in the yielded dict are printed after ``label``."""
        counts: dict[str, object] = {}
        t0 = time.monotonic()
        yield counts
        say(stage_line(label, counts, time.monotonic() - t0))

    def total(self) -> float:
        return time.monotonic() - self.started


def stage_line(label: str, counts: dict[str, object], seconds: float) -> str:
    detail = ", ".join(f"{key} {value}" if key else str(value) for key, value in counts.items())
    return f"  {label:<30} {detail}{' ' if detail else ''}({seconds:.1f}s)"


def totals(pairs: list[tuple[object, object]]) -> str:
    """``a 3, b 4`` from ``[(a, 3), (b, 4)]``: a short table on one line."""
    return ", ".join(f"{name} {count}" for name, count in pairs) or "none"
