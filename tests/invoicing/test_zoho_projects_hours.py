"""Zoho Projects hours on issued invoices: the staged sandbox dataset (what the demo stages) and the example
billing configuration (what the demo loads), invoiced by the shared billing rules for February."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle_dev.examples import load_example_billing
from passerelle_dev.samples import example_seller
from tests.db import rows

FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))
CENT = Decimal("0.01")


@pytest.fixture
def output(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    return tmp_path


def test_hours_of_time_and_materials_projects_are_invoiced_line_by_project(staged_conn: Any, sandbox: Any,
                                                                        output: Any) -> None:
    load_example_billing(staged_conn)
    build_billable_items(staged_conn, FEBRUARY[1])
    with CiiValidator() as validator:
        outcome = issue_period(staged_conn, example_seller(), validator, period_start=FEBRUARY[0],
                               period_end=FEBRUARY[1], run_id="zoho-projects-hours")
    assert outcome.issued
    (rate,) = [r["hourly_rate"] for r in rows(staged_conn, "SELECT hourly_rate FROM billing.rate_cards "
                                                          "WHERE scope = 'default'")]
    not_ready = {r["customer_key"] for r in rows(staged_conn, "SELECT customer_key FROM marts.billing_exceptions "
                                                             "WHERE kind = 'customer_not_ready'")}
    customers = {r["project_key"]: r["customer_key"] for r in rows(
        staged_conn, "SELECT project_key, customer_key FROM staging.project_links")}
    ledger = rows(staged_conn, "SELECT i.source_key, i.amount, i.invoice_number, i.line_id, l.quantity, l.unit_code,"
                               " l.net_amount, l.item_count FROM billing.invoiced_items i"
                               " JOIN marts.invoice_lines l USING (invoice_number, line_id)"
                               " WHERE i.source_key LIKE 'zoho_projects:%%'")
    invoiced = {r["source_key"]: r for r in ledger}
    links = [link for link in sandbox.vendors["zoho_projects"].app.links if link["kind"] == "deal"]
    logs = sandbox.vendors["zoho_projects"].control.records("timelogs")
    invoiced_projects = 0
    for link in links:
        project_key = f"zoho_projects:{link['project_id']}"
        hours = {f"zoho_projects:{log['id']}": (Decimal(log["total_minutes"]) / 60).quantize(CENT) for log in logs
                 if log["project"]["id"] == link["project_id"] and log["bill_status"] == "Billable"
                 and log["approval_status"] != "Rejected" and log["date"] <= FEBRUARY[1].isoformat()}
        mine = {key: row for key, row in invoiced.items() if key in hours}
        if link["billing"] != "time_and_materials" or customers.get(project_key) in not_ready:
            assert mine == {}, link  # a fixed price or milestones include the time; a customer not ready waits
            continue
        assert hours and {key: row["amount"] for key, row in mine.items()} == {
            key: (h * rate).quantize(CENT) for key, h in hours.items()}, link
        by_line: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in mine.values():
            by_line[(row["invoice_number"], row["line_id"])].append(row)
        for entries in by_line.values():  # one line per project and rate: the entries' hours, at the rate
            line = entries[0]
            total = sum(hours[e["source_key"]] for e in entries)
            assert (line["unit_code"], line["quantity"], line["item_count"]) == ("HUR", total, len(entries))
            assert line["net_amount"] == (total * rate).quantize(CENT)
        invoiced_projects += 1
    assert invoiced_projects  # the portal's hours reach invoices
