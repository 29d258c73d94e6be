"""Long-running processes started in stages, each stage only once the one before is healthy.

The one supervisor of ``make up`` (:mod:`passerelle_dev.devserver`) and ``make up-celery``
(:mod:`passerelle_dev.celery_stack`). Each component writes to its own log file. A stage's components start
together, then its readiness check is waited for (saying what is awaited, as :func:`wait_for` does); a
component that exits meanwhile, or a stage not ready in time, raises :class:`ComponentFailed` with the log's
tail. :func:`started` stops every component it started, and the processes they started, in reverse order on
the way out, whether the block ended, failed or was interrupted.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from passerelle_dev.airflow_api import wait_for


class ComponentFailed(RuntimeError):
    """A component exited or was not healthy in time (the message names it and ends with its log's tail)."""


@dataclass(frozen=True)
class Component:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the environment all components share


@dataclass(frozen=True)
class Stage:
    """Components started together, then waited for until ``ready()`` is true (an exception counts as not yet)."""

    what: str  # what the wait is for, as printed: "the API server (...)"
    components: Sequence[Component]
    ready: Callable[[], bool]


@dataclass
class Running:
    component: Component
    process: subprocess.Popen[bytes]
    log: Path


def say(line: str) -> None:
    print(line, flush=True)


@contextmanager
def started(stages: Sequence[Stage], log_dir: Path, env: Mapping[str, str] | None = None,
            timeout: float = 240) -> Iterator[list[Running]]:
    """Start ``stages`` in order with ``env`` (default: this process's), waiting up to ``timeout`` s for each."""
    log_dir.mkdir(parents=True, exist_ok=True)
    shared = dict(os.environ if env is None else env)
    running: list[Running] = []
    try:
        for stage in stages:
            running += [start(component, shared, log_dir) for component in stage.components]
            wait_ready(stage, running, timeout)
        yield running
    finally:
        for item in reversed(running):
            stop_tree(item.process.pid)


def start(component: Component, env: Mapping[str, str], log_dir: Path) -> Running:
    """``component`` in its own session, appending to ``<log_dir>/<name>.log``."""
    log = log_dir / f"{component.name}.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(list(component.argv), env={**env, **component.env}, stdout=handle,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    say(f"{component.name}: started (log: {log})")
    return Running(component, process, log)


def wait_ready(stage: Stage, running: Sequence[Running], timeout: float) -> None:
    """Until ``stage`` is ready; :class:`ComponentFailed` as soon as any component started so far exits."""

    def probe() -> bool | None:
        if (gone := first_exited(running)) is not None:
            raise ComponentFailed(f"{gone.component.name} exited with status {gone.process.returncode} while "
                                  f"starting{log_tail(gone.log)}")
        try:
            return stage.ready() or None
        except Exception:  # not answering yet
            return None

    try:
        wait_for(stage.what, probe, timeout, say=say)
    except TimeoutError:
        names = {component.name for component in stage.components}
        tails = "".join(log_tail(item.log) for item in running if item.component.name in names)
        raise ComponentFailed(f"{stage.what}: not ready after {timeout:.0f}s{tails}") from None


def first_exited(running: Sequence[Running]) -> Running | None:
    return next((item for item in running if item.process.poll() is not None), None)


def watch(running: Sequence[Running]) -> int:
    """Block until a component exits; its exit status (the caller then stops the others)."""
    while (gone := first_exited(running)) is None:
        time.sleep(1)
    say(f"{gone.component.name} exited with status {gone.process.returncode}; stopping (log: {gone.log})")
    return gone.process.returncode or 1


def log_tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
    return f"; last lines of {log}:\n" + "\n".join(text) if text else ""


def stop_tree(pid: int, timeout: float = 60) -> None:
    """Stop a component and every process it started (not all stay in its process group), together."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
