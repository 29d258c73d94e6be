"""Won deal → Jira epic with one task per deal line, exactly once, through the Jira emulator."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from passerelle.sync.config import SyncConfigError, load_sync_config
from tests.db import rows, tuples
from tests.sync.conftest import connector_api, quiet
from tests.sync.project_tools import forget_links, line_counts, route_file, run_sync
from tests.sync.test_deal_projects import expected_deals


@pytest.fixture
def jira(sandbox: Any) -> Any:
    return quiet(sandbox, "jira")


@pytest.fixture
def jira_api(sandbox: Any, jira: Any) -> Any:
    return connector_api(sandbox, "jira")


@pytest.fixture
def project_key(jira: Any) -> str:
    return next(p["key"] for p in jira.records("projects") if not p.get("deleted"))


@pytest.fixture
def config(tmp_path: Path, project_key: str) -> Any:
    return load_sync_config(route_file(tmp_path, "jira", container=project_key)).deal_to_project


def kind(issue: dict[str, Any]) -> str:
    return issue["fields"]["issuetype"]["name"]


def epics_by_deal(jira: Any) -> Counter[str]:
    return Counter(label.split(":")[2] for issue in jira.records("issues") if kind(issue) == "Epic"
                   for label in issue["fields"].get("labels") or [] if label.startswith("hubspot:deal:"))


def test_each_won_deal_gets_one_epic_with_a_task_per_line(staged_conn, jira, jira_api, config, project_key) -> None:
    outcome = run_sync(staged_conn, config, "jira", jira_api, "jira-1")
    wanted = expected_deals(staged_conn)
    assert wanted and outcome.created == len(wanted) and not outcome.rejected and not outcome.unknown
    assert epics_by_deal(jira) == Counter({deal_id: 1 for deal_id in wanted})
    lines = line_counts(staged_conn)
    issues = jira.records("issues")
    for epic in (i for i in issues if kind(i) == "Epic" and "Passerelle" in str(i["fields"].get("description"))):
        deal = jira_api.api.request("GET", f"/rest/api/3/issue/{epic['id']}/properties/passerelle.crm", stream="test")
        deal_id = deal["value"]["dealId"]
        assert deal["value"]["crm"] == "hubspot" and epic["fields"]["project"]["key"] == project_key
        assert epic["fields"]["summary"].endswith(wanted[deal_id])
        assert epic["fields"]["labels"] == [f"hubspot:deal:{deal_id}:project"]
        assert f"Passerelle: hubspot:deal:{deal_id}:project" in str(epic["fields"]["description"])
        children = [i for i in issues if (i["fields"].get("parent") or {}).get("id") == epic["id"]]
        assert len(children) == lines[deal_id] and all(kind(c) == "Task" for c in children)
    made = rows(staged_conn, "SELECT crm_id, pm_id, pm_url, state FROM sync.links WHERE pm_system = 'jira'")
    assert {m["state"] for m in made} == {"active"} and all("/browse/" in m["pm_url"] for m in made)
    again = run_sync(staged_conn, config, "jira", jira_api, "jira-2")
    assert (again.created, again.adopted, again.cards) == (0, 0, 0)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE vendor = 'jira' "
                               "AND operation = 'create_project'") == [(len(wanted),)]


def test_an_epic_made_before_a_crash_is_adopted_even_before_jira_indexes_it(staged_conn, jira, jira_api,
                                                                           config) -> None:
    jira.config(search_index_lag_seconds=3600)  # JQL does not see the new epics for an hour
    first = run_sync(staged_conn, config, "jira", jira_api, "lag-1")
    wanted = expected_deals(staged_conn)
    assert first.created == len(wanted)
    epics = sum(epics_by_deal(jira).values())
    # the process died after Jira made the epics but before the links were recorded
    staged_conn.cursor().execute("UPDATE sync.links SET state = 'pending_create', pm_id = NULL "
                                 "WHERE pm_system = 'jira'")
    staged_conn.commit()
    rerun = run_sync(staged_conn, config, "jira", jira_api, "lag-2")
    assert (rerun.created, rerun.adopted) == (0, len(wanted))
    assert sum(epics_by_deal(jira).values()) == epics
    assert tuples(staged_conn, "SELECT DISTINCT state FROM sync.links WHERE pm_system = 'jira'") == [("active",)]


def test_a_lost_link_row_is_resolved_by_the_label_not_a_second_epic(staged_conn, jira, jira_api, config) -> None:
    run_sync(staged_conn, config, "jira", jira_api, "gone-1")
    wanted = expected_deals(staged_conn)
    forget_links(staged_conn, "jira")
    rerun = run_sync(staged_conn, config, "jira", jira_api, "gone-2")
    assert (rerun.created, rerun.adopted, rerun.cards) == (0, len(wanted), 0)
    assert epics_by_deal(jira) == Counter({deal_id: 1 for deal_id in wanted})


def test_a_refused_epic_is_recorded_and_the_other_deals_go_through(staged_conn, jira, jira_api, config) -> None:
    wanted = expected_deals(staged_conn)
    assert len(wanted) >= 2
    jira.add_fault("error", status=400, path="/rest/api/3/issue", after=0, times=1,
                   message="Specify a valid project ID or key")
    outcome = run_sync(staged_conn, config, "jira", jira_api, "refused-1")
    assert len(outcome.rejected) == 1 and "HTTP 400" in outcome.rejected[0]
    assert outcome.created == len(wanted) - 1
    assert tuples(staged_conn, "SELECT status, outcome FROM sync.writes WHERE vendor = 'jira' "
                               "AND outcome <> 'succeeded'") == [(400, "rejected")]
    later = run_sync(staged_conn, config, "jira", jira_api, "refused-2")
    assert (later.created, later.adopted) == (1, 0)
    assert epics_by_deal(jira) == Counter({deal_id: 1 for deal_id in wanted})


@pytest.mark.parametrize("container, message", [(None, "needs container"), ("deliv-1", "must be a Jira project key")])
def test_a_jira_route_names_its_project(tmp_path: Path, container: str | None, message: str) -> None:
    with pytest.raises(SyncConfigError, match=message):
        load_sync_config(route_file(tmp_path, "jira", container=container))
