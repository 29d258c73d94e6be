"""Start long-running processes one after the other, each only once the previous one is healthy.

Each component writes to its own log file; :func:`started` stops every component it started (and their
children) on the way out, whether the block ended, failed or was interrupted.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from passerelle_dev.devserver import stop_tree


class ComponentFailed(RuntimeError):
    """A component exited or was not healthy in time (the message names it and ends with its log's tail)."""


@dataclass(frozen=True)
class Component:
    name: str
    argv: Sequence[str]
    ready: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Running:
    component: Component
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def started(components: Sequence[Component], env: Mapping[str, str], log_dir: Path,
            timeout: float = 240) -> Iterator[list[Running]]:
    """Start ``components`` in order with ``env`` (plus each one's own), waiting up to ``timeout`` s for each."""
    log_dir.mkdir(parents=True, exist_ok=True)
    running: list[Running] = []
    try:
        for component in components:
            log = log_dir / f"{component.name}.log"
            with log.open("ab") as handle:
                process = subprocess.Popen(list(component.argv), env={**env, **component.env}, stdout=handle,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            running.append(Running(component, process, log))
            wait_ready(running[-1], timeout)
        yield running
    finally:
        for item in reversed(running):
            stop_tree(item.process.pid)


def wait_ready(item: Running, timeout: float) -> None:
    started_at = time.monotonic()
    while time.monotonic() - started_at < timeout:
        if item.process.poll() is not None:
            raise ComponentFailed(f"{item.component.name} exited with {item.process.returncode}{log_tail(item.log)}")
        try:
            if item.component.ready():
                print(f"  {item.component.name} ready in {time.monotonic() - started_at:.0f} s", flush=True)
                return
        except Exception:  # not answering yet
            pass
        time.sleep(1)
    raise ComponentFailed(f"{item.component.name} not healthy after {timeout:.0f} s{log_tail(item.log)}")


def first_exited(running: Sequence[Running]) -> Running | None:
    return next((item for item in running if item.process.poll() is not None), None)


def log_tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    return f"; last lines of {log}:\n" + "\n".join(text) if text else ""
