"""A sync process killed (SIGKILL) between the vendor's create and the link's update makes no second project:
a Trello board (one POST) and an Asana project (a template job, polled, then stamped)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from passerelle.paths import PROJECT_ROOT
from passerelle.sync.asana_projects import JOB_STARTED
from passerelle.sync.deal_projects import CRASH_POINTS
from tests.connectors.helpers import source_config
from tests.db import tuples
from tests.sync.test_asana_projects import projects_by_deal
from tests.sync.test_deal_projects import WON_AFTER, boards_by_deal, expected_deals


def run_child(url: str, sandbox: Any, sync_file: Path, run_id: str, crash_at: str | None,
              tool: str = "trello") -> subprocess.CompletedProcess:
    config = source_config(sandbox, tool)
    connection = {"host": config.host, "login": config.login, "password": config.password, "extra": config.extra}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]),
           "WAREHOUSE_URL": url, "PASSERELLE_SYNC_FILE": str(sync_file), "SYNC_TOOL": tool,
           "SYNC_CONNECTION": json.dumps(connection)}
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


@pytest.mark.parametrize("point", [JOB_STARTED, *CRASH_POINTS])
def test_killed_while_asana_makes_the_project_from_its_template_the_rerun_finishes_that_one(
        staged_conn, staged_warehouse_url, sandbox, asana, session, tmp_path, point: str) -> None:
    workspace = session.api.request("GET", "/workspaces", stream="test")["data"][0]["gid"]
    template = session.api.request("GET", "/project_templates", stream="test",
                                   params={"workspace": workspace})["data"][0]["gid"]
    path = tmp_path / "sync.toml"
    path.write_text(f'[deal_to_project]\nmode = "apply"\nwon_after = {WON_AFTER}\n\n[[deal_to_project.routes]]\n'
                    f'crm = "hubspot"\npm = "asana"\ntemplate = "{template}"\n')
    killed = run_child(staged_warehouse_url, sandbox, path, "killed", point, tool="asana")
    assert killed.returncode == -9, killed.stderr[-2000:]
    # the job was started and recorded on the link before the kill
    assert tuples(staged_conn, "SELECT count(*) FROM sync.links WHERE state = 'pending_create' "
                               "AND pending_ref IS NOT NULL") == [(1,)]
    started = tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'create_project'")[0][0]
    assert started == 1

    rerun = run_child(staged_warehouse_url, sandbox, path, "rerun", None, tool="asana")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    wanted = expected_deals(staged_conn)
    # killed once the project was stamped: found by its key; killed while its job ran: that job is polled
    assert ("adopted=1" if point in CRASH_POINTS else "adopted=0") in rerun.stdout
    assert projects_by_deal(asana) == Counter({deal_id: 1 for deal_id in wanted})
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'create_project'") == [
        (len(wanted),)]  # one template job per deal: the killed run's job was not started again
    assert tuples(staged_conn, "SELECT state, count(*) FROM sync.links WHERE pm_system = 'asana' GROUP BY 1") == [
        ("active", len(wanted))]
    tasks = Counter((m["project"]["gid"], t["name"]) for t in asana.records("tasks")
                    for m in t.get("memberships") or [])
    assert max(tasks.values()) == 1  # the adopted project is furnished once: no deal line twice
