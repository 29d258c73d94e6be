"""``make demo``'s output: progress lines on the terminal, every log line (Airflow, structlog, warnings, child
processes) in a 0600 file under the state folder, ``VERBOSE=1`` streaming them too; a bad ``DATASET`` named.

The routing works on file descriptors, so each case runs in its own Python process, as the demo does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from passerelle.settings import PROJECT_ROOT
from passerelle_dev.demo_output import Progress, stage_line, verbose_requested
from passerelle_sandbox import dataset as datasets

SCRIPT = """
import logging, subprocess, sys, warnings
from pathlib import Path
import structlog
from passerelle_dev.demo_output import Progress, routed_output, say

with routed_output(Path(sys.argv[1]), verbose=sys.argv[2] == "1"):
    import airflow  # configures Airflow's own logging, as the demo's first DAG import does
    progress = Progress()
    with progress.stage("extract 2026-03-01") as counts:
        logging.getLogger("airflow.task").warning("task log line")
        logging.getLogger("passerelle.connectors").info("connector info line")
        structlog.get_logger("airflow.sdk").info("structlog line")
        warnings.warn("a warning line")
        print("a stray print")
        sys.stderr.write("a stderr line\\n")
        subprocess.run(["echo", "a child process line"], check=True)
        counts["received"] = 12
    say("summary line")
print("after the demo")
"""
LOG_LINES = ("task log line", "connector info line", "structlog line", "a warning line", "a stray print",
             "a stderr line", "a child process line")


def run_script(tmp_path: Path, verbose: bool) -> tuple[subprocess.CompletedProcess[str], Path]:
    log = tmp_path / "logs" / "demo.log"
    log.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(log), "1" if verbose else "0"], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, log


def test_logs_go_to_a_private_file_and_the_terminal_gets_only_the_progress(tmp_path: Path) -> None:
    done, log = run_script(tmp_path, verbose=False)
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("  extract 2026-03-01") and "received 12" in lines[0]
    assert lines[1:] == ["summary line", "after the demo"]
    assert done.stderr == ""
    written = log.read_text()
    assert [line for line in LOG_LINES if line not in written] == []
    assert "summary line" not in written
    assert log.stat().st_mode & 0o777 == 0o600


def test_verbose_streams_the_logs_to_the_terminal_and_still_writes_the_file(tmp_path: Path) -> None:
    done, log = run_script(tmp_path, verbose=True)
    assert [line for line in LOG_LINES if line not in done.stdout] == []
    assert "summary line" in done.stdout
    assert [line for line in LOG_LINES if line not in log.read_text()] == []


def test_a_stage_line_has_its_label_counts_and_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress().stage("invoicing 2026-01") as counts:
        counts[""] = "success"
        counts["invoices issued"] = 40
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1
    assert printed[0].startswith("  invoicing 2026-01 ") and "success, invoices issued 40 (" in printed[0]
    assert printed[0].endswith("s)")
    assert stage_line("sync 3", {"writes": 0}, 1.25) == f"  {'sync 3':<30} writes 0 (1.2s)"


def test_verbose_is_read_from_the_environment() -> None:
    assert [verbose_requested({"VERBOSE": v}) for v in ("", "0", "no", "1", "yes")] == [False] * 3 + [True] * 2
    assert verbose_requested({}) is False


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"}
    return subprocess.run([sys.executable, "-m", "passerelle_dev.demo", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("{not json", "not readable as JSON"),
    (json.dumps({"name": "x"}), "not a sandbox dataset (missing clock, salesforce, hubspot)"),
    (json.dumps([1, 2]), "not a sandbox dataset"),
])
def test_a_bad_dataset_file_stops_the_demo_naming_the_file(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "mine.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(datasets.DatasetError, match=re.escape(problem)) as raised:
        datasets.load(path)
    assert str(path) in str(raised.value)
    done = demo("--dataset", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert str(path) in done.stderr and problem in done.stderr


def test_a_dataset_written_by_the_generator_loads(tmp_path: Path) -> None:
    path = tmp_path / "small.json"
    assert datasets.main(["--out", str(path), "--sf-accounts", "5", "--hs-companies", "4", "--name", "small"]) == 0
    loaded = datasets.load(path)
    assert loaded["name"] == "small" and len(loaded["salesforce"]["objects"]["Account"]) == 5
