"""Delivery → CRM: the figures of each delivered deal written to HubSpot deal fields, changes only.

Expected figures are recomputed here in Python from the staging tables (no SQL of the production path), and
what HubSpot holds afterwards is read through the emulator's control API.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle.sync.delivery_to_crm import apply, build_figures, crm_writers, plan
from passerelle.sync.hubspot_deals import FIELDS
from passerelle_dev.examples import load_example_billing
from passerelle_dev.samples import example_seller
from tests.db import tuples
from tests.sync.delivery_checks import expected_hours


def run_sync(conn: Any, api: Any, run_id: str) -> Any:
    build_figures(conn)
    plan(conn, ("hubspot",), run_id)
    return apply(conn, run_id, crm_writers(conn, run_id, {"hubspot": api}))


def stored(hubspot: Any) -> dict[str, dict[str, str]]:
    """The passerelle_* properties of every HubSpot deal that has any."""
    out = {}
    for deal in hubspot.records("deals"):
        mine = {k: v for k, v in (deal.get("properties") or {}).items() if k.startswith("passerelle_") and v not in (None, "")}
        if mine:
            out[str(deal["id"])] = mine
    return out


def test_each_delivered_deal_gets_its_figures_in_one_batch_call_per_100(staged_conn, hubspot, hubspot_api) -> None:
    outcome = run_sync(staged_conn, hubspot_api, "delivery-1")
    delivered = tuples(staged_conn, "SELECT count(*) FROM marts.deal_delivery WHERE crm_system = 'hubspot'")[0][0]
    assert delivered > 0 and outcome.written == delivered and not outcome.refused
    assert outcome.calls == -(-delivered // 100)
    held = stored(hubspot)
    assert len(held) == delivered
    hours = expected_hours(staged_conn, "hubspot")
    assert hours  # the dataset logs time on HubSpot deals' projects
    for deal_id, (billable, non_billable) in hours.items():
        assert Decimal(held[deal_id]["passerelle_hours_billable"]) == billable, deal_id
        assert Decimal(held[deal_id].get("passerelle_hours_non_billable", "0")) == non_billable, deal_id
    defined = hubspot_api.request("GET", "/crm/v3/properties/deals", stream="test")["results"]
    assert set(FIELDS) <= {p["name"] for p in defined}  # provisioned by the first apply
    again = run_sync(staged_conn, hubspot_api, "delivery-2")
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes WHERE run_id = 'delivery-2' "
                               "AND operation = 'create_field'") == [(0,)] and again.calls == 0


def test_amounts_invoiced_and_paid_follow_the_issued_invoices(staged_conn, hubspot, hubspot_api) -> None:
    load_example_billing(staged_conn)
    with CiiValidator() as validator:
        build_billable_items(staged_conn, date(2026, 1, 31))
        issue_period(staged_conn, example_seller(), validator, period_start=date(2026, 1, 1),
                     period_end=date(2026, 1, 31), run_id="setup")
    paid_invoice = tuples(staged_conn, """
        SELECT i.invoice_number, i.due_payable FROM marts.invoices i
         WHERE EXISTS (SELECT FROM billing.invoiced_items ii JOIN staging.deal_lines dl ON dl.deal_line_key = ii.source_key
                         JOIN staging.deals d ON d.deal_key = dl.deal_key
                        WHERE ii.invoice_number = i.invoice_number AND d.source_system = 'hubspot')
         ORDER BY 1 LIMIT 1""")[0]
    with staged_conn.cursor() as cur:
        cur.execute("INSERT INTO billing.payments (invoice_number, paid_on, amount) VALUES (%s, DATE '2026-02-20', %s)",
                    paid_invoice)
    staged_conn.commit()
    run_sync(staged_conn, hubspot_api, "amounts-1")

    # independent recomputation: each invoiced item's deal found in Python, paid share per invoice
    deal_line = dict(tuples(staged_conn, "SELECT deal_line_key, deal_key FROM staging.deal_lines"))
    project_deal = dict(tuples(staged_conn, "SELECT project_key, deal_key FROM staging.project_links"))
    entry_project = dict(tuples(staged_conn, "SELECT time_entry_key, project_key FROM staging.time_entries"))
    hubspot_id = dict(tuples(staged_conn, "SELECT deal_key, source_id FROM staging.deals "
                                          "WHERE source_system = 'hubspot' AND is_won"))
    invoiced: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for number, source_key, amount in tuples(staged_conn, "SELECT invoice_number, source_key, amount "
                                                          "FROM billing.invoiced_items WHERE credited_by IS NULL"):
        deal = deal_line.get(source_key) or project_deal.get(entry_project.get(source_key))
        if deal in hubspot_id:
            invoiced[hubspot_id[deal]] += amount
            if number == paid_invoice[0]:
                paid[hubspot_id[deal]] += amount
    held = stored(hubspot)
    assert invoiced, "January's invoices bill HubSpot deals"
    assert paid, "the paid invoice bills a HubSpot deal"
    compared = [deal_id for deal_id in invoiced if deal_id in held]
    assert compared and set(paid) <= set(compared)
    for deal_id, amount in invoiced.items():
        if deal_id in held:
            assert Decimal(held[deal_id]["passerelle_amount_invoiced"]) == amount, deal_id
            assert Decimal(held[deal_id].get("passerelle_amount_paid", "0")) == paid.get(deal_id, Decimal(0)), deal_id


def test_a_rerun_writes_nothing_and_a_change_writes_only_that_field(staged_conn, hubspot, hubspot_api) -> None:
    run_sync(staged_conn, hubspot_api, "d-1")
    again = run_sync(staged_conn, hubspot_api, "d-2")
    assert (again.written, again.calls) == (0, 0)
    deal_id, entry = tuples(staged_conn, """
        SELECT d.source_id, te.time_entry_key FROM staging.time_entries te
          JOIN staging.project_links pl USING (project_key) JOIN staging.deals d USING (deal_key)
         WHERE d.source_system = 'hubspot' AND d.is_won AND te.billable LIMIT 1""")[0]
    with staged_conn.cursor() as cur:
        cur.execute("UPDATE staging.time_entries SET hours = hours + 1.5 WHERE time_entry_key = %s", (entry,))
    staged_conn.commit()
    before = Decimal(stored(hubspot)[deal_id]["passerelle_hours_billable"])
    third = run_sync(staged_conn, hubspot_api, "d-3")
    assert (third.written, third.fields, third.calls) == (1, 1, 1)
    assert Decimal(stored(hubspot)[deal_id]["passerelle_hours_billable"]) == before + Decimal("1.5")
    planned = tuples(staged_conn, "SELECT crm_id, reason FROM sync.plan_items WHERE run_id = 'd-3'")
    assert planned == [(deal_id, "changed since the last write: passerelle_hours_billable")]


def test_a_deal_hubspot_no_longer_has_is_refused_alone(staged_conn, hubspot, hubspot_api) -> None:
    build_figures(staged_conn)
    gone = tuples(staged_conn, "SELECT crm_id FROM marts.deal_delivery WHERE crm_system = 'hubspot' ORDER BY 1")[0][0]
    hubspot.delete("deals", gone)
    outcome = run_sync(staged_conn, hubspot_api, "gone-1")
    assert list(outcome.refused) == [f"hubspot deal {gone}"] and outcome.written > 0
    assert tuples(staged_conn, "SELECT crm_id FROM sync.plan_items WHERE run_id = 'gone-1' AND outcome = 'rejected'") == [
        (gone,)]
    assert not tuples(staged_conn, "SELECT 1 FROM sync.field_state WHERE crm_id = %s", gone)


def test_a_batch_refused_for_one_value_is_split_until_the_others_are_written(staged_conn, hubspot, hubspot_api) -> None:
    hubspot.add_fault("error", status=400, path="/batch/update", times=1)
    outcome = run_sync(staged_conn, hubspot_api, "split-1")
    delivered = tuples(staged_conn, "SELECT count(*) FROM marts.deal_delivery WHERE crm_system = 'hubspot'")[0][0]
    assert outcome.written == delivered and not outcome.refused
    assert outcome.calls == 3  # the refused batch, then its two halves
    audit = tuples(staged_conn, "SELECT status, outcome FROM sync.writes WHERE operation = 'update_deals' ORDER BY write_id")
    assert audit == [(400, "rejected"), (200, "succeeded"), (200, "succeeded")]


def test_a_dry_run_stores_the_plan_and_writes_nothing(staged_conn, hubspot) -> None:
    build_figures(staged_conn)
    counts = plan(staged_conn, ("hubspot",), "dry-1")
    assert counts["update"] > 0 and stored(hubspot) == {}
    assert tuples(staged_conn, "SELECT count(*) FROM sync.writes") == [(0,)]
