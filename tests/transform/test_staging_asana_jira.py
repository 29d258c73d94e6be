"""Asana and Jira Cloud parts of the staging model, built from the sandbox dataset extracted to raw.

Truth is what the emulators serve: the dataset builders for the first window, the emulators
themselves (through their control API) for later changes.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle_sandbox.dataset_asana import build_asana_dataset
from passerelle_sandbox.dataset_jira import STATUSES, build_jira_dataset
from passerelle_sandbox.server import Sandbox
from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, extract_day

MODELS = ["projects", "tasks", "milestones", "time_entries", "people"]
PARIS = ZoneInfo("Europe/Paris")
SECTION_STATUS = {"À faire": "todo", "En cours": "in_progress", "Terminé": "done"}
CATEGORY_STATUS = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def asana() -> dict[str, Any]:
    return build_asana_dataset(load(default_dataset_path()))


@pytest.fixture(scope="module")
def jira() -> dict[str, Any]:
    return build_jira_dataset(load(default_dataset_path()))


def staged(conn: Any, table: str, source: str) -> dict[str, dict[str, Any]]:
    """Rows of ``staging.<table>`` from one source, by source id (a duplicate id fails the test)."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM staging.{table} WHERE source_system = %s", (source,))
        names = [column[0] for column in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    conn.rollback()
    by_id = {row["source_id"]: row for row in rows}
    assert len(by_id) == len(rows), f"duplicate {source} ids in staging.{table}"
    return by_id


def snapshot(conn: Any) -> dict[str, list[str]]:
    """Every Asana and Jira row of the five tables, as sorted JSON text."""
    found = {}
    with conn.cursor() as cur:
        for table in MODELS:
            cur.execute(f"SELECT to_jsonb(t)::text FROM staging.{table} t "
                        "WHERE source_system IN ('asana', 'jira') ORDER BY 1")
            found[table] = [row[0] for row in cur.fetchall()]
    conn.rollback()
    return found


def hours(amount: int, unit: int) -> Decimal:
    return (Decimal(amount) / unit).quantize(CENT, rounding=ROUND_HALF_UP)


def field(project: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in project["custom_fields"] if f["name"] == name)


def test_every_record_is_staged_once_with_its_key_and_rebuilds_identically(raw_conn, asana, jira) -> None:
    run_staging(raw_conn, MODELS)
    milestone = {t["gid"]: t["resource_subtype"] == "milestone" for t in asana["tasks"]}
    expected = {
        ("asana", "projects"): [p["gid"] for p in asana["projects"]],
        ("asana", "tasks"): [gid for gid, is_milestone in milestone.items() if not is_milestone],
        ("asana", "milestones"): [gid for gid, is_milestone in milestone.items() if is_milestone],
        ("asana", "time_entries"): [e["gid"] for e in asana["time_entries"]],
        ("asana", "people"): [u["gid"] for u in asana["users"]],
        ("jira", "projects"): [p["id"] for p in jira["projects"]],
        ("jira", "tasks"): [i["id"] for i in jira["issues"]],
        ("jira", "milestones"): [v["id"] for v in jira["versions"]],
        ("jira", "time_entries"): [w["id"] for w in jira["worklogs"]],
        ("jira", "people"): [u["accountId"] for u in jira["users"]],
    }
    first = snapshot(raw_conn)
    for (source, table), ids in expected.items():
        rows = staged(raw_conn, table, source)
        assert sorted(rows) == sorted(ids), (source, table)
        key = next(name for name in rows[ids[0]] if name.endswith("_key"))
        assert all(row[key] == f"{source}:{source_id}" for source_id, row in rows.items()), (source, table)
    run_staging(raw_conn, MODELS)
    assert snapshot(raw_conn) == first


def test_asana_projects_tasks_milestones_and_people(raw_conn, asana) -> None:
    run_staging(raw_conn, MODELS)
    projects = staged(raw_conn, "projects", "asana")
    links = {link["project_id"]: link for link in asana["links"]}
    for project in asana["projects"]:
        row, link = projects[project["gid"]], links[project["gid"]]
        crm = (link["crm"], link["deal_id"]) if link["kind"] == "explicit" else (None, None)
        assert (row["crm_system"], row["crm_deal_id"]) == crm, project["name"]
        assert (row["name"], row["status"], row["billable"], row["start_date"], row["due_date"]) == (
            project["name"], "active", field(project, "Billable")["enum_value"]["name"] == "Oui",
            date.fromisoformat(project["start_on"]), date.fromisoformat(project["due_on"]))
    assert {row["crm_system"] for row in projects.values()} == {"salesforce", "hubspot", None}
    assert {row["billable"] for row in projects.values()} == {True, False}

    tasks, milestones = staged(raw_conn, "tasks", "asana"), staged(raw_conn, "milestones", "asana")
    for task in asana["tasks"]:
        membership, done = task["memberships"][0], task["completed"]
        if task["resource_subtype"] == "milestone":
            row, status = milestones[task["gid"]], "done" if done else "open"
        else:
            row, status = tasks[task["gid"]], "done" if done else SECTION_STATUS[membership["section"]["name"]]
            assert row["assignee_person_key"] == f"asana:{task['assignee']['gid']}"
        assert (row["project_key"], row["name"], row["status"], row["due_date"]) == (
            f"asana:{membership['project']['gid']}", task["name"], status, date.fromisoformat(task["due_on"]))
        assert row["completed_at"] == (datetime.fromisoformat(task["completed_at"]) if done else None)
    assert {row["status"] for row in tasks.values()} == {"todo", "in_progress", "done"}
    assert {row["status"] for row in milestones.values()} == {"open", "done"}

    people = staged(raw_conn, "people", "asana")
    assert {gid: (row["full_name"], row["email"]) for gid, row in people.items()} == {
        user["gid"]: (user["name"], user["email"].lower()) for user in asana["users"]}


def test_asana_time_entries_in_exact_hours_with_billable_from_entry_or_project(raw_conn, asana) -> None:
    run_staging(raw_conn, MODELS)
    entries = staged(raw_conn, "time_entries", "asana")
    project_billable = {p["gid"]: field(p, "Billable")["enum_value"]["name"] == "Oui" for p in asana["projects"]}
    for entry in asana["time_entries"]:
        project = entry["attributable_to"]["gid"]
        billable = {"billable": True, "nonBillable": False}.get(entry["billable_status"], project_billable[project])
        row = entries[entry["gid"]]
        assert (row["project_key"], row["task_key"], row["person_key"], row["entry_date"], row["hours"],
                row["billable"], row["description"]) == (
            f"asana:{project}", f"asana:{entry['task']['gid']}", f"asana:{entry['created_by']['gid']}",
            date.fromisoformat(entry["entered_on"]), hours(entry["duration_minutes"], 60), billable,
            entry["description"] or None), entry["gid"]
    # 'notApplicable' falls back to the project's Billable field (Non on every such project here).
    fallback = [e for e in asana["time_entries"] if e["billable_status"] == "notApplicable"]
    assert fallback and {entries[e["gid"]]["billable"] for e in fallback} == {False}


def test_jira_projects_issues_versions_and_people(raw_conn, jira) -> None:
    run_staging(raw_conn, MODELS)
    projects = staged(raw_conn, "projects", "jira")
    links = {link["project_id"]: link for link in jira["links"]}
    for project in jira["projects"]:
        row, link = projects[project["id"]], links[project["id"]]
        crm = (link["crm"], link["deal_id"]) if link["kind"] == "explicit" else (None, None)
        assert (row["crm_system"], row["crm_deal_id"]) == crm, project["name"]
        assert (row["name"], row["description"], row["status"], row["billable"]) == (
            project["name"], project["description"], "active", None)
    assert Counter(row["crm_system"] for row in projects.values()) == Counter(
        link["crm"] if link["kind"] == "explicit" else None for link in jira["links"])

    tasks = staged(raw_conn, "tasks", "jira")
    status_of = {name: CATEGORY_STATUS[category] for _, name, category, _ in STATUSES}
    for issue in jira["issues"]:
        row, status = tasks[issue["id"]], status_of[issue["status"]]
        assert (row["project_key"], row["name"], row["status"], row["assignee_person_key"], row["due_date"]) == (
            f"jira:{issue['projectId']}", issue["summary"], status, f"jira:{issue['assignee']}",
            date.fromisoformat(issue["duedate"]))
        assert row["completed_at"] == (datetime.fromisoformat(issue["resolutiondate"]) if status == "done" else None)
    resolved = next(i for i in jira["issues"] if i["resolutiondate"] and i["resolutiondate"].endswith("+0100"))
    local = datetime.strptime(resolved["resolutiondate"][:19], "%Y-%m-%dT%H:%M:%S")
    assert tasks[resolved["id"]]["completed_at"] == (local - timedelta(hours=1)).replace(tzinfo=timezone.utc)

    milestones = staged(raw_conn, "milestones", "jira")
    for version in jira["versions"]:
        row, release = milestones[version["id"]], date.fromisoformat(version["releaseDate"])
        assert (row["project_key"], row["name"], row["due_date"], row["status"], row["completed_at"]) == (
            f"jira:{version['projectId']}", version["name"], release, "done" if version["released"] else "open",
            datetime.combine(release, time(), PARIS) if version["released"] else None)
    assert {row["status"] for row in milestones.values()} == {"open", "done"}

    people = staged(raw_conn, "people", "jira")
    assert {account: (row["full_name"], row["email"], row["is_active"]) for account, row in people.items()} == {
        u["accountId"]: (u["displayName"], u["emailAddress"] and u["emailAddress"].lower(), u["active"])
        for u in jira["users"]}


def test_jira_worklogs_in_exact_hours_on_the_paris_day_with_billable_property(raw_conn, jira) -> None:
    run_staging(raw_conn, MODELS)
    entries = staged(raw_conn, "time_entries", "jira")
    project_of = {issue["id"]: issue["projectId"] for issue in jira["issues"]}
    for worklog in jira["worklogs"]:
        billing = [p["value"]["billable"] for p in worklog["properties"] if p["key"] == "passerelle.billing"]
        row = entries[worklog["id"]]
        assert (row["project_key"], row["task_key"], row["person_key"], row["entry_date"], row["hours"],
                row["billable"], row["description"]) == (
            f"jira:{project_of[worklog['issueId']]}", f"jira:{worklog['issueId']}", f"jira:{worklog['author']}",
            datetime.fromisoformat(worklog["started"]).astimezone(PARIS).date(),
            hours(worklog["timeSpentSeconds"], 3600), billing[0] if billing else None, worklog["comment"],
        ), worklog["id"]
    absent = [w["id"] for w in jira["worklogs"] if not w["properties"]]
    assert absent and {entries[i]["billable"] for i in absent} == {None}
    assert {row["billable"] for row in entries.values()} == {True, False, None}
    # Started at midnight in Paris: the previous day in UTC, but the day worked is the Paris one.
    midnight = next(w for w in jira["worklogs"] if w["started"][11:13] == "00" and w["started"].endswith("+0100"))
    utc_day = datetime.fromisoformat(midnight["started"]).astimezone(timezone.utc).date()
    assert entries[midnight["id"]]["entry_date"] == date.fromisoformat(midnight["started"][:10]) > utc_day


def test_deletions_edits_and_bad_values_reach_staging(raw_conn, sandbox: Sandbox) -> None:
    a, j = sandbox.vendors["asana"].control, sandbox.vendors["jira"].control
    # The reset emulator forgot the event sync tokens of the first extraction: take fresh ones.
    extract_day(raw_conn, sandbox, "asana", "tasks", 0)
    run_staging(raw_conn, MODELS)
    task = sorted(t["gid"] for t in a.records("tasks") if t["resource_subtype"] != "milestone")[0]
    entry = min((e for e in a.records("time_entries") if e["entered_on"] >= "2026-02-20"), key=lambda e: e["gid"])
    project = sorted(p["gid"] for p in a.records("projects"))[0]
    gone, negative = sorted((w["id"] for w in j.records("worklogs")), key=int)[:2]
    assert task in staged(raw_conn, "tasks", "asana") and gone in staged(raw_conn, "time_entries", "jira")

    for control in (a, j):
        control.set_clock(DAY1 + timedelta(days=1, hours=8))
    a.delete("tasks", task)
    a.update("time_entries", entry["gid"], {"duration_minutes": -90})
    a.update("projects", project, {"archived": True})
    j.delete("worklogs", gone)
    j.update("worklogs", negative, {"timeSpentSeconds": -1800, "billable": None})
    for source, stream in (("asana", "tasks"), ("asana", "time_entries"), ("asana", "projects"), ("jira", "worklogs")):
        extract_day(raw_conn, sandbox, source, stream, 1)
    run_staging(raw_conn, MODELS)

    assert task not in staged(raw_conn, "tasks", "asana")
    assert staged(raw_conn, "projects", "asana")[project]["status"] == "archived"
    asana_entry = staged(raw_conn, "time_entries", "asana")[entry["gid"]]
    assert (asana_entry["hours"], asana_entry["entry_date"]) == (Decimal("-1.50"),
                                                                 date.fromisoformat(entry["entered_on"]))
    worklogs = staged(raw_conn, "time_entries", "jira")
    assert gone not in worklogs
    assert (worklogs[negative]["hours"], worklogs[negative]["billable"]) == (Decimal("-0.50"), None)
    assert len(worklogs) == len(j.records("worklogs"))
