"""Customer request → task, and the task's closing → the request closed, through the HubSpot, Trello and Asana
emulators and a staged warehouse.

The deals' projects are made by the won deal → project flow first (real boards with ``À faire`` and
``Terminé``); the requests are HubSpot tickets made through the emulator's control API, associated with those
deals. What the vendors hold afterwards is read through their control APIs, not through the sync's tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle.paths import PROJECT_ROOT
from passerelle.sync.config import RequestRule, RequestsToTasks, load_sync_config
from passerelle.sync.deal_projects import apply, plan as plan_projects, project_makers
from passerelle.sync.requests_to_tasks import apply_closes, apply_tasks, crm_readers, plan, task_makers
from tests.connectors.helpers import FAST
from tests.db import rows, tuples
from tests.sync.conftest import connector_api
from tests.sync.test_deal_projects import WON_AFTER

CONFIG = RequestsToTasks(mode="apply", rules=(RequestRule(crm="hubspot", categories=("FEATURE_REQUEST",)),))


@pytest.fixture
def boards(staged_conn, trello, trello_api, deal_config) -> dict[str, str]:
    """The HubSpot deals that have a Trello project, made by the deal → project flow: deal id → board id."""
    plan_projects(staged_conn, deal_config(won_after=WON_AFTER), "projects")
    apply(staged_conn, "projects", project_makers(staged_conn, "projects", {"trello": trello_api}))
    made = dict(tuples(staged_conn, "SELECT crm_id, pm_id FROM sync.links WHERE link_kind = 'deal_project' "
                                    "AND state = 'active' AND pm_system = 'trello'"))
    assert len(made) >= 3
    return made


@pytest.fixture
def unlinked_deal(staged_conn, boards) -> str:
    """A HubSpot deal no project delivers."""
    return tuples(staged_conn, """SELECT source_id FROM staging.deals d WHERE source_system = 'hubspot'
                                    AND NOT EXISTS (SELECT FROM sync.links l WHERE l.crm_system = 'hubspot'
                                                    AND l.crm_id = d.source_id) ORDER BY source_id LIMIT 1""")[0][0]


def ticket(hubspot: Any, deal_id: str, subject: str, category: str = "FEATURE_REQUEST", stage: str = "1") -> str:
    made = hubspot.create("tickets", {"subject": subject, "content": f"{subject} : détail", "hs_pipeline": "0",
                                      "hs_pipeline_stage": stage, "hs_ticket_category": category},
                          associations=[{"to_type": "deals", "to_id": deal_id}])
    return str(made["id"])


def cycle(conn: Any, hubspot_api: Any, apis: dict[str, Any], run_id: str) -> tuple[Any, Any, Any]:
    """One run: plan, make the tasks, close the requests."""
    counts = plan(conn, CONFIG, run_id, crm_readers(conn, run_id, {"hubspot": hubspot_api}),
                  task_makers(conn, run_id, apis))
    made = apply_tasks(conn, run_id, task_makers(conn, run_id, apis))
    closed = apply_closes(conn, run_id, crm_readers(conn, run_id, {"hubspot": hubspot_api}))
    return counts, made, closed


def cards_with_key(trello: Any, ticket_id: str) -> list[dict[str, Any]]:
    return [c for c in trello.records("cards", include_deleted=True)
            if f"Passerelle: hubspot:ticket:{ticket_id}:task" in (c.get("desc") or "").splitlines()]


def list_name(trello: Any, list_id: str) -> str:
    return next(lst["name"] for lst in trello.records("lists") if lst["id"] == list_id)


def test_a_request_makes_one_card_in_its_deals_board_and_an_unlinked_one_is_skipped(
        staged_conn, trello, trello_api, hubspot, hubspot_api, boards, unlinked_deal) -> None:
    deals = sorted(boards)[:2]
    requests = {ticket(hubspot, deal, f"Demande {n}"): deal for n, deal in enumerate(deals, 1)}
    orphan = ticket(hubspot, unlinked_deal, "Demande sans projet")
    ticket(hubspot, deals[0], "Question de facturation", category="BILLING_ISSUE")  # not a request
    apis = {"trello": trello_api}

    counts = plan(staged_conn, CONFIG.model_copy(update={"mode": "plan"}), "req-plan",
                  crm_readers(staged_conn, "req-plan", {"hubspot": hubspot_api}),
                  task_makers(staged_conn, "req-plan", apis))
    assert (counts["create"], counts["skip"]) == (2, 1)
    items = {i["crm_id"]: i for i in rows(staged_conn, "SELECT * FROM sync.plan_items WHERE run_id = 'req-plan'")}
    assert set(items) == {*requests, orphan}
    assert items[orphan]["operation"] == "skip" and unlinked_deal in items[orphan]["reason"]
    assert "no project" in items[orphan]["reason"]
    assert all(cards_with_key(trello, t) == [] for t in requests)  # a plan writes nothing
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE method <> 'GET' "
                               "AND run_id = 'req-plan'") == [(0,)]

    _, made, _ = cycle(staged_conn, hubspot_api, apis, "req-1")
    assert (made.created, made.rejected, made.unknown) == (2, [], [])
    for ticket_id, deal in requests.items():
        [card] = cards_with_key(trello, ticket_id)
        assert card["idBoard"] == boards[deal] and list_name(trello, card["idList"]) == "À faire"
        assert card["name"] == f"Demande {list(requests).index(ticket_id) + 1}"
    links = rows(staged_conn, "SELECT crm_id, state, pm_id FROM sync.links WHERE link_kind = 'request_task'")
    assert {(link["crm_id"], link["state"]) for link in links} == {(t, "active") for t in requests}

    counts, again, _ = cycle(staged_conn, hubspot_api, apis, "req-2")
    assert (again.created, again.adopted, counts["create"], counts["open"]) == (0, 0, 0, 2)
    assert all(len(cards_with_key(trello, t)) == 1 for t in requests)
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE method <> 'GET' AND run_id = 'req-2'") == [(0,)]


def test_a_card_made_by_a_run_that_died_is_adopted_not_made_twice(staged_conn, trello, trello_api, hubspot,
                                                                   hubspot_api, boards) -> None:
    deal = sorted(boards)[0]
    ticket_id = ticket(hubspot, deal, "Demande perdue")
    trello.add_fault("error", status=503, path="/1/cards", times=1)  # the card is made, the answer is lost
    _, first, _ = cycle(staged_conn, hubspot_api, {"trello": trello_api}, "lost-1")
    assert len(first.unknown) == 1
    _, second, _ = cycle(staged_conn, hubspot_api, {"trello": trello_api}, "lost-2")
    assert second.created + second.adopted == 1
    assert len(cards_with_key(trello, ticket_id)) == 1


def test_two_cards_with_one_key_are_left_to_a_person(staged_conn, trello, trello_api, hubspot, hubspot_api,
                                                     boards) -> None:
    deal = sorted(boards)[0]
    ticket_id = ticket(hubspot, deal, "Demande copiée")
    todo = next(lst["id"] for lst in trello.records("lists")
                if lst["idBoard"] == boards[deal] and lst["name"] == "À faire")
    for _ in range(2):  # someone copied the card by hand, description included
        trello.create("cards", {"idList": todo, "name": "Copie",
                                "desc": f"Passerelle: hubspot:ticket:{ticket_id}:task"})
    _, made, _ = cycle(staged_conn, hubspot_api, {"trello": trello_api}, "dup-1")
    assert made.created == 0 and len(made.unknown) == 1 and ticket_id in made.unknown[0]
    assert tuples(staged_conn, "SELECT state FROM sync.links WHERE link_kind = 'request_task'") == [("unknown",)]
    cycle(staged_conn, hubspot_api, {"trello": trello_api}, "dup-2")
    assert tuples(staged_conn, "SELECT operation, reason FROM sync.plan_items WHERE run_id = 'dup-2'") == [
        ("skip", "several tasks carry this request's key: a person keeps one and fixes sync.links")]
    assert len(cards_with_key(trello, ticket_id)) == 2


def test_closing_the_card_closes_the_ticket_once_with_a_note_of_who_and_when(staged_conn, trello, trello_api,
                                                                            hubspot, hubspot_api, boards) -> None:
    deal = sorted(boards)[0]
    ticket_id = ticket(hubspot, deal, "Export CSV des factures")
    apis = {"trello": trello_api}
    cycle(staged_conn, hubspot_api, apis, "close-0")
    [card] = cards_with_key(trello, ticket_id)
    person = trello.create("members", {"fullName": "Camille Durand", "username": "camilledurand"})["id"]
    trello.update("cards", card["id"], {"idList": "Terminé", "idMemberCreator": person})

    for run in range(1, 6):
        counts, _, closed = cycle(staged_conn, hubspot_api, apis, f"close-{run}")
        assert closed.rejected == [] and closed.unknown == []
        assert counts["close"] == (1 if run == 1 else 0)
    record = hubspot.record("tickets", ticket_id)
    assert record["properties"]["hs_pipeline_stage"] == "4" and record["properties"]["closed_date"]
    writes = tuples(staged_conn, "SELECT operation, status, count(*) FROM sync.writes "
                                 "WHERE operation IN ('close_request', 'note_request') GROUP BY 1, 2 ORDER BY 1")
    assert writes == [("close_request", 200, 1), ("note_request", 201, 1)]
    notes = [n for n in hubspot.records("notes") if "Camille Durand" in (n["properties"].get("hs_note_body") or "")]
    assert len(notes) == 1 and "Trello" in notes[0]["properties"]["hs_note_body"]
    moved = next(a for a in trello.records("actions") if a["type"] == "updateCard"
                 and (a["data"].get("card") or {}).get("id") == card["id"] and "listAfter" in a["data"])
    assert notes[0]["properties"]["hs_timestamp"][:19] == moved["date"][:19]  # when the card was moved
    associated = hubspot_api.request("GET", f"/crm/v4/objects/tickets/{ticket_id}/associations/notes", stream="test")
    assert [str(a["toObjectId"]) for a in associated["results"]] == [notes[0]["id"]]

    # a person reopens the ticket: the sync closed it once and leaves it open
    hubspot.update("tickets", ticket_id, {"hs_pipeline_stage": "3"})
    cycle(staged_conn, hubspot_api, apis, "close-6")
    assert hubspot.record("tickets", ticket_id)["properties"]["hs_pipeline_stage"] == "3"
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'close_request'") == [(1,)]


def test_refused_writes_are_recorded_and_the_other_requests_go_on(staged_conn, trello, trello_api, hubspot,
                                                                  hubspot_api, boards) -> None:
    deals = sorted(boards)[:3]
    tickets = [ticket(hubspot, deal, f"Demande {n}") for n, deal in enumerate(deals, 1)]
    apis = {"trello": trello_api}
    trello.add_fault("error", status=400, path="/1/cards", times=1, message="invalid value for name")
    _, made, _ = cycle(staged_conn, hubspot_api, apis, "refused-1")
    assert made.created == 2 and len(made.rejected) == 1 and "HTTP 400" in made.rejected[0]
    assert [len(cards_with_key(trello, t)) for t in tickets] == [0, 1, 1]
    assert tuples(staged_conn, "SELECT status, run_id FROM sync.writes WHERE outcome = 'rejected'") == \
        [(400, "refused-1")]

    _, later, _ = cycle(staged_conn, hubspot_api, apis, "refused-2")
    assert later.created == 1 and all(len(cards_with_key(trello, t)) == 1 for t in tickets)

    for ticket_id in tickets:
        [card] = cards_with_key(trello, ticket_id)
        trello.update("cards", card["id"], {"closed": True})  # archiving a card closes it too
    hubspot.add_fault("error", status=400, path=f"/crm/v3/objects/tickets/{tickets[1]}", times=1,
                      message="Property values were not valid")
    _, _, closed = cycle(staged_conn, hubspot_api, apis, "refused-3")
    assert closed.closed == 2 and len(closed.rejected) == 1 and tickets[1] in closed.rejected[0]
    stages = [hubspot.record("tickets", t)["properties"]["hs_pipeline_stage"] for t in tickets]
    assert stages == ["4", "1", "4"]
    assert tuples(staged_conn, "SELECT count(*) FROM sync.plan_items WHERE run_id = 'refused-3' "
                               "AND outcome = 'rejected'") == [(1,)]
    _, _, retried = cycle(staged_conn, hubspot_api, apis, "refused-4")
    assert retried.closed == 1 and hubspot.record("tickets", tickets[1])["properties"]["hs_pipeline_stage"] == "4"


def test_a_request_on_a_deal_delivered_in_asana_becomes_an_asana_task(staged_conn, asana, session, hubspot,
                                                                      hubspot_api, unlinked_deal) -> None:
    project = asana.records("projects")[0]
    with staged_conn.cursor() as cur:
        cur.execute("""INSERT INTO sync.links (link_kind, crm_system, crm_object, crm_id, pm_system, pm_object,
                                               pm_id, idem_key, state)
                       VALUES ('deal_project', 'hubspot', 'deal', %s, 'asana', 'project', %s, %s, 'active')""",
                    (unlinked_deal, project["gid"], f"hubspot:deal:{unlinked_deal}:project"))
    staged_conn.commit()
    ticket_id = ticket(hubspot, unlinked_deal, "Nouveau rapport mensuel")
    apis = {"asana": session}
    _, made, _ = cycle(staged_conn, hubspot_api, apis, "asana-1")
    assert made.created == 1
    [task] = [t for t in asana.records("tasks")
              if f"Passerelle: hubspot:ticket:{ticket_id}:task" in (t.get("notes") or "").splitlines()]
    assert task["name"] == "Nouveau rapport mensuel"
    assert [m["project"]["gid"] for m in task["memberships"]] == [project["gid"]]

    asana.update("tasks", task["gid"], {"completed": True})
    for run in range(2, 4):
        cycle(staged_conn, hubspot_api, apis, f"asana-{run}")
    assert hubspot.record("tickets", ticket_id)["properties"]["hs_pipeline_stage"] == "4"
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'close_request'") == [(1,)]
    assert [n for n in hubspot.records("notes") if "Asana" in n["properties"]["hs_note_body"]]


@pytest.fixture
def salesforce(sandbox: Any) -> Any:
    return sandbox.vendors["salesforce"].control


def test_a_salesforce_case_becomes_a_card_and_closing_it_closes_the_case_with_a_comment(
        staged_conn, sandbox, salesforce, trello, trello_api) -> None:
    account = next(a["Id"] for a in salesforce.records("Account")
                   if [o for o in salesforce.records("Opportunity") if o["AccountId"] == a["Id"]])
    opportunities = sorted(o["Id"] for o in salesforce.records("Opportunity") if o["AccountId"] == account)
    board = trello.create("boards", {"name": "Projet Salesforce"})["id"]
    have = {lst["name"] for lst in trello.records("lists") if lst["idBoard"] == board}
    for name in {"À faire", "Terminé"} - have:
        trello.create("lists", {"idBoard": board, "name": name})
    with staged_conn.cursor() as cur:  # the account's first opportunity is delivered in that board
        cur.execute("""INSERT INTO sync.links (link_kind, crm_system, crm_object, crm_id, pm_system, pm_object,
                                               pm_id, idem_key, state)
                       VALUES ('deal_project', 'salesforce', 'deal', %s, 'trello', 'board', %s, %s, 'active')""",
                    (opportunities[0], board, f"salesforce:deal:{opportunities[0]}:project"))
    staged_conn.commit()
    case = salesforce.create("Case", {"Subject": "Accès au portail", "Description": "Deux comptes de plus",
                                      "Status": "New", "Type": "Request", "AccountId": account})["id"]
    salesforce.create("Case", {"Subject": "Question", "Status": "New", "Type": "Question", "AccountId": account})
    config = RequestsToTasks(mode="apply", rules=(RequestRule(crm="salesforce", categories=("Request",)),))
    crm = connector_api(sandbox, "salesforce")

    def run(run_id: str) -> tuple[Any, Any, Any]:
        apis = {"salesforce": crm, "trello": trello_api}
        counts = plan(staged_conn, config, run_id, crm_readers(staged_conn, run_id, apis),
                      task_makers(staged_conn, run_id, apis))
        return (counts, apply_tasks(staged_conn, run_id, task_makers(staged_conn, run_id, apis)),
                apply_closes(staged_conn, run_id, crm_readers(staged_conn, run_id, apis)))

    counts, made, _ = run("sf-1")
    assert (counts["create"], made.created) == (1, 1)
    [card] = [c for c in trello.records("cards")
              if f"Passerelle: salesforce:case:{case}:task" in (c.get("desc") or "").splitlines()]
    assert card["idBoard"] == board and card["name"] == "Accès au portail"
    trello.update("cards", card["id"], {"idList": "Terminé"})
    for run_id in ("sf-2", "sf-3", "sf-4"):
        _, again, closed = run(run_id)
        assert again.created == 0 and not closed.rejected
    record = salesforce.record("Case", case)
    assert (record["Status"], record["IsClosed"]) == ("Closed", True) and record["ClosedDate"]
    [comment] = [c for c in salesforce.records("CaseComment") if c["ParentId"] == case]
    assert "Trello" in comment["CommentBody"] and comment["IsPublished"] is False
    assert tuples(staged_conn, "SELECT vendor, status, count(*) FROM sync.writes WHERE operation = 'close_request' "
                               "GROUP BY 1, 2") == [("salesforce", 204, 1)]


def test_the_example_file_declares_the_flow_in_plan_mode() -> None:
    config = load_sync_config(PROJECT_ROOT / "include" / "sync" / "sync.example.toml").requests_to_tasks
    assert config is not None and config.mode == "plan"
    assert [rule.crm for rule in config.rules] == ["hubspot", "salesforce"]


@pytest.mark.parametrize(("rule", "message"), [
    ('crm = "hubspot"', "pipeline or categories"),
    ('crm = "salesforce"\npipeline = "0"\ncategories = ["Request"]', "Case Type values"),
    ('crm = "pipedrive"\ncategories = ["x"]', "crm"),
])
def test_a_rule_that_cannot_say_what_a_request_is_is_refused(tmp_path, rule: str, message: str) -> None:
    path = tmp_path / "sync.toml"
    path.write_text(f'[requests_to_tasks]\nmode = "apply"\n\n[[requests_to_tasks.rules]]\n{rule}\n')
    with pytest.raises(ValueError, match=f"requests_to_tasks.rules.0.*{message}"):
        load_sync_config(path)


@pytest.mark.dag
def test_the_dag_plans_in_a_dry_run_then_makes_the_task_and_closes_the_request_once(
        dagbag, sandbox, staged_warehouse_url, staged_conn, airflow_connections, fast_retries, monkeypatch,
        tmp_path, trello, hubspot, boards) -> None:
    vendors = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for name in ("trello", "hubspot"):
        vendors[f"passerelle_{name}"]["extra"].update(FAST)
    airflow_connections({"passerelle_warehouse": warehouse_connection(staged_warehouse_url),
                         "passerelle_trello": vendors["passerelle_trello"],
                         "passerelle_hubspot": vendors["passerelle_hubspot"]})
    ticket_id = ticket(hubspot, sorted(boards)[0], "Demande par le DAG")

    def run(mode: str, day: int) -> dict[str, str]:
        path = tmp_path / "sync.toml"
        path.write_text(f'[requests_to_tasks]\nmode = "{mode}"\n\n[[requests_to_tasks.rules]]\ncrm = "hubspot"\n'
                        'categories = ["FEATURE_REQUEST"]\n')
        monkeypatch.setenv("PASSERELLE_SYNC_FILE", str(path))
        dag = fast_retries(dagbag.dags["sync_requests_to_tasks"], 0)
        done = dag.test(logical_date=datetime(2026, 3, day, 9, tzinfo=ZoneInfo("Europe/Paris")))
        return {ti.task_id: str(ti.state) for ti in done.get_task_instances()}

    dag = dagbag.dags["sync_requests_to_tasks"]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert {t.task_id: t.pool for t in dag.tasks if t.task_id != "plan_requests"} == {
        **{f"apply_request_tasks_{tool}": f"{tool}_api"
           for tool in ("trello", "asana", "jira", "monday", "zoho_projects", "planner")},
        "close_requests_hubspot": "hubspot_api", "close_requests_salesforce": "salesforce_api"}
    assert set(run("plan", 1).values()) == {"success"}
    assert cards_with_key(trello, ticket_id) == []
    assert tuples(staged_conn, "SELECT operation, count(*) FROM sync.plan_items WHERE flow = 'request_to_task' "
                               "GROUP BY 1") == [("create", 1)]

    assert set(run("apply", 2).values()) == {"success"}
    [card] = cards_with_key(trello, ticket_id)
    trello.update("cards", card["id"], {"idList": "Terminé"})
    for day in (3, 4):
        assert set(run("apply", day).values()) == {"success"}
    assert len(cards_with_key(trello, ticket_id)) == 1
    assert hubspot.record("tickets", ticket_id)["properties"]["hs_pipeline_stage"] == "4"
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE operation = 'close_request'") == [(1,)]
