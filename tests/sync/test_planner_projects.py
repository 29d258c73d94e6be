"""Won deal → Microsoft Planner plan with a task per deal line, exactly once, through the Graph emulator."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from passerelle.sync import links
from passerelle.sync.config import SyncConfigError, load_sync_config
from passerelle.sync.deal_projects import FLOW, KIND, apply, plan, project_makers
from passerelle.sync.planner_projects import BUCKET, DEAL_TASK, reference_key
from tests.db import rows, tuples
from tests.sync.conftest import connector_api
from tests.sync.project_tools import extract_and_stage, forget_links, line_counts, route_file, run_sync
from tests.sync.project_tools import STRANGER, assert_owner_not_found, deal_owners, give_owner, won_dates
from tests.sync.test_deal_projects import expected_deals

DEAL_URL = "https://app.hubspot.com/contacts/4410001/record/0-3/{deal_id}"


@pytest.fixture
def planner(sandbox: Any) -> Any:
    control = sandbox.vendors["planner"].control
    control.config(enforce_throttling=False)
    return control


@pytest.fixture
def planner_api(sandbox: Any, planner: Any) -> Any:
    return connector_api(sandbox, "planner")


@pytest.fixture
def group(planner: Any) -> str:
    return planner.records("groups")[0]["id"]


def config_for(tmp_path: Path, group: str) -> Any:
    return load_sync_config(route_file(tmp_path, "planner", container=group, deal_url=DEAL_URL)).deal_to_project


def plans_by_deal(planner: Any) -> Counter[str]:
    """Plans per HubSpot deal, read from their deal task's details (the key line)."""
    details = {d["id"]: d for d in planner.records("details")}
    found: Counter[str] = Counter()
    for task in planner.records("tasks"):
        for line in (details.get(task["id"], {}).get("description") or "").splitlines():
            if task["title"] == DEAL_TASK and line.startswith("Passerelle: hubspot:deal:"):
                found[line.split(":")[3]] += 1
    return found


def test_each_won_deal_gets_one_plan_whose_deal_task_references_the_deal(staged_conn, planner, planner_api,
                                                                          tmp_path: Path, group: str) -> None:
    config = config_for(tmp_path, group)
    outcome = run_sync(staged_conn, config, "planner", planner_api, "planner-1")
    wanted = expected_deals(staged_conn)
    assert wanted and outcome.created == len(wanted) and not outcome.rejected and not outcome.unknown
    assert plans_by_deal(planner) == Counter({deal_id: 1 for deal_id in wanted})
    lines = line_counts(staged_conn)
    details = {d["id"]: d for d in planner.records("details")}
    made = rows(staged_conn, "SELECT crm_id, pm_id, pm_object, state FROM sync.links WHERE pm_system = 'planner'")
    assert {(m["pm_object"], m["state"]) for m in made} == {("plan", "active")}
    for link in made:
        plan = next(p for p in planner.records("plans") if p["id"] == link["pm_id"])
        assert plan["owner"] == group and plan["title"].endswith(wanted[link["crm_id"]])
        buckets = [b for b in planner.records("buckets") if b["planId"] == plan["id"]]
        assert [b["name"] for b in buckets] == [BUCKET]
        tasks = [t for t in planner.records("tasks") if t["planId"] == plan["id"]]
        assert len(tasks) == 1 + lines[link["crm_id"]] and {t["bucketId"] for t in tasks} == {buckets[0]["id"]}
        deal_task = next(t for t in tasks if t["title"] == DEAL_TASK)
        references = details[deal_task["id"]]["references"]
        url = DEAL_URL.format(deal_id=link["crm_id"])
        assert list(references) == [reference_key(url)] and "%3A" in reference_key(url)  # what planner.sql decodes
        assert deal_task["referenceCount"] == 1 and deal_task["hasDescription"] is True
        assert deal_task.get("dueDateTime") is None  # the route gives no duration
    again = run_sync(staged_conn, config, "planner", planner_api, "planner-2")
    assert (again.created, again.adopted, again.cards) == (0, 0, 0)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE vendor = 'planner' "
                               "AND operation = 'create_project'") == [(len(wanted),)]


def test_a_plan_made_before_a_crash_is_found_by_its_recorded_id_and_stamped(staged_conn, planner, planner_api,
                                                                            tmp_path: Path, group: str) -> None:
    config = config_for(tmp_path, group)
    wanted = expected_deals(staged_conn)
    plans = len(planner.records("plans"))
    plan(staged_conn, config, "stamp-1")
    item = links.planned(staged_conn, "stamp-1", FLOW, "create")[0]
    link = links.reserve(staged_conn, kind=KIND, crm_system="hubspot", crm_object="deal", crm_id=item["crm_id"],
                         pm_system="planner", pm_object="plan", idem_key=item["idem_key"], template_ref=None)
    makers = project_makers(staged_conn, "stamp-1", {"planner": planner_api})
    makers("planner").create(item["payload"], link)  # the process dies here: a bare plan, not yet stamped
    assert not plans_by_deal(planner)
    outcome = apply(staged_conn, "stamp-1", makers, tool="planner")
    assert (outcome.created, outcome.adopted) == (len(wanted) - 1, 1)
    assert len(planner.records("plans")) == plans + len(wanted)
    assert plans_by_deal(planner) == Counter({deal_id: 1 for deal_id in wanted})


def test_lost_links_are_resolved_by_the_deal_task_not_a_second_plan(staged_conn, planner, planner_api,
                                                                    tmp_path: Path, group: str) -> None:
    config = config_for(tmp_path, group)
    run_sync(staged_conn, config, "planner", planner_api, "gone-1")
    wanted = expected_deals(staged_conn)
    forget_links(staged_conn, "planner")
    rerun = run_sync(staged_conn, config, "planner", planner_api, "gone-2")
    assert (rerun.created, rerun.adopted, rerun.cards) == (0, len(wanted), 0)
    assert plans_by_deal(planner) == Counter({deal_id: 1 for deal_id in wanted})


def test_a_refused_plan_is_recorded_and_the_next_deal_goes_on(staged_conn, planner, planner_api, tmp_path: Path,
                                                              group: str) -> None:
    wanted = expected_deals(staged_conn)
    gone = "00000000-0000-4000-8000-000000000000"
    refused = run_sync(staged_conn, config_for(tmp_path, gone), "planner", planner_api, "refused-1")
    assert refused.created == 0 and len(refused.rejected) == len(wanted)
    assert all("HTTP 404" in r and "Request_ResourceNotFound" in r for r in refused.rejected)
    later = run_sync(staged_conn, config_for(tmp_path, group), "planner", planner_api, "refused-2")
    assert later.created == len(wanted) and plans_by_deal(planner) == Counter({deal_id: 1 for deal_id in wanted})


@pytest.mark.parametrize("options, message", [
    ({"container": "00000000-0000-4000-8000-000000000000"}, "needs deal_url"),
    ({"deal_url": DEAL_URL}, "needs container"),
    ({"container": "group-1", "deal_url": DEAL_URL}, "must be a Microsoft 365 group id"),
])
def test_a_planner_route_names_its_group_and_the_deal_address(tmp_path: Path, options: dict[str, str],
                                                              message: str) -> None:
    with pytest.raises(SyncConfigError, match=message):
        load_sync_config(route_file(tmp_path, "planner", **options))


def test_after_the_next_extract_each_plan_is_linked_to_its_deal(staged_conn, sandbox, planner, planner_api,
                                                                 tmp_path: Path, group: str) -> None:
    config = config_for(tmp_path, group)
    planner.set_clock("2026-03-02T10:00:00Z")  # the day after the snapshot's extract
    run_sync(staged_conn, config, "planner", planner_api, "staged-1")
    made = dict(tuples(staged_conn, "SELECT pm_id, crm_id FROM sync.links WHERE pm_system = 'planner'"))
    linked = extract_and_stage(staged_conn, sandbox, "planner")
    assert made and {plan_id: linked.get(plan_id) for plan_id in made} == {
        plan_id: (deal_id, "explicit_link") for plan_id, deal_id in made.items()}


def test_the_deal_task_is_assigned_to_the_deal_owner_and_due_after_the_route_duration(staged_conn, planner,
                                                                                     planner_api, tmp_path: Path,
                                                                                     group: str) -> None:
    stranger = min(expected_deals(staged_conn))
    give_owner(staged_conn, stranger, STRANGER)
    owners, won = deal_owners(staged_conn), won_dates(staged_conn)
    users = {planner.create("users", {"displayName": name, "mail": email, "userPrincipalName": email,
                                      "accountEnabled": True})["id"]: email
             for email, name in set(owners.values()) if email != STRANGER}
    config = load_sync_config(route_file(tmp_path, "planner", container=group, deal_url=DEAL_URL,
                                         duration_days="21")).deal_to_project
    outcome = run_sync(staged_conn, config, "planner", planner_api, "owner-1")
    wanted = expected_deals(staged_conn)
    assert outcome.created == len(wanted) and not outcome.rejected
    for link in rows(staged_conn, "SELECT crm_id, pm_id FROM sync.links WHERE pm_system = 'planner'"):
        deal_id = link["crm_id"]
        task = next(t for t in planner.records("tasks") if t["planId"] == link["pm_id"] and t["title"] == DEAL_TASK)
        assert task["startDateTime"] == f"{won[deal_id].isoformat()}T00:00:00Z"
        assert task["dueDateTime"] == f"{(won[deal_id] + timedelta(days=21)).isoformat()}T00:00:00Z"
        assigned = [users.get(user) for user in task.get("assignments") or {}]
        assert assigned == ([] if deal_id == stranger else [owners[deal_id][0]])
    assert_owner_not_found(staged_conn, "planner", stranger)
