"""Zoho Projects staging models against the emulator's records, and identity with the Zoho CRM through
the deal each project carries. The raw layer holds the first window of Zoho CRM and Zoho Projects,
extracted for each test (a dozen streams, seconds)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.connectors.access_token_cache import forget_all
from passerelle.connectors.registry import get_source
from passerelle.transform.models import run_staging
from passerelle.warehouse.sql_files import run_sql_file
from tests.connectors.helpers import DAY1, extract_day
from tests.db import rows

MODELS = ["people", "projects", "tasks", "milestones", "time_entries"]
TRUTH = {"people": "users", "projects": "projects", "tasks": "tasks", "milestones": "milestones",
         "time_entries": "timelogs"}


ROOMY = {"max_requests_per_window": 900}  # the budget is the extract tests' concern


@pytest.fixture
def raw_conn(warehouse_conn: Any, sandbox: Any) -> Any:
    sandbox.vendors["zoho_projects"].control.config(requests_per_window=1000)
    forget_all()
    for source in ("zoho_crm", "zoho_projects"):
        for stream in get_source(source).streams:
            extract_day(warehouse_conn, sandbox, source, stream.name, **(ROOMY if source == "zoho_projects" else {}))
    return warehouse_conn


def records(sandbox: Any, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors["zoho_projects"].control.records(obj)


def staged(conn: Any, table: str) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in rows(conn, f"SELECT * FROM staging.{table} WHERE source_system = 'zoho_projects'")}


def test_rows_are_the_live_records(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    for table, obj in TRUTH.items():
        ids = [r["source_id"] for r in rows(raw_conn, f"SELECT source_id FROM staging.{table} "
                                                      "WHERE source_system = 'zoho_projects'")]
        truth = [r["id"] for r in records(sandbox, obj)]
        assert truth and Counter(ids) == Counter(truth), table


def test_projects_carry_the_crm_deal_and_billing_status(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, ["projects"])
    projects = staged(raw_conn, "projects")
    for project in records(sandbox, "projects"):
        row = projects[project["id"]]
        deal = ((project.get("crm") or {}).get("deal") or {}).get("id")
        assert (row["crm_system"], row["crm_deal_id"]) == (("zoho_crm", deal) if deal else (None, None))
        assert row["billable"] == (project["billing_status"] == "Billable")
        assert row["status"] == "active" and str(row["start_date"]) == project["start_date"]
        client = (project.get("client_company") or {}).get("name")
        assert (f"Client : {client}" in row["description"]) if client else "Client" not in (row["description"] or "")


def test_tasks_subtasks_milestones_and_time(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    tasks, milestones, entries = staged(raw_conn, "tasks"), staged(raw_conn, "milestones"), staged(raw_conn, "time_entries")
    for task in records(sandbox, "tasks"):
        row = tasks[task["id"]]
        closed = task["status"]["is_closed"]
        assert row["project_key"] == f"zoho_projects:{task['project']['id']}"
        assert row["status"] == ("done" if closed else "in_progress" if task["status"]["name"] == "In Progress" else "todo")
        assert (row["completed_at"] is not None) == closed
        assert row["assignee_person_key"] == f"zoho_projects:{task['owners'][0]['zpuid']}"
    assert any(t["depth"] == 2 for t in records(sandbox, "tasks"))
    for milestone in records(sandbox, "milestones"):
        assert milestones[milestone["id"]]["status"] == ("done" if milestone["status"] == "completed" else "open")
    for log in records(sandbox, "timelogs"):
        row = entries[log["id"]]
        assert row["hours"] == (Decimal(log["total_minutes"]) / 60).quantize(Decimal("0.01"))
        assert row["billable"] == (log["bill_status"] == "Billable")
        assert row["person_key"] == f"zoho_projects:{log['owner']['zpuid']}"
        assert row["task_key"] == f"zoho_projects:{log['module']['id']}" and str(row["entry_date"]) == log["date"]


def test_rejected_logs_are_not_billable_and_deletions_leave_staging(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["zoho_projects"].control
    control.set_clock(DAY1 + timedelta(days=1, hours=10))
    logs = sorted(records(sandbox, "timelogs"), key=lambda t: t["date"], reverse=True)
    billable = next(t for t in logs[1:] if t["bill_status"] == "Billable")
    control.update("timelogs", billable["id"], {"approval_status": "Rejected"})
    control.delete("timelogs", logs[0]["id"])
    task = next(t for t in records(sandbox, "tasks") if t["has_subtasks"] and not t["parent_task"])
    control.delete("tasks", task["id"])
    for stream in ("tasks", "timelogs"):
        extract_day(raw_conn, sandbox, "zoho_projects", stream, day=1, **ROOMY)
    run_staging(raw_conn, MODELS)
    entries, tasks = staged(raw_conn, "time_entries"), staged(raw_conn, "tasks")
    assert entries[billable["id"]]["billable"] is False
    assert logs[0]["id"] not in entries and task["id"] not in tasks
    assert not [t for t in tasks.values() if t["source_id"] not in {r["id"] for r in records(sandbox, "tasks")}]


def test_identity_follows_the_crm_deal_to_the_zoho_crm_customer(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, ["customers", "people", "deals", "projects"])
    run_sql_file(raw_conn, "identity/project_identity.sql")
    links = {r["project_key"]: r for r in rows(raw_conn, "SELECT * FROM staging.project_links")}
    exceptions = {r["project_key"]: r for r in rows(raw_conn, "SELECT * FROM staging.identity_exceptions")}
    truth = sandbox.vendors["zoho_projects"].app.links
    deals = {d["id"]: d for d in sandbox.vendors["zoho_crm"].control.records("Deals")}
    for link in truth:
        key = f"zoho_projects:{link['project_id']}"
        if link["kind"] == "deal":
            assert links[key]["method"] == "explicit_link", exceptions.get(key)
            assert links[key]["deal_key"] == f"zoho_crm:{link['deal_id']}"
            assert links[key]["customer_key"] == f"zoho_crm:{deals[link['deal_id']]['Account_Name']['id']}"
        elif link["kind"] == "account":  # no deal: the client company's name finds the customer
            assert links[key]["customer_key"] == f"zoho_crm:{link['account_id']}", exceptions.get(key)
            assert links[key]["method"] == "name_domain"
        else:
            assert exceptions[key]["problem"] == "unmapped"


def test_billing_rules_bill_zoho_projects_hours_and_milestones(raw_conn: Any, sandbox: Any) -> None:
    """The shared billing rules, unchanged, read each linked deal's own words: the billable hours of the projects
    of deals billed "en régie", and the completed share of the lines of deals billed "par jalons" (completed /
    all milestones of the deal's project); a customer not ready for e-invoicing is an exception instead."""
    run_staging(raw_conn, ["customers", "people", "products", "deals", "deal_lines", *MODELS[1:]])
    run_sql_file(raw_conn, "identity/project_identity.sql")
    links = [link for link in sandbox.vendors["zoho_projects"].app.links if link["kind"] == "deal"]
    assert {link["billing"] for link in links} == {"time_and_materials", "milestones", "fixed"}
    assert all(("en régie" in link["deal_description"]) == (link["billing"] == "time_and_materials")
               and ("par jalons" in (link["deal_description"] or "")) == (link["billing"] == "milestones")
               for link in links if link["deal_description"])
    with raw_conn.cursor() as cur:
        cur.execute("INSERT INTO billing.rate_cards (scope, scope_key, hourly_rate) VALUES ('default', NULL, 100)")
        cur.execute("INSERT INTO billing.exchange_rates (currency, rate_date, eur_per_unit) VALUES "
                    "('USD', '2026-01-01', 0.92), ('GBP', '2026-01-01', 1.17), ('CHF', '2026-01-01', 1.06)")
    raw_conn.commit()
    from passerelle.invoicing.issue import build_billable_items

    build_billable_items(raw_conn, DAY1.date() - timedelta(days=1))
    items = rows(raw_conn, "SELECT * FROM marts.billable_items")
    not_ready = {r["customer_key"] for r in rows(raw_conn, "SELECT customer_key FROM marts.billing_exceptions "
                                                           "WHERE kind = 'customer_not_ready'")}
    deals = {d["id"]: d for d in sandbox.vendors["zoho_crm"].control.records("Deals")}
    billed_hours = billed_milestones = 0
    for link in links:
        deal_key, project_key = f"zoho_crm:{link['deal_id']}", f"zoho_projects:{link['project_id']}"
        customer = f"zoho_crm:{deals[link['deal_id']]['Account_Name']['id']}"
        time = {i["source_key"]: i["amount"] for i in items if i["item_kind"] == "time" and i["project_key"] == project_key}
        lines = {i["source_key"]: i["amount"] for i in items if i["item_kind"] == "deal_line" and i["deal_key"] == deal_key}
        assert {i["billing_mode"] for i in items if i["deal_key"] == deal_key} <= {link["billing"]}
        if customer in not_ready:  # held back as a whole, named in the exceptions
            assert time == lines == {}, link
            continue
        if link["billing"] == "time_and_materials":
            logs = [log for log in records(sandbox, "timelogs") if log["project"]["id"] == link["project_id"]]
            expected = {f"zoho_projects:{log['id']}": (Decimal(log["total_minutes"]) / 60 * 100).quantize(Decimal("0.01"))
                        for log in logs if log["bill_status"] == "Billable" and log["approval_status"] != "Rejected"}
            assert expected and time == expected and lines == {}, link
            assert len(expected) < len(logs)  # non-billable logs are not billed
            billed_hours += 1
            continue
        assert time == {}, link  # time on a fixed-price or milestone deal is part of its price
        share = Decimal(1)
        if link["billing"] == "milestones":
            milestones = [m for m in records(sandbox, "milestones") if m["project"]["id"] == link["project_id"]]
            reached = [m for m in milestones if m["completed_time"]
                       and datetime.fromisoformat(m["completed_time"].replace("Z", "+00:00")) < DAY1]
            assert 0 < len(reached) < len(milestones), link
            share = Decimal(len(reached)) / len(milestones)
            billed_milestones += 1
        due = rows(raw_conn, "SELECT deal_line_key, line_amount FROM staging.deal_lines WHERE deal_key = %s", deal_key)
        assert due and lines == {line["deal_line_key"]: (line["line_amount"] * share).quantize(Decimal("0.01"))
                                 for line in due}, link
    assert billed_hours and billed_milestones  # the portal's hours and milestones both reach billing


def test_the_staging_suites_accept_the_rows_and_quarantine_none(raw_conn: Any, sandbox: Any) -> None:
    from passerelle.quality.validate import validate_staging

    run_staging(raw_conn, MODELS)
    outcomes = validate_staging(raw_conn, "zoho-projects-run", MODELS, as_of=DAY1.date())
    assert {o.table for o in outcomes} == {f"staging.{m}" for m in MODELS}
    held = rows(raw_conn, "SELECT table_name, record_key, rule FROM quality.quarantine WHERE record_key LIKE 'zoho_projects:%%'")
    assert held == []
    failing = {(o.table, r.rule.id) for o in outcomes for r in o.rules if not r.success
               and any(str(key).startswith("zoho_projects:") for key, _ in r.failing)}
    assert failing == set()
