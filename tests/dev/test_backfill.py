"""``make backfill``: a bad source names the valid ones; without a scheduler each window runs here against
the sandbox, with the environment set by the command itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from passerelle.paths import PROJECT_ROOT
from passerelle.warehouse.settings import connect
from passerelle_dev.backfill import main
from tests.test_local_airflow import free_port


def test_a_bad_source_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["salesfarce", "2026-03-01", "2026-03-02"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("unknown source 'salesfarce'; valid sources: asana, bigin, dynamics, folk, hubspot")
    assert "salesforce" in error and "zoho_projects" in error


def test_missing_or_bad_dates_are_refused_with_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["folk", "2026-03-02", "2026-03-01"]) == 2
    assert "END 2026-03-01 is before START 2026-03-02" in capsys.readouterr().err
    assert main(["folk", "", ""]) == 2
    assert capsys.readouterr().err.endswith("usage: make backfill SOURCE=<source> START=<YYYY-MM-DD> "
                                            "END=<YYYY-MM-DD> [SANDBOX=1]\n")
    assert main(["", "", ""]) == 2
    assert capsys.readouterr().err.startswith("no SOURCE given; valid sources: asana,")


def test_make_backfill_without_arguments_says_what_it_needs() -> None:
    """``make backfill`` with no variables passes three empty arguments."""
    done = subprocess.run([sys.executable, "-m", "passerelle_dev.backfill", "", "", ""], cwd=PROJECT_ROOT / "plugins",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no SOURCE given; valid sources: asana," in done.stderr and "usage: make backfill" in done.stderr


@pytest.mark.dag
def test_without_a_scheduler_each_window_runs_here_on_the_sandbox(tmp_path: Path, warehouse_url: str) -> None:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "WAREHOUSE_URL", "TEST_WAREHOUSE_URL", "PASSERELLE_", "PYTHONPATH"))}
    env.update({"AIRFLOW_HOME": str(tmp_path / "airflow"), "PASSERELLE_STATE_DIR": str(tmp_path / "state"),
                "WAREHOUSE_URL": warehouse_url, "AIRFLOW__API__PORT": str(free_port())})  # no scheduler there
    done = subprocess.run([sys.executable, "-m", "passerelle_dev.backfill", "folk", "2026-03-01", "2026-03-02",
                           "--sandbox"], cwd=PROJECT_ROOT / "plugins", env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("no scheduler answers at http://127.0.0.1:")
    assert [line for line in lines if line.startswith("extract_folk [")] == ["extract_folk [2026-03-01 00:00, 2026-03-02 00:00) UTC: success",
                          "extract_folk [2026-03-02 00:00, 2026-03-03 00:00) UTC: success"]
    conn = connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT window_end::date::text FROM audit.load_log WHERE source = 'folk' ORDER BY 1")
            assert [row[0] for row in cur.fetchall()] == ["2026-03-02", "2026-03-03"]
            cur.execute("SELECT count(*) FROM raw.records WHERE source = 'folk'")
            assert cur.fetchone()[0] > 0
    finally:
        conn.close()
