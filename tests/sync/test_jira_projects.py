"""Won deal → Jira epic with one task per deal line, exactly once, through the Jira emulator."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from passerelle.connectors.sources.jira import DEAL_EPIC_LABEL
from passerelle.sync.config import SyncConfigError, load_sync_config
from passerelle.sync.delivery_to_crm import build_figures
from tests.connectors.helpers import extract_day
from tests.db import rows, tuples
from tests.fixtures.staged_snapshot import build_staging
from tests.sync.conftest import connector_api, quiet
from tests.sync.project_tools import extract_and_stage, forget_links, line_counts, route_file, run_sync
from tests.sync.project_tools import STRANGER, assert_owner_not_found, deal_owners, give_owner, won_dates
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
        assert epic["fields"]["labels"] == [f"hubspot:deal:{deal_id}:project", DEAL_EPIC_LABEL]
        assert f"Passerelle: hubspot:deal:{deal_id}:project" in str(epic["fields"]["description"])
        assert epic["fields"]["duedate"] is None  # the route gives no duration
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


def test_a_deal_epic_is_staged_as_the_deals_project_with_its_tasks_and_hours(staged_conn, sandbox, jira, jira_api,
                                                                              config) -> None:
    """The epic the sync made is read back by the ``deal_epics`` stream and staged as a project of its own,
    linked to its deal explicitly; the line tasks under it and the time logged on them are its, so the
    deal's delivery figures (marts.deal_delivery) count them."""
    jira.set_clock("2026-03-02T10:00:00Z")  # the day after the snapshot's extract
    run_sync(staged_conn, config, "jira", jira_api, "staged-1")
    made = dict(tuples(staged_conn, "SELECT pm_id, crm_id FROM sync.links WHERE pm_system = 'jira'"))
    epic_id, deal_id = sorted(made.items())[0]
    tasks = [i for i in jira.records("issues") if (i["fields"].get("parent") or {}).get("id") == epic_id]
    assert tasks, "the epic holds the deal's lines as tasks"
    jira.create("worklogs", {"issueId": tasks[0]["id"], "timeSpentSeconds": 9000, "billable": True})
    jira.create("worklogs", {"issueId": epic_id, "timeSpentSeconds": 1800, "billable": False})

    linked = extract_and_stage(staged_conn, sandbox, "jira")
    assert {epic: linked.get(epic) for epic in made} == {epic: (deal, "explicit_link") for epic, deal in made.items()}
    assert tuples(staged_conn, "SELECT payload#>>'{properties,passerelle.crm,dealId}' FROM raw.records "
                               "WHERE source = 'jira' AND stream = 'deal_epics' AND record_id = %s", epic_id) == [(deal_id,)]
    project_key = f"jira:epic:{epic_id}"
    assert tuples(staged_conn, "SELECT crm_system, crm_deal_id, status FROM staging.projects WHERE project_key = %s",
                  project_key) == [("hubspot", deal_id, "active")]
    assert sorted(t for (t,) in tuples(staged_conn, "SELECT source_id FROM staging.tasks WHERE project_key = %s",
                                         project_key)) == sorted(t["id"] for t in tasks)
    assert tuples(staged_conn, "SELECT count(*) FROM staging.tasks WHERE source_id = %s", epic_id) == [(0,)]
    assert sorted(tuples(staged_conn, "SELECT hours, billable, task_key IS NULL FROM staging.time_entries "
                                      "WHERE project_key = %s", project_key)) == [
        (Decimal("0.50"), False, True), (Decimal("2.50"), True, False)]

    build_figures(staged_conn)
    assert tuples(staged_conn, "SELECT hours_billable, hours_non_billable, tasks_total FROM marts.deal_delivery "
                               "WHERE crm_system = 'hubspot' AND crm_id = %s", deal_id) == [
        (Decimal("2.50"), Decimal("0.50"), len(tasks))]


def test_an_epic_that_loses_its_label_leaves_the_projects(staged_conn, sandbox, jira, jira_api, config) -> None:
    jira.set_clock("2026-03-02T10:00:00Z")
    run_sync(staged_conn, config, "jira", jira_api, "label-1")
    epic_id = sorted(pm_id for (pm_id,) in tuples(staged_conn, "SELECT pm_id FROM sync.links WHERE pm_system = 'jira'"))[0]
    extract_and_stage(staged_conn, sandbox, "jira")
    labels = [label for label in jira.record("issues", epic_id)["fields"]["labels"] if label != DEAL_EPIC_LABEL]
    jira.update("issues", epic_id, {"labels": labels})  # a person removes the label
    for stream in ("issues", "deal_epics"):
        extract_day(staged_conn, sandbox, "jira", stream, 2)
    build_staging(staged_conn, "sync-jira-label")
    assert tuples(staged_conn, "SELECT count(*) FROM staging.projects WHERE project_key = %s", f"jira:epic:{epic_id}") == [(0,)]
    assert tuples(staged_conn, "SELECT count(*) FROM staging.tasks WHERE source_id = %s", epic_id) == [(1,)]


def test_the_epic_is_assigned_to_the_deal_owner_and_due_after_the_route_duration(staged_conn, jira, jira_api,
                                                                                 tmp_path: Path, project_key) -> None:
    stranger = min(expected_deals(staged_conn))
    give_owner(staged_conn, stranger, STRANGER)
    owners, won = deal_owners(staged_conn), won_dates(staged_conn)
    accounts = {jira.create("users", {"emailAddress": email.upper(), "displayName": name})["id"]: email
                for email, name in set(owners.values()) if email != STRANGER}
    config = load_sync_config(route_file(tmp_path, "jira", container=project_key, duration_days="60")).deal_to_project
    outcome = run_sync(staged_conn, config, "jira", jira_api, "owner-1")
    wanted = expected_deals(staged_conn)
    assert outcome.created == len(wanted) and not outcome.rejected
    epics = {label.split(":")[2]: issue for issue in jira.records("issues") if kind(issue) == "Epic"
             for label in issue["fields"].get("labels") or [] if label.startswith("hubspot:deal:")}
    assert set(epics) == set(wanted)
    for deal_id, epic in epics.items():
        assert epic["fields"]["duedate"] == (won[deal_id] + timedelta(days=60)).isoformat()
        assignee = (epic["fields"].get("assignee") or {}).get("accountId")
        assert accounts.get(assignee) == (None if deal_id == stranger else owners[deal_id][0])
    assert_owner_not_found(staged_conn, "jira", stranger)
