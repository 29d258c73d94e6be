"""Won deal → Zoho Projects project with a task per deal line, exactly once, through the Zoho Projects emulator."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from passerelle.sync.config import load_sync_config
from passerelle.sync.zoho_projects_projects import TASK_LIST
from passerelle_sandbox.zoho_projects_writes import TEMPLATES
from tests.db import rows, tuples
from tests.sync.conftest import connector_api, quiet
from tests.sync.project_tools import forget_links, line_counts, route_file, run_sync
from tests.sync.project_tools import STRANGER, assert_owner_not_found, deal_owners, give_owner, won_dates
from tests.sync.test_deal_projects import WON_AFTER, by_deal, expected_deals


@pytest.fixture
def zoho(sandbox: Any) -> Any:
    return quiet(sandbox, "zoho_projects")


@pytest.fixture
def zoho_api(sandbox: Any, zoho: Any) -> Any:
    return connector_api(sandbox, "zoho_projects", max_requests_per_window=10_000)


def projects_by_deal(zoho: Any) -> Counter[str]:
    return by_deal(zoho.records("projects"), "description")


def tasks_of(zoho: Any, project_id: str) -> list[dict[str, Any]]:
    return [t for t in zoho.records("tasks") if t["project"]["id"] == project_id]


def test_each_won_deal_gets_one_project_with_a_task_per_line(staged_conn, zoho, zoho_api, tmp_path: Path) -> None:
    config = load_sync_config(route_file(tmp_path, "zoho_projects")).deal_to_project
    outcome = run_sync(staged_conn, config, "zoho_projects", zoho_api, "zoho-1")
    wanted = expected_deals(staged_conn)
    assert wanted and outcome.created == len(wanted) and not outcome.rejected and not outcome.unknown
    assert projects_by_deal(zoho) == Counter({deal_id: 1 for deal_id in wanted})
    lines = line_counts(staged_conn)
    lists = zoho.records("tasklists")
    for project in zoho.records("projects"):
        key = next((line for line in (project.get("description") or "").splitlines()
                    if line.startswith("Passerelle: ")), None)
        if key is None:
            continue
        deal_id = key.split(":")[3]
        assert project["name"].endswith(wanted[deal_id]) and project["start_date"] >= WON_AFTER
        assert project["is_strict"] is False and project["end_date"] is None  # the route gives no duration
        deal_list = [t for t in lists if t["project"]["id"] == project["id"] and t["name"] == TASK_LIST]
        assert len(deal_list) == 1
        tasks = tasks_of(zoho, project["id"])
        assert len(tasks) == lines[deal_id] and {t["tasklist"]["id"] for t in tasks} <= {deal_list[0]["id"]}
    made = rows(staged_conn, "SELECT state, pm_object FROM sync.links WHERE pm_system = 'zoho_projects'")
    assert {(m["state"], m["pm_object"]) for m in made} == {("active", "project")}
    again = run_sync(staged_conn, config, "zoho_projects", zoho_api, "zoho-2")
    assert (again.created, again.adopted, again.cards) == (0, 0, 0)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE vendor = 'zoho_projects' "
                               "AND operation = 'create_project'") == [(len(wanted),)]


def test_a_template_project_keeps_its_dated_tasks_and_gains_the_lines(staged_conn, zoho, zoho_api,
                                                                       tmp_path: Path) -> None:
    template_id, template = next(iter(TEMPLATES.items()))
    config = load_sync_config(route_file(tmp_path, "zoho_projects", template=template_id)).deal_to_project
    outcome = run_sync(staged_conn, config, "zoho_projects", zoho_api, "template-1")
    assert outcome.created == len(expected_deals(staged_conn))
    lines = line_counts(staged_conn)
    for project in (p for p in zoho.records("projects") if "Passerelle: " in (p.get("description") or "")):
        deal_id = next(line for line in project["description"].splitlines() if line.startswith("Passerelle: ")
                       ).split(":")[3]
        tasks = tasks_of(zoho, project["id"])
        assert {name for name, *_ in template["tasks"]} <= {t["name"] for t in tasks}
        assert len(tasks) == len(template["tasks"]) + lines[deal_id]
        assert all(t["start_date"] >= project["start_date"] for t in tasks if t.get("start_date"))


def test_a_crash_after_the_create_adopts_the_project(staged_conn, zoho, zoho_api, tmp_path: Path) -> None:
    config = load_sync_config(route_file(tmp_path, "zoho_projects")).deal_to_project
    run_sync(staged_conn, config, "zoho_projects", zoho_api, "crash-1")
    wanted = expected_deals(staged_conn)
    tasks = len(zoho.records("tasks"))
    forget_links(staged_conn, "zoho_projects")
    rerun = run_sync(staged_conn, config, "zoho_projects", zoho_api, "crash-2")
    assert (rerun.created, rerun.adopted, rerun.cards) == (0, len(wanted), 0)
    assert projects_by_deal(zoho) == Counter({deal_id: 1 for deal_id in wanted}) and len(zoho.records("tasks")) == tasks


def test_a_refused_project_is_recorded_and_the_other_deals_go_through(staged_conn, zoho, zoho_api,
                                                                       tmp_path: Path) -> None:
    config = load_sync_config(route_file(tmp_path, "zoho_projects")).deal_to_project
    wanted = expected_deals(staged_conn)
    assert len(wanted) >= 2
    zoho.add_fault("error", status=400, path="/projects", after=1, times=1, message="name is mandatory")
    outcome = run_sync(staged_conn, config, "zoho_projects", zoho_api, "refused-1")
    assert len(outcome.rejected) == 1 and "HTTP 400" in outcome.rejected[0]
    assert outcome.created == len(wanted) - 1
    later = run_sync(staged_conn, config, "zoho_projects", zoho_api, "refused-2")
    assert (later.created, later.adopted) == (1, 0)
    assert projects_by_deal(zoho) == Counter({deal_id: 1 for deal_id in wanted})


def test_the_project_is_owned_by_the_deal_owner_and_ends_after_the_route_duration(staged_conn, zoho, zoho_api,
                                                                                  tmp_path: Path) -> None:
    stranger = min(expected_deals(staged_conn))
    give_owner(staged_conn, stranger, STRANGER)
    owners, won = deal_owners(staged_conn), won_dates(staged_conn)
    for number, (email, name) in enumerate(sorted(set(owners.values()) - {(STRANGER, "Ancien Commercial")})):
        zoho.create("users", {"name": name, "email": email, "zpuid": f"22980000000{90001 + number}",
                              "role": {"id": "2298000000000012", "name": "Employé"}})
    config = load_sync_config(route_file(tmp_path, "zoho_projects", duration_days="90")).deal_to_project
    outcome = run_sync(staged_conn, config, "zoho_projects", zoho_api, "owner-1")
    wanted = expected_deals(staged_conn)
    assert outcome.created == len(wanted) and not outcome.rejected
    made = {deal_id: project for project in zoho.records("projects") for deal_id in by_deal([project], "description")}
    assert set(made) == set(wanted)
    for deal_id, project in made.items():
        assert project["start_date"] == won[deal_id].isoformat()
        assert project["end_date"] == (won[deal_id] + timedelta(days=90)).isoformat()
        if deal_id != stranger:  # the stranger's project is the API user's, as Zoho makes it
            assert project["owner"]["email"] == owners[deal_id][0]
    assert_owner_not_found(staged_conn, "zoho_projects", stranger)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE vendor = 'zoho_projects' "
                               "AND operation = 'read_users'") == [(1,)]  # the portal's users, once per run
