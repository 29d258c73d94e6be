"""Zoho CRM tasks ↔ Zoho Projects tasks through both emulators and a staged warehouse.

What each product holds afterwards is read through the emulators' control API, and the calls the sync made
through ``sync.writes``; the expected values are the edits the test makes."""

from __future__ import annotations

from typing import Any

import pytest

from passerelle.sync.keys import key_line
from passerelle.sync.zoho_tasks import idem_key
from tests.db import rows, tuples
from tests.sync.zoho_tasks_setup import Zoho, config


@pytest.fixture
def zoho(sandbox: Any) -> Zoho:
    return Zoho(sandbox)


def writes(conn: Any, vendor: str, methods: tuple[str, ...] = ("POST", "PUT", "PATCH")) -> int:
    return tuples(conn, "SELECT count(*) FROM sync.writes WHERE vendor = %s AND method = ANY(%s)",
                  vendor, list(methods))[0][0]


def linked_task(conn: Any, crm_id: str) -> str:
    [(pm_id,)] = tuples(conn, "SELECT pm_id FROM sync.links WHERE crm_id = %s AND link_kind = 'task_task' "
                              "AND state = 'active'", crm_id)
    return pm_id.split("/")[1]


def paired(zoho: Zoho, conn: Any, **fields: Any) -> tuple[str, str, dict[str, Any]]:
    """A CRM task on a deal's project, synced once: (CRM task id, Zoho Projects task id, project)."""
    project = zoho.deal_project(strict=fields.pop("strict", False))
    task = zoho.crm_task(project["crm"]["deal"], **fields)
    zoho.cycle(conn, config(), "pair")
    return task["id"], linked_task(conn, task["id"]), project


def test_a_dry_run_plans_the_create_and_writes_nothing(zoho, staged_conn) -> None:
    project = zoho.deal_project()
    task = zoho.crm_task(project["crm"]["deal"])
    before = len(zoho.pm.records("tasks"))
    counts = zoho.cycle(staged_conn, config(mode="plan"), "dry")
    assert counts["create"] == 1
    [item] = rows(staged_conn, "SELECT operation, crm_id, idem_key, payload FROM sync.plan_items WHERE run_id = 'dry'")
    assert (item["operation"], item["crm_id"], item["idem_key"]) == ("create", task["id"], idem_key(task["id"]))
    assert item["payload"]["project_id"] == project["id"]
    assert item["payload"]["values"]["title"] == "Préparer la recette"
    assert len(zoho.pm.records("tasks")) == before and writes(staged_conn, "zoho_projects") == 0


def test_a_crm_task_gets_its_project_task_exactly_once(zoho, staged_conn) -> None:
    crm_id, pm_id, project = paired(zoho, staged_conn)
    made = zoho.pm_record(pm_id)
    assert made["project"]["id"] == project["id"] and made["name"] == "Préparer la recette"
    assert made["end_date"] == "2026-04-15" and made["priority"] == "High"
    assert key_line(idem_key(crm_id)) in made["description"].splitlines()
    assert made["description"].startswith("Scénarios de recette avec le client")
    assert made["owners"][0]["email"] == zoho.crm_user(1)["email"]

    for run in range(3):
        zoho.cycle(staged_conn, config(), f"again-{run}")
    keyed = [t for t in zoho.pm.records("tasks") if key_line(idem_key(crm_id)) in (t.get("description") or "")]
    assert [t["id"] for t in keyed] == [pm_id]
    assert writes(staged_conn, "zoho_projects", ("POST",)) == 1

    # a run that died after the create, before the link was settled: the key is found, nothing is made twice
    with staged_conn.cursor() as cur:
        cur.execute("UPDATE sync.links SET state = 'pending_create', pm_id = NULL WHERE crm_id = %s", (crm_id,))
    staged_conn.commit()
    outcome = zoho.cycle(staged_conn, config(), "after-crash")
    assert (outcome.created, outcome.adopted) == (0, 1) and linked_task(staged_conn, crm_id) == pm_id
    assert writes(staged_conn, "zoho_projects", ("POST",)) == 1


def test_an_account_task_pairs_through_identity_resolution(zoho, staged_conn) -> None:
    live = {p["id"] for p in zoho.pm.records("projects")}
    accounts = tuples(staged_conn, """
        SELECT c.source_id, min(pr.source_id), count(*)
          FROM staging.project_links pl
          JOIN staging.projects pr ON pr.project_key = pl.project_key AND pr.source_system = 'zoho_projects'
          JOIN staging.customers c ON c.customer_key = pl.customer_key AND c.source_system = 'zoho_crm'
         WHERE pr.source_id = ANY(%s)
         GROUP BY c.source_id ORDER BY count(*), c.source_id""", sorted(live))
    single = [(account, project) for account, project, n in accounts if n == 1]
    several = [account for account, _, n in accounts if n > 1]
    assert single, "the staged sandbox links Zoho Projects projects to Zoho CRM accounts"
    account, project = single[0]
    task = zoho.crm_task({"id": account, "name": "compte"}, module="Accounts")
    if several:
        crowded = zoho.crm_task({"id": several[0], "name": "compte"}, module="Accounts")
    counts = zoho.cycle(staged_conn, config(mode="plan"), "accounts")
    plans = {r["crm_id"]: r for r in rows(staged_conn, "SELECT crm_id, operation, reason, payload FROM sync.plan_items "
                                                       "WHERE run_id = 'accounts'")}
    assert plans[task["id"]]["operation"] == "create" and plans[task["id"]]["payload"]["project_id"] == project
    if several:
        assert plans[crowded["id"]]["operation"] == "skip" and "projects match" in plans[crowded["id"]]["reason"]
    assert counts["create"] == 1


def test_one_edit_per_side_then_five_cycles_make_one_write_per_side(zoho, staged_conn) -> None:
    crm_id, pm_id, _ = paired(zoho, staged_conn)
    crm_before, pm_before = writes(staged_conn, "zoho_crm"), writes(staged_conn, "zoho_projects")
    zoho.later(5)
    zoho.edit_crm(crm_id, Subject="Préparer la recette v2")
    zoho.later(1)
    zoho.edit_pm(pm_id, priority="Low")
    for run in range(5):
        zoho.later(10)
        zoho.cycle(staged_conn, config(), f"cycle-{run}")
    assert writes(staged_conn, "zoho_crm") - crm_before == 1
    assert writes(staged_conn, "zoho_projects") - pm_before == 1
    assert zoho.pm_record(pm_id)["name"] == "Préparer la recette v2"
    assert zoho.crm_record(crm_id)["Priority"] == "Low"
    assert tuples(staged_conn, "SELECT count(*) FROM sync.conflicts") == [(0,)]
    assert tuples(staged_conn, "SELECT count(*) FROM sync.plan_items WHERE run_id LIKE 'cycle-%%' "
                               "AND operation = 'update'") == [(1,)]


def test_both_sides_edited_the_last_writer_wins_and_the_conflict_is_kept(zoho, staged_conn) -> None:
    crm_id, pm_id, _ = paired(zoho, staged_conn)
    zoho.later(5)
    zoho.edit_crm(crm_id, Subject="Titre venu du CRM")
    zoho.later(3)
    zoho.edit_pm(pm_id, name="Titre venu de Projects")
    zoho.later(1)
    zoho.cycle(staged_conn, config(), "lww")
    assert zoho.crm_record(crm_id)["Subject"] == "Titre venu de Projects"
    assert zoho.pm_record(pm_id)["name"] == "Titre venu de Projects"
    [conflict] = rows(staged_conn, "SELECT field, crm_value, pm_value, rule, winner FROM sync.conflicts")
    assert conflict == {"field": "title", "crm_value": "Titre venu du CRM", "pm_value": "Titre venu de Projects",
                        "rule": "last_writer", "winner": "pm"}

    zoho.later(5)
    zoho.edit_pm(pm_id, name="Encore Projects")
    zoho.edit_crm(crm_id, Subject="Le CRM, à la même seconde")
    zoho.cycle(staged_conn, config(), "tie")
    assert zoho.pm_record(pm_id)["name"] == "Le CRM, à la même seconde"
    assert rows(staged_conn, "SELECT rule, winner FROM sync.conflicts WHERE run_id = 'tie'") == [
        {"rule": "tie_crm_wins", "winner": "crm"}]

    zoho.later(5)
    zoho.edit_crm(crm_id, Subject="Le CRM possède le titre")
    zoho.later(3)
    zoho.edit_pm(pm_id, name="Projects plus tard")
    zoho.cycle(staged_conn, config(fields={"title": "crm"}), "owned")
    assert zoho.pm_record(pm_id)["name"] == "Le CRM possède le titre"
    assert rows(staged_conn, "SELECT rule, winner FROM sync.conflicts WHERE run_id = 'owned'") == [
        {"rule": "owner", "winner": "crm"}]


def test_an_empty_value_never_overwrites_a_filled_one_unless_configured(zoho, staged_conn) -> None:
    crm_id, pm_id, _ = paired(zoho, staged_conn)
    pm_before = writes(staged_conn, "zoho_projects")
    zoho.later(5)
    zoho.edit_crm(crm_id, Description=None)
    zoho.cycle(staged_conn, config(), "empty")
    zoho.cycle(staged_conn, config(), "empty-again")
    assert zoho.pm_record(pm_id)["description"].startswith("Scénarios de recette avec le client")
    assert writes(staged_conn, "zoho_projects") == pm_before

    zoho.cycle(staged_conn, config(clear=["description"]), "clearing")
    description = zoho.pm_record(pm_id)["description"]
    assert description.splitlines() == [key_line(idem_key(crm_id))]
    assert writes(staged_conn, "zoho_projects") == pm_before + 1


def test_an_end_date_outside_a_strict_project_is_one_reported_conflict(zoho, staged_conn) -> None:
    crm_id, pm_id, project = paired(zoho, staged_conn, strict=True)
    pm_before = writes(staged_conn, "zoho_projects")
    zoho.later(5)
    zoho.edit_crm(crm_id, Due_Date="2026-09-30")
    zoho.cycle(staged_conn, config(), "strict-1")
    zoho.later(5)
    zoho.cycle(staged_conn, config(), "strict-2")
    assert zoho.pm_record(pm_id)["end_date"] == "2026-04-15"
    assert writes(staged_conn, "zoho_projects") == pm_before
    [conflict] = rows(staged_conn, "SELECT run_id, field, crm_value, pm_value, rule, winner FROM sync.conflicts")
    assert conflict == {"run_id": "strict-1", "field": "end_date", "crm_value": "2026-09-30",
                        "pm_value": "2026-04-15", "rule": "strict_project_dates", "winner": "none"}
    [(reason,)] = tuples(staged_conn, "SELECT parked_reason FROM sync.link_fields WHERE field = 'end_date'")
    assert project["end_date"] in reason

    # the project's plan moved: the new date is checked against the plan as it is now
    zoho.later(5)
    zoho.edit_crm(crm_id, Due_Date="2026-06-20")
    zoho.pm.update("projects", project["id"], {"end_date": "2026-06-10"})
    zoho.cycle(staged_conn, config(), "strict-3")
    assert zoho.pm_record(pm_id)["end_date"] == "2026-04-15"
    assert tuples(staged_conn, "SELECT rule FROM sync.conflicts WHERE run_id = 'strict-3'") == [
        ("strict_project_dates",)]

    zoho.later(5)
    zoho.edit_crm(crm_id, Due_Date="2026-05-29")
    zoho.cycle(staged_conn, config(), "strict-4")
    assert zoho.pm_record(pm_id)["end_date"] == "2026-05-29"


def test_a_value_the_portal_refuses_is_parked_with_its_message_and_the_others_are_written(zoho, staged_conn) -> None:
    crm_id, pm_id, _ = paired(zoho, staged_conn)
    zoho.edit_pm(pm_id, start_date="2026-04-10")
    zoho.later(5)
    zoho.edit_crm(crm_id, Due_Date="2026-04-01", Subject="Recette avancée")
    outcome = zoho.cycle(staged_conn, config(), "refused-1")
    assert zoho.pm_record(pm_id)["name"] == "Recette avancée" and zoho.pm_record(pm_id)["end_date"] == "2026-04-15"
    assert len(outcome.parked) == 1 and "end_date cannot be earlier than start_date" in outcome.parked[0]
    assert rows(staged_conn, "SELECT field, crm_value, rule, winner FROM sync.conflicts") == [
        {"field": "end_date", "crm_value": "2026-04-01", "rule": "refused_by_pm", "winner": "none"}]
    refused = rows(staged_conn, "SELECT status, response FROM sync.writes WHERE outcome = 'rejected'")
    assert [r["status"] for r in refused] == [400, 400]  # both fields at once, then the date alone
    assert refused[-1]["response"]["error"]["details"] == [{"message": "end_date cannot be earlier than start_date"}]
    before = writes(staged_conn, "zoho_projects")
    zoho.later(5)
    zoho.cycle(staged_conn, config(), "refused-2")
    assert writes(staged_conn, "zoho_projects") == before
    assert tuples(staged_conn, "SELECT count(*) FROM sync.conflicts") == [(1,)]


def _subtask_pair(zoho: Zoho, conn: Any) -> tuple[str, str, str]:
    """A closed CRM task paired with a closed subtask under a closed parent: (CRM id, subtask id, parent id)."""
    crm_id, pm_id, project = paired(zoho, conn, Status="Completed")
    parent = zoho.pm_record(pm_id)
    copied = {k: v for k, v in parent.items() if k not in ("id", "key", "created_time", "last_modified_time")}
    sub = zoho.pm.create("tasks", {**copied, "parent_task": {"id": parent["id"], "name": parent["name"]}, "depth": 1})
    with conn.cursor() as cur:
        cur.execute("UPDATE sync.links SET pm_id = %s WHERE crm_id = %s", (f"{project['id']}/{sub['id']}", crm_id))
    conn.commit()
    return crm_id, sub["id"], parent["id"]


def test_reopening_a_subtask_reopens_its_closed_parent_first(zoho, staged_conn) -> None:
    crm_id, sub_id, parent_id = _subtask_pair(zoho, staged_conn)
    assert zoho.pm_record(parent_id)["status"]["is_closed"] and zoho.pm_record(sub_id)["status"]["is_closed"]
    zoho.later(5)
    zoho.edit_crm(crm_id, Status="In Progress")
    outcome = zoho.cycle(staged_conn, config(), "reopen")
    assert outcome.parents_reopened == 1 and not outcome.parked
    assert not zoho.pm_record(parent_id)["status"]["is_closed"]
    assert not zoho.pm_record(sub_id)["status"]["is_closed"]
    operations = [r["operation"] for r in rows(staged_conn, "SELECT operation FROM sync.writes WHERE run_id = 'reopen' "
                                                            "AND method = 'PATCH' ORDER BY write_id")]
    assert operations == ["reopen_parent", "update_task"]


def test_reopening_under_a_closed_parent_is_reported_when_the_rules_forbid_it(zoho, staged_conn) -> None:
    crm_id, sub_id, parent_id = _subtask_pair(zoho, staged_conn)
    before = writes(staged_conn, "zoho_projects")
    zoho.later(5)
    zoho.edit_crm(crm_id, Status="In Progress")
    rules = config(reopen_closed_parents=False)
    zoho.cycle(staged_conn, rules, "forbidden-1")
    zoho.cycle(staged_conn, rules, "forbidden-2")
    assert zoho.pm_record(sub_id)["status"]["is_closed"] and zoho.pm_record(parent_id)["status"]["is_closed"]
    assert writes(staged_conn, "zoho_projects") == before
    assert rows(staged_conn, "SELECT run_id, field, crm_value, pm_value, rule FROM sync.conflicts") == [
        {"run_id": "forbidden-1", "field": "status", "crm_value": "open", "pm_value": "closed",
         "rule": "parent_closed"}]


def test_a_native_integration_portal_is_only_reported(zoho, staged_conn) -> None:
    crm_id, pm_id, project = paired(zoho, staged_conn)
    portal = zoho.pm_api.portal("test")
    native = config(portals=[{"id": portal, "native_integration": True}])
    before = writes(staged_conn, "zoho_crm") + writes(staged_conn, "zoho_projects")
    zoho.later(5)
    zoho.edit_crm(crm_id, Subject="Changé dans le CRM")
    other = zoho.crm_task(project["crm"]["deal"], Subject="Une autre tâche")
    zoho.cycle(staged_conn, native, "native")
    assert writes(staged_conn, "zoho_crm") + writes(staged_conn, "zoho_projects") == before
    assert zoho.pm_record(pm_id)["name"] == "Préparer la recette"
    plans = {r["crm_id"]: r for r in rows(staged_conn, "SELECT crm_id, operation, reason, payload FROM sync.plan_items "
                                                       "WHERE run_id = 'native'")}
    assert plans[crm_id]["operation"] == "report" and "title" in plans[crm_id]["reason"]
    assert plans[crm_id]["payload"] == {"crm": {"title": "Changé dans le CRM"}, "pm": {"title": "Préparer la recette"}}
    assert plans[other["id"]]["operation"] == "report"


def test_a_crm_task_edited_after_the_plan_is_not_overwritten(zoho, staged_conn) -> None:
    from passerelle.sync.zoho_tasks import apply, plan, sides

    crm_id, pm_id, _ = paired(zoho, staged_conn)
    zoho.later(5)
    zoho.edit_pm(pm_id, name="Renommé dans Projects")
    crm, pm = sides(staged_conn, "stale", zoho.crm_api, zoho.pm_api)
    plan(staged_conn, config(), "stale", crm, pm)
    zoho.later(1)
    zoho.edit_crm(crm_id, Subject="Renommé dans le CRM entre-temps")
    outcome = apply(staged_conn, "stale", crm, pm)
    assert outcome.stale and zoho.crm_record(crm_id)["Subject"] == "Renommé dans le CRM entre-temps"
    [(status, response)] = tuples(staged_conn, "SELECT status, response FROM sync.writes WHERE run_id = 'stale' "
                                               "AND method = 'PUT'")
    assert status == 412 and response["data"][0]["code"] == "ALREADY_MODIFIED"
    zoho.later(5)
    zoho.cycle(staged_conn, config(), "after-stale")
    assert zoho.pm_record(pm_id)["name"] == "Renommé dans le CRM entre-temps"


def test_the_example_file_and_a_wrong_field_owner(tmp_path) -> None:
    from passerelle.sync.config import SyncConfigError, load_sync_config
    from passerelle.paths import PROJECT_ROOT

    example = load_sync_config(PROJECT_ROOT / "include" / "sync" / "sync.example.toml").zoho_tasks
    assert example is not None and example.mode == "plan" and example.reopen_closed_parents
    assert example.owner("title") == "both" and not example.native("20089412345")
    wrong = tmp_path / "sync.toml"
    wrong.write_text('[zoho_tasks]\nfields = { due = "crm" }\n')
    with pytest.raises(SyncConfigError, match="zoho_tasks.fields"):
        load_sync_config(wrong)


def test_a_project_task_deleted_in_the_portal_is_reported_never_recreated(zoho, staged_conn) -> None:
    crm_id, pm_id, _ = paired(zoho, staged_conn)
    zoho.pm.delete("tasks", pm_id)
    before = writes(staged_conn, "zoho_projects")
    zoho.cycle(staged_conn, config(), "gone")
    [item] = rows(staged_conn, "SELECT operation, reason FROM sync.plan_items WHERE run_id = 'gone'")
    assert item["operation"] == "skip" and pm_id in item["reason"] and "never recreated" in item["reason"]
    assert writes(staged_conn, "zoho_projects") == before
