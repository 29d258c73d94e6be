"""The supervisor of ``make up`` and ``make up-celery``: stages in order, failures named with their log,
everything stopped in reverse order on the way out."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from passerelle_dev.components import Component, ComponentFailed, Stage, started

# Says it started, then writes its name to the stop file when terminated.
SERVE = """
import signal, sys, time
name, stops = sys.argv[1], sys.argv[2]
def stop(*_):
    with open(stops, "a") as f:
        f.write(name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print(name, "serving", flush=True)
while True:
    time.sleep(0.1)
"""


def serving(name: str, stops: Path) -> Component:
    return Component(name, [sys.executable, "-c", SERVE, name, str(stops)])


def log_says(log: Path, words: str) -> bool:
    return log.exists() and words in log.read_text()


def test_stages_start_in_order_and_stop_in_reverse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stops, logs = tmp_path / "stops", tmp_path / "logs"
    stages = [Stage("the first", [serving("first", stops)], lambda: log_says(logs / "first.log", "first serving")),
              Stage("the second", [serving("second", stops)], lambda: log_says(logs / "second.log", "second serving"))]
    with started(stages, logs, timeout=30) as running:
        assert [item.component.name for item in running] == ["first", "second"]
        assert all(item.process.poll() is None for item in running)
    assert all(item.process.poll() is not None for item in running)
    assert stops.read_text().split() == ["second", "first"]
    printed = capsys.readouterr().out
    assert printed.index("the first: ready") < printed.index("second: started") < printed.index("the second: ready")


def test_a_component_that_exits_while_starting_stops_all_with_its_log(tmp_path: Path) -> None:
    stops, logs = tmp_path / "stops", tmp_path / "logs"
    broken = Component("broken", [sys.executable, "-c", "print('no such setting'); raise SystemExit(3)"])
    stages = [Stage("the first", [serving("first", stops)], lambda: log_says(logs / "first.log", "first serving")),
              Stage("the broken one", [broken], lambda: False)]
    with pytest.raises(ComponentFailed) as failure:
        with started(stages, logs, timeout=30):
            pytest.fail("the block must not run")
    assert str(failure.value).startswith("broken exited with status 3 while starting; last lines of ")
    assert str(failure.value).endswith("broken.log:\nno such setting")
    assert stops.read_text().split() == ["first"]


def test_a_stage_not_ready_in_time_is_named_and_stopped(tmp_path: Path) -> None:
    stops, logs = tmp_path / "stops", tmp_path / "logs"
    expected = r"(?s)^the slow one: not ready after 2s; last lines of .*slow\.log:\nslow serving$"
    with pytest.raises(ComponentFailed, match=expected):
        with started([Stage("the slow one", [serving("slow", stops)], lambda: False)], logs, timeout=2):
            pytest.fail("the block must not run")
    assert stops.read_text().split() == ["slow"]
