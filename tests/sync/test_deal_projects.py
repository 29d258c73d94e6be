"""Won deal → project, exactly once, through the Trello emulator and a staged warehouse.

The expected deals are counted here with SQL of the test's own (won HubSpot deals since the date, minus those a
project already delivers through an explicit link); what the emulator holds afterwards is read through its
control API, not through the sync's own tables.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from passerelle.sync.config import load_sync_config
from passerelle.sync.deal_projects import apply, plan, project_makers
from passerelle.sync.trello_projects import DEAL_CARD, DEAL_FIELD, LISTS
from tests.db import rows, tuples

WON_AFTER = "2026-01-20"


def expected_deals(conn: Any, won_after: str = WON_AFTER) -> dict[str, str]:
    """HubSpot deals won since ``won_after`` that no project delivers yet: id → name."""
    return dict(tuples(conn, """
        SELECT source_id, name FROM staging.deals d
         WHERE source_system = 'hubspot' AND is_won AND won_date >= %s
           AND NOT EXISTS (SELECT FROM staging.project_links l WHERE l.deal_key = d.deal_key
                                                                AND l.method IN ('explicit_link', 'override'))""",
                       won_after))


def by_deal(records: list[dict[str, Any]], text_field: str) -> Counter[str]:
    """How many records carry each HubSpot deal's key line in ``text_field`` (a description or notes)."""
    found: Counter[str] = Counter()
    for record in records:
        for line in (record.get(text_field) or "").splitlines():
            if line.startswith("Passerelle: hubspot:deal:"):
                found[line.split(":")[3]] += 1
    return found


def boards_by_deal(trello: Any) -> Counter[str]:
    return by_deal(trello.records("boards"), "desc")


def run_sync(conn: Any, config: Any, api: Any, run_id: str) -> Any:
    plan(conn, config, run_id)
    return apply(conn, run_id, project_makers(conn, run_id, {"trello": api}))


def test_plan_lists_each_won_deal_once_with_its_reason_and_writes_nothing(staged_conn, trello, deal_config) -> None:
    before = len(trello.records("boards"))
    counts = plan(staged_conn, deal_config(mode="plan", won_after=WON_AFTER), "plan-1")
    wanted = expected_deals(staged_conn)
    assert wanted and counts["create"] == len(wanted)
    items = rows(staged_conn, "SELECT operation, crm_id, reason, payload FROM sync.plan_items WHERE run_id = 'plan-1'")
    assert {i["crm_id"] for i in items if i["operation"] == "create"} == set(wanted)
    delivered = [i for i in items if i["operation"] != "create"]
    assert delivered and all("delivered in" in i["reason"] for i in delivered)
    assert all(i["payload"]["pm_id"] for i in delivered if i["operation"] == "link")
    one = next(i for i in items if i["operation"] == "create")
    assert one["payload"]["deal_link"] == f"hubspot:{one['crm_id']}"
    assert "Montant HT" in one["payload"]["summary"] and "Gagnée le" in one["payload"]["summary"]
    [(amount, currency)] = tuples(staged_conn, "SELECT amount, currency FROM staging.deals WHERE deal_key = %s",
                                  one["payload"]["deal_link"])
    french = f"{amount:,.2f}".replace(",", "\u202f").replace(".", ",")  # written here, not by the product's formats
    assert f"Montant HT : {french} {currency}".strip() in one["payload"]["summary"]
    assert len(trello.records("boards")) == before
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes") == [(0,)]
    assert tuples(staged_conn, "SELECT count(*) FROM sync.links") == [(0,)]


def test_apply_makes_one_board_per_won_deal_linked_the_way_staging_reads_it(staged_conn, trello, trello_api,
                                                                            deal_config) -> None:
    config = deal_config(won_after=WON_AFTER)
    outcome = run_sync(staged_conn, config, trello_api, "apply-1")
    wanted = expected_deals(staged_conn)
    assert outcome.created == len(wanted) and not outcome.rejected and not outcome.unknown
    assert boards_by_deal(trello) == Counter({deal_id: 1 for deal_id in wanted})

    lines = dict(tuples(staged_conn, """
        SELECT d.source_id, count(l.*) FROM staging.deals d LEFT JOIN staging.deal_lines l USING (deal_key)
         WHERE d.source_system = 'hubspot' GROUP BY 1"""))
    fields = {f["id"]: f for f in trello.records("customFields")}
    for board in trello.records("boards"):
        key = next((line for line in board["desc"].splitlines() if line.startswith("Passerelle: ")), None)
        if key is None:
            continue
        deal_id = key.split(":")[3]
        assert board["name"].endswith(wanted[deal_id])
        names = [lst["name"] for lst in trello.records("lists") if lst["idBoard"] == board["id"]]
        assert set(LISTS) <= set(names)
        cards = [c for c in trello.records("cards") if c["idBoard"] == board["id"]]
        assert len(cards) == 1 + lines[deal_id]
        deal_card = next(c for c in cards if c["name"] == DEAL_CARD)
        values = {fields[i["idCustomField"]]["name"]: i["value"] for i in deal_card["customFieldItems"]}
        assert values[DEAL_FIELD] == {"text": f"hubspot:{deal_id}"}  # what staging/projects/trello.sql links by

    links = rows(staged_conn, "SELECT crm_id, pm_id, state, pm_url FROM sync.links WHERE pm_object = 'board'")
    assert {link["crm_id"] for link in links} == set(wanted) and {link["state"] for link in links} == {"active"}
    assert all(link["pm_url"].startswith("https://trello.com/b/") for link in links)
    audit = tuples(staged_conn, "SELECT operation, outcome, count(*) FROM sync.writes GROUP BY 1, 2")
    assert ("create_project", "succeeded", len(wanted)) in audit
    assert all(outcome == "succeeded" for _, outcome, _ in audit)


def test_a_rerun_and_a_deal_won_again_make_no_second_project(staged_conn, trello, trello_api, deal_config) -> None:
    config = deal_config(won_after=WON_AFTER)
    first = run_sync(staged_conn, config, trello_api, "run-1")
    boards = len(trello.records("boards"))
    again = run_sync(staged_conn, config, trello_api, "run-2")
    assert first.created > 0 and (again.created, again.adopted) == (0, 0)
    assert len(trello.records("boards")) == boards
    assert tuples(staged_conn, "SELECT count(*) FROM sync.plan_items WHERE run_id = 'run-2' "
                               "AND operation <> 'skip'") == [(0,)]  # skips wait for a person, every run

    # the deal is reopened, then won again: its link stays, so no project is planned
    deal_id = next(iter(expected_deals(staged_conn)))
    staged_conn.cursor().execute("UPDATE staging.deals SET is_won = false WHERE source_system = 'hubspot' "
                                 "AND source_id = %s", (deal_id,))
    staged_conn.commit()
    run_sync(staged_conn, config, trello_api, "run-3")
    staged_conn.cursor().execute("UPDATE staging.deals SET is_won = true, won_date = current_date "
                                 "WHERE source_system = 'hubspot' AND source_id = %s", (deal_id,))
    staged_conn.commit()
    fourth = run_sync(staged_conn, config, trello_api, "run-4")
    assert fourth.created == 0 and boards_by_deal(trello)[deal_id] == 1


def test_a_refused_create_is_recorded_and_the_other_deals_go_through(staged_conn, trello, trello_api,
                                                                     deal_config) -> None:
    config = deal_config(won_after=WON_AFTER)
    wanted = expected_deals(staged_conn)
    assert len(wanted) >= 2
    # the second board create of the run is refused (each deal makes 4 calls under /1/boards before the next)
    trello.add_fault("error", status=400, path="/1/boards", after=4, times=1, message="invalid value for name")
    outcome = run_sync(staged_conn, config, trello_api, "refused-1")
    assert len(outcome.rejected) == 1 and "HTTP 400" in outcome.rejected[0]
    assert outcome.created == len(wanted) - 1
    refused = rows(staged_conn, "SELECT status, outcome, response, run_id FROM sync.writes WHERE outcome = 'rejected'")
    assert [(r["status"], r["run_id"]) for r in refused] == [(400, "refused-1")]
    assert tuples(staged_conn, "SELECT count(*) FROM sync.plan_items WHERE outcome = 'rejected'") == [(1,)]
    # the next run makes the refused one, and only it
    later = run_sync(staged_conn, config, trello_api, "refused-2")
    assert (later.created, later.adopted) == (1, 0)
    assert boards_by_deal(trello) == Counter({deal_id: 1 for deal_id in wanted})


def test_a_lost_answer_is_resolved_by_the_key_not_by_a_second_create(staged_conn, trello, trello_api,
                                                                      deal_config) -> None:
    config = deal_config(won_after=WON_AFTER)
    wanted = expected_deals(staged_conn)
    trello.add_fault("error", status=503, path="/1/boards", after=0, times=1)
    outcome = run_sync(staged_conn, config, trello_api, "lost-1")
    assert len(outcome.unknown) == 1 and outcome.created == len(wanted) - 1
    pending = tuples(staged_conn, "SELECT state FROM sync.links WHERE state <> 'active'")
    assert pending == [("pending_create",)]
    later = run_sync(staged_conn, config, trello_api, "lost-2")
    assert later.created + later.adopted == 1
    assert boards_by_deal(trello) == Counter({deal_id: 1 for deal_id in wanted})


def test_two_boards_with_one_key_are_left_to_a_person(staged_conn, trello, trello_api, deal_config) -> None:
    config = deal_config(won_after=WON_AFTER)
    deal_id = next(iter(expected_deals(staged_conn)))
    for _ in range(2):  # someone copied the board by hand, description included
        trello.create("boards", {"name": "Copie", "desc": f"Passerelle: hubspot:deal:{deal_id}:project"})
    outcome = run_sync(staged_conn, config, trello_api, "dup-1")
    assert [u for u in outcome.unknown if deal_id in u]
    assert tuples(staged_conn, "SELECT state FROM sync.links WHERE crm_id = %s", deal_id) == [("unknown",)]
    run_sync(staged_conn, config, trello_api, "dup-2")
    skipped = tuples(staged_conn, "SELECT operation, reason FROM sync.plan_items WHERE run_id = 'dup-2' "
                                  "AND crm_id = %s", deal_id)
    assert skipped == [("skip", "several projects carry this deal's key: a person keeps one and fixes sync.links")]
    assert boards_by_deal(trello)[deal_id] == 2


def test_a_template_board_is_copied_with_its_lists_fields_and_cards(staged_conn, trello, trello_api,
                                                                    deal_config) -> None:
    template = trello.create("boards", {"name": "Modèle de projet"})
    template_lists = [lst for lst in trello.records("lists") if lst["idBoard"] == template["id"]]
    trello.create("cards", {"idList": template_lists[0]["id"], "name": "Réunion de lancement"})
    config = deal_config(won_after=WON_AFTER, template=template["id"])
    outcome = run_sync(staged_conn, config, trello_api, "template-1")
    assert outcome.created > 0
    made = [b for b in trello.records("boards") if "Passerelle: " in (b.get("desc") or "")]
    for board in made:
        cards = {c["name"] for c in trello.records("cards") if c["idBoard"] == board["id"]}
        assert {"Réunion de lancement", DEAL_CARD} <= cards
        names = [lst["name"] for lst in trello.records("lists") if lst["idBoard"] == board["id"]]
        assert names.count("À faire") == 1  # the template's own list, not a second one
    assert tuples(staged_conn, "SELECT DISTINCT template_ref FROM sync.links WHERE pm_object = 'board'") == [(template["id"],)]


@pytest.mark.parametrize("rate_limited", [True])
def test_throttling_waits_and_writes_each_object_once(staged_conn, trello, trello_api, deal_config,
                                                       rate_limited: bool) -> None:
    config = deal_config(won_after=WON_AFTER)
    trello.add_fault("rate_limit", path="/1/cards", after=1, times=2)
    outcome = run_sync(staged_conn, config, trello_api, "throttled-1")
    assert outcome.created == len(expected_deals(staged_conn)) and not outcome.unknown
    board_ids = {b["id"] for b in trello.records("boards") if "Passerelle: " in (b.get("desc") or "")}
    names = Counter((c["idBoard"], c["name"]) for c in trello.records("cards") if c["idBoard"] in board_ids)
    assert max(names.values()) == 1


def test_the_deal_card_starts_on_the_won_date_is_due_after_the_route_duration_and_names_its_owner(
        staged_conn, trello, trello_api, tmp_path) -> None:
    from tests.sync.project_tools import (STRANGER, assert_owner_not_found, give_owner,  # it imports this module
                                          route_file, won_dates)

    me = trello_api.request("GET", "/1/members/me", stream="test", params={"fields": "id,email"})
    mine, stranger, *_ = sorted(expected_deals(staged_conn))
    give_owner(staged_conn, mine, me["email"], "Passerelle Intégration")
    give_owner(staged_conn, stranger, STRANGER)
    config = load_sync_config(route_file(tmp_path, "trello", duration_days="30")).deal_to_project
    outcome = run_sync(staged_conn, config, trello_api, "dates-1")
    assert outcome.created == len(expected_deals(staged_conn)) and not outcome.rejected
    won = won_dates(staged_conn)
    for board in trello.records("boards"):
        deal_id = next(iter(by_deal([board], "desc")), None)
        if deal_id is None:
            continue
        card = next(c for c in trello.records("cards") if c["idBoard"] == board["id"] and c["name"] == DEAL_CARD)
        assert card["start"][:10] == won[deal_id].isoformat()
        assert card["due"][:10] == (won[deal_id] + timedelta(days=30)).isoformat()
        assert card["idMembers"] == ([me["id"]] if deal_id == mine else [])
        if deal_id == stranger:
            assert f"Responsable commercial : Ancien Commercial <{STRANGER}>" in card["desc"]
    assert_owner_not_found(staged_conn, "trello", stranger)
    reason = tuples(staged_conn, "SELECT reason FROM sync.plan_items WHERE crm_id = %s", mine)[0][0]
    assert "due 30 days later" in reason and "not found" not in reason


def test_without_a_duration_the_deal_card_has_no_due_date(staged_conn, trello, trello_api, deal_config) -> None:
    counts = plan(staged_conn, deal_config(won_after=WON_AFTER), "nodue-1")
    items = rows(staged_conn, "SELECT reason, payload FROM sync.plan_items WHERE run_id = 'nodue-1' "
                              "AND operation = 'create'")
    assert len(items) == counts["create"] > 0
    assert all(i["payload"]["due_date"] is None and "no due date" in i["reason"] for i in items)
    apply(staged_conn, "nodue-1", project_makers(staged_conn, "nodue-1", {"trello": trello_api}))
    cards = [c for c in trello.records("cards") if c["name"] == DEAL_CARD]
    assert len(cards) == len(items) and all(c["due"] is None and c["start"] for c in cards)
