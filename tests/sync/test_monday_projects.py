"""Won deal → monday.com board with an item per deal line, exactly once, through the monday emulator (GraphQL)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from passerelle.sync.config import SyncConfigError, load_sync_config
from passerelle.sync.monday_projects import DEAL_ITEM
from tests.db import rows, tuples
from tests.sync.conftest import connector_api
from tests.sync.project_tools import extract_and_stage, forget_links, line_counts, route_file, run_sync
from tests.sync.project_tools import STRANGER, assert_owner_not_found, deal_owners, give_owner, won_dates
from tests.sync.test_deal_projects import by_deal, expected_deals


@pytest.fixture
def monday(sandbox: Any) -> Any:
    control = sandbox.vendors["monday"].control
    control.config(enforce_complexity=False)
    return control


@pytest.fixture
def monday_api(sandbox: Any, monday: Any) -> Any:
    return connector_api(sandbox, "monday")


@pytest.fixture
def workspace(monday: Any) -> str:
    return monday.records("boards")[0]["workspace_id"]


def boards_by_deal(monday: Any) -> Counter[str]:
    return by_deal([b for b in monday.records("boards") if b["state"] != "deleted"], "description")


def test_each_won_deal_gets_one_board_whose_items_carry_the_deal(staged_conn, monday, monday_api, tmp_path: Path,
                                                                 workspace: str) -> None:
    config = load_sync_config(route_file(tmp_path, "monday", container=workspace)).deal_to_project
    outcome = run_sync(staged_conn, config, "monday", monday_api, "monday-1")
    wanted = expected_deals(staged_conn)
    assert wanted and outcome.created == len(wanted) and not outcome.rejected and not outcome.unknown
    assert boards_by_deal(monday) == Counter({deal_id: 1 for deal_id in wanted})
    lines = line_counts(staged_conn)
    items = monday.records("items")
    for board in monday.records("boards"):
        key = next((line for line in (board.get("description") or "").splitlines() if line.startswith("Passerelle: ")),
                   None)
        if key is None:
            continue
        deal_id = key.split(":")[3]
        assert board["name"].endswith(wanted[deal_id]) and board["workspace_id"] == workspace
        assert {"id": "crm_deal", "title": "Affaire CRM", "type": "text"}.items() <= next(
            c for c in board["columns"] if c["id"] == "crm_deal").items()
        on_board = [i for i in items if i["board_id"] == board["id"]]
        assert len(on_board) == 1 + lines[deal_id] and DEAL_ITEM in {i["name"] for i in on_board}
        assert {i["column_values"]["crm_deal"] for i in on_board} == {f"hubspot:{deal_id}"}  # what staging reads
    made = rows(staged_conn, "SELECT state, pm_object, pm_url FROM sync.links WHERE pm_system = 'monday'")
    assert {(m["state"], m["pm_object"]) for m in made} == {("active", "board")} and all(m["pm_url"] for m in made)
    again = run_sync(staged_conn, config, "monday", monday_api, "monday-2")
    assert (again.created, again.adopted, again.cards) == (0, 0, 0)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE vendor = 'monday' "
                               "AND operation = 'create_project'") == [(len(wanted),)]


def test_a_board_made_before_a_crash_is_adopted_and_completed(staged_conn, monday, monday_api, tmp_path: Path) -> None:
    config = load_sync_config(route_file(tmp_path, "monday")).deal_to_project
    first = run_sync(staged_conn, config, "monday", monday_api, "crash-1")
    wanted = expected_deals(staged_conn)
    items = len(monday.records("items"))
    # one board lost its items (the run died while furnishing), and every link row was lost
    board = next(b for b in monday.records("boards") if "Passerelle: " in (b.get("description") or ""))
    lost = [i for i in monday.records("items") if i["board_id"] == board["id"]]
    for item in lost:
        monday.delete("items", item["id"])
    forget_links(staged_conn, "monday")
    rerun = run_sync(staged_conn, config, "monday", monday_api, "crash-2")
    assert first.created == len(wanted) and (rerun.created, rerun.adopted, rerun.cards) == (0, len(wanted), len(lost))
    assert boards_by_deal(monday) == Counter({deal_id: 1 for deal_id in wanted})
    assert len([i for i in monday.records("items") if i["state"] == "active"]) == items  # completed, none twice


def test_a_refusal_in_a_200_answer_is_recorded_and_every_deal_is_tried(staged_conn, monday, monday_api,
                                                                         tmp_path: Path, workspace: str) -> None:
    wrong = load_sync_config(route_file(tmp_path, "monday", container="999999")).deal_to_project
    refused = run_sync(staged_conn, wrong, "monday", monday_api, "refused-1")
    wanted = expected_deals(staged_conn)
    assert refused.created == 0 and len(refused.rejected) == len(wanted)
    assert all("InvalidWorkspaceIdException" in r for r in refused.rejected)
    assert tuples(staged_conn, "SELECT DISTINCT status, outcome FROM sync.writes WHERE vendor = 'monday' "
                               "AND operation = 'create_project'") == [(200, "rejected")]
    assert not boards_by_deal(monday)
    fixed = load_sync_config(route_file(tmp_path, "monday", container=workspace)).deal_to_project
    later = run_sync(staged_conn, fixed, "monday", monday_api, "refused-2")
    assert later.created == len(wanted) and boards_by_deal(monday) == Counter({deal_id: 1 for deal_id in wanted})


def test_a_lost_answer_is_resolved_by_the_description_not_a_second_board(staged_conn, monday, monday_api,
                                                                          tmp_path: Path) -> None:
    config = load_sync_config(route_file(tmp_path, "monday")).deal_to_project
    wanted = expected_deals(staged_conn)
    monday.add_fault("error", status=503, after=1, times=1)  # the first create_board (after the first lookup)
    first = run_sync(staged_conn, config, "monday", monday_api, "lost-1")
    assert len(first.unknown) == 1 and first.created == len(wanted) - 1
    later = run_sync(staged_conn, config, "monday", monday_api, "lost-2")
    assert later.created + later.adopted == 1
    assert boards_by_deal(monday) == Counter({deal_id: 1 for deal_id in wanted})


def test_a_monday_workspace_is_a_number(tmp_path: Path) -> None:
    with pytest.raises(SyncConfigError, match="must be a monday workspace id"):
        load_sync_config(route_file(tmp_path, "monday", container="Livraison"))


def test_after_the_next_extract_each_board_is_linked_to_its_deal(staged_conn, sandbox, monday, monday_api,
                                                                   tmp_path: Path) -> None:
    config = load_sync_config(route_file(tmp_path, "monday")).deal_to_project
    monday.set_clock("2026-03-02T10:00:00Z")  # the day after the snapshot's extract
    run_sync(staged_conn, config, "monday", monday_api, "staged-1")
    made = dict(tuples(staged_conn, "SELECT pm_id, crm_id FROM sync.links WHERE pm_system = 'monday'"))
    linked = extract_and_stage(staged_conn, sandbox, "monday")
    assert made and {board: linked.get(board) for board in made} == {
        board: (deal_id, "explicit_link") for board, deal_id in made.items()}
    again = run_sync(staged_conn, config, "monday", monday_api, "staged-2")  # delivered and linked: nothing to do
    assert (again.created, again.adopted, again.linked) == (0, 0, 0)


def test_the_deal_item_names_the_owner_and_the_start_and_due_dates(staged_conn, monday, monday_api,
                                                                   tmp_path: Path) -> None:
    stranger = min(expected_deals(staged_conn))
    give_owner(staged_conn, stranger, STRANGER)
    owners, won = deal_owners(staged_conn), won_dates(staged_conn)
    users = {monday.create("users", {"name": name, "email": email})["id"]: email
             for email, name in set(owners.values()) if email != STRANGER}
    config = load_sync_config(route_file(tmp_path, "monday", duration_days="30")).deal_to_project
    outcome = run_sync(staged_conn, config, "monday", monday_api, "owner-1")
    wanted = expected_deals(staged_conn)
    assert outcome.created == len(wanted) and not outcome.rejected
    items = monday.records("items")
    boards = {deal_id: board for board in monday.records("boards") for deal_id in by_deal([board], "description")}
    assert set(boards) == set(wanted)
    for deal_id, board in boards.items():
        columns = {c["id"]: c["type"] for c in board["columns"]}
        assert columns["deal_start"] == columns["deal_due"] == "date"
        assert columns.get("deal_owner") == (None if deal_id == stranger else "people")  # added when it has a value
        item = next(i for i in items if i["board_id"] == board["id"] and i["name"] == DEAL_ITEM)
        values = item["column_values"]
        assert values["deal_start"]["date"] == won[deal_id].isoformat()
        assert values["deal_due"]["date"] == (won[deal_id] + timedelta(days=30)).isoformat()
        people = [users.get(str(p["id"])) for p in (values.get("deal_owner") or {}).get("personsAndTeams") or []]
        assert people == ([] if deal_id == stranger else [owners[deal_id][0]])
    assert_owner_not_found(staged_conn, "monday", stranger)
