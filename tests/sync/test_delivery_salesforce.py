"""Delivery → Salesforce: Opportunity fields made through the Tooling API, 200 records per sObject Collections call."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from passerelle.sync.deal_fields import BY_KEY, DEAL_FIELDS
from passerelle.sync.salesforce_deals import SalesforceFieldsMissing, api_name, salesforce_rest
from tests.db import tuples
from tests.sync.delivery_checks import (calls, control, crm_api, delivered, expected_hours, run_sync,  # noqa: F401
                                       same_number)

CRM = "salesforce"


def held(control: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for record in control.records("Opportunity"):
        mine = {f.key: record.get(api_name(f.key)) for f in DEAL_FIELDS if record.get(api_name(f.key)) not in (None, "")}
        if mine:
            out[record["Id"]] = mine
    return out


def test_fields_are_created_and_the_figures_land_200_per_call(staged_conn, control, crm_api) -> None:
    outcome = run_sync(staged_conn, CRM, crm_api, "sf-1")
    expected = delivered(staged_conn, CRM)
    assert expected and outcome.written == len(expected) and not outcome.refused
    assert outcome.calls == -(-len(expected) // 200) and calls(staged_conn, "sf-1", "create_field") == len(DEAL_FIELDS)
    described = salesforce_rest(crm_api).request("GET", "/sobjects/Opportunity/describe", stream="test")
    types = {f["name"]: f["type"] for f in described["fields"]}
    assert types["Passerelle_Percent_Done__c"] == "double" and types["Passerelle_Amount_Paid__c"] == "currency"
    assert types["Passerelle_Next_Milestone_Date__c"] == "date"
    stored = held(control)
    for deal_id, figures in expected.items():
        for key, text in figures.items():
            value = stored[deal_id].get(key)
            assert (same_number(value, text) if BY_KEY[key].kind in ("number", "amount") else value == text), (deal_id, key)
    for deal_id, (billable, _) in expected_hours(staged_conn, CRM).items():
        assert Decimal(str(stored[deal_id]["passerelle_hours_billable"])) == billable, deal_id
    again = run_sync(staged_conn, CRM, crm_api, "sf-2")
    assert (again.written, again.calls) == (0, 0) and calls(staged_conn, "sf-2", "create_field") == 0


def test_a_deleted_opportunity_is_refused_alone_with_salesforce_s_message(staged_conn, control, crm_api) -> None:
    run_sync(staged_conn, CRM, crm_api, "sf-warm")
    expected = delivered(staged_conn, CRM)
    gone = sorted(expected)[0]
    control.delete("Opportunity", gone)
    with staged_conn.cursor() as cur:
        cur.execute("DELETE FROM sync.field_state WHERE crm_system = 'salesforce' AND field = 'passerelle_project_url'")
        cur.execute("DELETE FROM sync.field_state WHERE crm_system = 'salesforce' AND field = 'passerelle_hours_billable'")
    staged_conn.commit()
    outcome = run_sync(staged_conn, CRM, crm_api, "sf-gone")
    assert list(outcome.refused) == [f"salesforce deal {gone}"]
    assert outcome.refused[f"salesforce deal {gone}"].startswith("ENTITY_IS_DELETED")
    assert outcome.written == len(expected) - 1 and outcome.calls == 1
    assert not tuples(staged_conn, "SELECT 1 FROM sync.field_state WHERE crm_id = %s AND run_id = 'sf-gone'", gone)


def test_a_field_the_org_refuses_to_create_is_a_set_up_error_naming_it(staged_conn, control, crm_api) -> None:
    control.add_fault("error", status=400, path="/tooling/sobjects/CustomField", times=100)
    with pytest.raises(SalesforceFieldsMissing, match="Passerelle_Percent_Done__c"):
        run_sync(staged_conn, CRM, crm_api, "sf-setup")
    assert calls(staged_conn, "sf-setup") == 0  # nothing written before the fields exist
