"""Microsoft Planner and Project for the web staging models against the emulators' rows, identity and billing."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from passerelle.transform.models import run_staging
from passerelle.warehouse.sql_files import run_sql_file
from tests.connectors.helpers import DAY1, extract_day
from tests.db import rows

MODELS = ["customers", "people", "products", "deals", "deal_lines", "projects", "tasks", "milestones", "time_entries"]


def planner(sandbox: Any, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors["planner"].control.records(obj)


def dataverse(sandbox: Any, table: str) -> list[dict[str, Any]]:
    return sandbox.vendors["dynamics"].control.records(table)


def staged(conn: Any, table: str, source: str) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in rows(conn, f"SELECT * FROM staging.{table} WHERE source_system = %s", source)}


def instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def test_planner_plans_tasks_milestones_and_people(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    projects, tasks = staged(raw_conn, "projects", "planner"), staged(raw_conn, "tasks", "planner")
    milestones, people = staged(raw_conn, "milestones", "planner"), staged(raw_conn, "people", "planner")
    assert set(projects) == {p["id"] for p in planner(sandbox, "plans")}
    assert set(people) == {u["id"] for u in planner(sandbox, "users")}
    jalons = {b["id"] for b in planner(sandbox, "buckets") if b["name"] == "Jalons"}
    source_tasks = planner(sandbox, "tasks")
    assert set(milestones) == {t["id"] for t in source_tasks if t["bucketId"] in jalons} != set()
    assert set(tasks) == {t["id"] for t in source_tasks if t["bucketId"] not in jalons}
    states = Counter()
    for task in source_tasks:
        row = tasks.get(task["id"]) or milestones[task["id"]]
        assert row["project_key"] == f"planner:{task['planId']}"
        done = task["percentComplete"] == 100
        assert row["completed_at"] == (instant(task["completedDateTime"]) if done else None)
        if task["id"] in tasks:
            states[row["status"]] += 1
            assert row["status"] == {100: "done", 50: "in_progress", 0: "todo"}[task["percentComplete"]]
            assert row["assignee_person_key"] == f"planner:{min(task['assignments'])}"
            assert row["assignee_person_key"][len("planner:"):] in people
        else:
            assert row["status"] == ("done" if done else "open")
    assert len(states) == 3
    links = {link["project_id"]: link for link in sandbox.vendors["planner"].app.links}
    for plan_id, row in projects.items():
        link = links[plan_id]
        expected = (link["crm"], link["deal_id"]) if link["kind"] == "explicit" else (None, None)
        assert (row["crm_system"], row["crm_deal_id"]) == expected, row


def test_a_reference_added_to_any_task_links_the_plan(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["planner"].control
    plan = next(link for link in sandbox.vendors["planner"].app.links if link["kind"] == "name")["project_id"]
    task = next(t for t in planner(sandbox, "tasks") if t["planId"] == plan)
    hubspot = "https%3A//app-eu1%2Ehubspot%2Ecom/contacts/26001234/record/0-3/18452319821"
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.update("details", task["id"], {"references": {hubspot: {
        "@odata.type": "#microsoft.graph.plannerExternalReference", "alias": "Affaire", "type": "Other"}}})
    extract_day(raw_conn, sandbox, "planner", "task_details", day=1)
    run_staging(raw_conn, ["projects"])
    row = staged(raw_conn, "projects", "planner")[plan]
    assert (row["crm_system"], row["crm_deal_id"]) == ("hubspot", "18452319821")


def test_project_for_the_web_projects_tasks_milestones_and_time(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    source = "project_for_the_web"
    projects, tasks = staged(raw_conn, "projects", source), staged(raw_conn, "tasks", source)
    milestones, entries = staged(raw_conn, "milestones", source), staged(raw_conn, "time_entries", source)
    source_projects = dataverse(sandbox, "msdyn_projects")
    assert set(projects) == {p["msdyn_projectid"] for p in source_projects}
    for project in source_projects:
        row = projects[project["msdyn_projectid"]]
        deal = project["_pa_opportunityid_value"]
        assert (row["crm_system"], row["crm_deal_id"]) == (("dynamics", deal) if deal else (None, None))
        assert row["name"] == project["msdyn_subject"] and row["status"] == "active"
    for task in dataverse(sandbox, "msdyn_projecttasks"):
        row = (milestones if task["msdyn_ismilestone"] else tasks)[task["msdyn_projecttaskid"]]
        assert row["project_key"] == f"{source}:{task['_msdyn_project_value']}"
        progress = Decimal(str(task["msdyn_progress"]))
        assert (row["completed_at"] is not None) == (progress >= 1)
        if not task["msdyn_ismilestone"]:
            assert row["status"] == ("done" if progress >= 1 else "in_progress" if progress > 0 else "todo")
    source_entries = dataverse(sandbox, "msdyn_timeentries")
    assert set(entries) == {e["msdyn_timeentryid"] for e in source_entries}
    people = {r["person_key"] for r in rows(raw_conn, "SELECT person_key FROM staging.people")}
    for entry in source_entries:
        row = entries[entry["msdyn_timeentryid"]]
        assert row["hours"] == (Decimal(entry["msdyn_duration"]) / 60).quantize(Decimal("0.01"))
        assert row["entry_date"] == date.fromisoformat(entry["msdyn_date"][:10]) and row["billable"] is None
        assert row["person_key"] == f"dynamics:{entry['_ownerid_value']}" and row["person_key"] in people
        assert row["task_key"] == f"{source}:{entry['_msdyn_projecttask_value']}"


def test_a_task_is_completed_when_its_progress_first_reached_one(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["dynamics"].control
    task = next(t for t in dataverse(sandbox, "msdyn_projecttasks")
                if Decimal(str(t["msdyn_progress"])) < 1 and not t["msdyn_ismilestone"])
    control.set_clock(DAY1 + timedelta(days=1, hours=9, minutes=15))
    control.update("msdyn_projecttasks", task["msdyn_projecttaskid"], {"msdyn_progress": "1.00"})
    extract_day(raw_conn, sandbox, "project_for_the_web", "msdyn_projecttasks", day=1)
    control.set_clock(DAY1 + timedelta(days=2, hours=14))
    control.update("msdyn_projecttasks", task["msdyn_projecttaskid"], {"msdyn_description": "Recette signée"})
    extract_day(raw_conn, sandbox, "project_for_the_web", "msdyn_projecttasks", day=2)
    run_staging(raw_conn, ["tasks"])
    row = staged(raw_conn, "tasks", "project_for_the_web")[task["msdyn_projecttaskid"]]
    assert row["status"] == "done" and row["completed_at"] == datetime(2026, 3, 2, 9, 15, tzinfo=timezone.utc)
    control.set_clock(DAY1 + timedelta(days=3, hours=8))
    control.update("msdyn_projecttasks", task["msdyn_projecttaskid"], {"msdyn_progress": "0.50"})  # reopened
    extract_day(raw_conn, sandbox, "project_for_the_web", "msdyn_projecttasks", day=3)
    run_staging(raw_conn, ["tasks"])
    row = staged(raw_conn, "tasks", "project_for_the_web")[task["msdyn_projecttaskid"]]
    assert (row["status"], row["completed_at"]) == ("in_progress", None)


def test_deleted_tasks_and_time_leave_staging(raw_conn: Any, sandbox: Any) -> None:
    planner_control, dataverse_control = sandbox.vendors["planner"].control, sandbox.vendors["dynamics"].control
    planner_control.set_clock(DAY1 + timedelta(days=1, hours=9))
    dataverse_control.set_clock(DAY1 + timedelta(days=1, hours=9))
    task = planner(sandbox, "tasks")[0]["id"]
    planner_control.delete("tasks", task)
    entry = dataverse(sandbox, "msdyn_timeentries")[0]["msdyn_timeentryid"]
    dataverse_control.delete("msdyn_timeentries", entry)
    extract_day(raw_conn, sandbox, "planner", "tasks", day=1)
    extract_day(raw_conn, sandbox, "project_for_the_web", "msdyn_timeentries", day=1)
    run_staging(raw_conn, ["tasks", "milestones", "time_entries"])
    assert task not in staged(raw_conn, "tasks", "planner") | staged(raw_conn, "milestones", "planner")
    assert entry not in staged(raw_conn, "time_entries", "project_for_the_web")


def test_completed_milestones_and_time_are_billed_by_the_shared_rules(raw_conn: Any, sandbox: Any) -> None:
    """A milestone deal delivered in Planner and a time-and-materials deal delivered in Project for the web
    go through billing/billable_items.sql unchanged."""
    run_staging(raw_conn, MODELS)
    run_sql_file(raw_conn, "identity/project_identity.sql")
    links = {r["project_key"]: r for r in rows(raw_conn, "SELECT * FROM staging.project_links")}
    planner_deal = min(l["deal_key"] for k, l in links.items() if k.startswith("planner:") and l["deal_key"]
                       and l["deal_key"].startswith("dynamics:") and l["method"] == "explicit_link")
    pftw_deal = min(l["deal_key"] for k, l in links.items() if k.startswith("project_for_the_web:") and l["deal_key"])
    with raw_conn.cursor() as cur:
        cur.execute("INSERT INTO billing.deal_terms (deal_key, billing_mode) VALUES (%s, 'milestones'), "
                    "(%s, 'time_and_materials')", (planner_deal, pftw_deal))
        cur.execute("INSERT INTO billing.rate_cards (scope, scope_key, hourly_rate, currency, vat_rate, item_name, "
                    "valid_from) VALUES ('default', NULL, 95.00, 'EUR', 20.00, 'Conseil', DATE '2020-01-01')")
    raw_conn.commit()
    run_sql_file(raw_conn, "billing/billable_items.sql", period_end="2026-03-01")
    items = rows(raw_conn, "SELECT * FROM marts.billable_items")
    exceptions = rows(raw_conn, "SELECT * FROM marts.billing_exceptions")
    milestones = rows(raw_conn, "SELECT m.* FROM staging.milestones m JOIN staging.project_links l USING (project_key)"
                                " WHERE l.deal_key = %s", planner_deal)
    period_end = datetime(2026, 3, 1, tzinfo=timezone.utc)
    done = [m for m in milestones if m["completed_at"] is not None and m["completed_at"] < period_end]
    held = {e["deal_key"] for e in exceptions} | {e["customer_key"] for e in exceptions}
    milestone_items = [i for i in items if i["deal_key"] == planner_deal]
    assert done and planner_deal not in held, (done, exceptions)
    assert milestone_items and all(i["billing_mode"] == "milestones" for i in milestone_items)
    share = Decimal(len(done)) / len(milestones)  # completed / all milestones of the deal's projects
    assert all(f"{round(share * 100, 2)}".replace(".", ",") in i["item_name"] or share == 1 for i in milestone_items)
    time_items = [i for i in items if i["deal_key"] == pftw_deal and i["item_kind"] == "time"]
    entries = rows(raw_conn, "SELECT t.* FROM staging.time_entries t JOIN staging.project_links l USING (project_key)"
                             " WHERE l.deal_key = %s AND t.entry_date < DATE '2026-03-01'", pftw_deal)
    customer = next(l["customer_key"] for l in links.values() if l["deal_key"] == pftw_deal)
    assert customer not in held, exceptions
    assert {i["source_key"] for i in time_items} == {e["time_entry_key"] for e in entries} != set()
    assert all(i["unit_price"] == Decimal("95.00") and i["amount"] == (i["quantity"] * 95).quantize(Decimal("0.01"))
               for i in time_items)
