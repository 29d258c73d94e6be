"""A sync process killed (SIGKILL) between the vendor's create and the link's update makes no second project."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from passerelle.paths import PROJECT_ROOT
from passerelle.sync.deal_projects import CRASH_POINTS
from tests.db import tuples
from tests.sync.test_deal_projects import WON_AFTER, boards_by_deal, expected_deals


def run_child(url: str, sandbox: Any, sync_file: Path, run_id: str, crash_at: str | None) -> subprocess.CompletedProcess:
    creds = sandbox.vendors["trello"].credentials
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]),
           "WAREHOUSE_URL": url, "PASSERELLE_SYNC_FILE": str(sync_file),
           "TRELLO_HOST": sandbox.vendors["trello"].base_url, "TRELLO_KEY": creds["key"],
           "TRELLO_TOKEN": creds["token"], "TRELLO_CA": str(sandbox.ca_path)}
    env.pop("PASSERELLE_CRASH_AT", None)
    if crash_at:
        env["PASSERELLE_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "tests.sync.sync_in_child", run_id], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("point", CRASH_POINTS)
@pytest.mark.parametrize("nth", [1, 2])
def test_killed_after_the_vendor_created_the_project_the_rerun_adopts_it(staged_conn, staged_warehouse_url, sandbox,
                                                                         trello, sync_file, point: str,
                                                                         nth: int) -> None:
    path = sync_file(won_after=WON_AFTER)
    killed = run_child(staged_warehouse_url, sandbox, path, "killed", f"{point}:{nth}")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert tuples(staged_conn, "SELECT count(*) FROM sync.links WHERE state = 'pending_create'") == [(1,)]

    rerun = run_child(staged_warehouse_url, sandbox, path, "rerun", None)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "adopted=1" in rerun.stdout  # found by its key at the vendor, not made again
    wanted = expected_deals(staged_conn)
    assert boards_by_deal(trello) == Counter({deal_id: 1 for deal_id in wanted})
    assert tuples(staged_conn, "SELECT state, count(*) FROM sync.links WHERE pm_object = 'board' GROUP BY 1") == [
        ("active", len(wanted))]
    # the adopted board is complete: its deal card and one card per line, none twice
    names = Counter((c["idBoard"], c["name"]) for c in trello.records("cards"))
    assert max(names.values()) == 1
