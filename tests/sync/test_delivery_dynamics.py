"""Delivery → Dynamics 365: opportunity columns made through the metadata API, updates in ``$batch`` change sets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from passerelle.sync.deal_fields import BY_KEY, DEAL_FIELDS
from passerelle.sync.dynamics_deals import DynamicsColumnsMissing, column
from tests.db import tuples
from tests.sync.delivery_checks import (calls, control, crm_api, delivered, expected_hours, run_sync,  # noqa: F401
                                       same_number)

CRM = "dynamics"


def held(control: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for row in control.records("opportunities"):
        mine = {f.key: row.get(column(f.key)) for f in DEAL_FIELDS if row.get(column(f.key)) not in (None, "")}
        if mine:
            out[row["opportunityid"]] = mine
    return out


def test_columns_are_created_and_the_figures_land_in_one_batch(staged_conn, control, crm_api) -> None:
    outcome = run_sync(staged_conn, CRM, crm_api, "dv-1")
    expected = delivered(staged_conn, CRM)
    assert expected and outcome.written == len(expected) and not outcome.refused
    assert outcome.calls == -(-len(expected) // 1000) and calls(staged_conn, "dv-1", "create_field") == len(DEAL_FIELDS)
    attributes = crm_api.request("GET", "/api/data/v9.2/EntityDefinitions(LogicalName='opportunity')/Attributes",
                                 stream="test", params={"$select": "LogicalName,AttributeType"})["value"]
    kinds = {a["LogicalName"]: a["AttributeType"] for a in attributes}
    assert kinds["psl_percentdone"] == "Decimal" and kinds["psl_amountpaid"] == "Money"
    stored = held(control)
    for deal_id, figures in expected.items():
        for key, text in figures.items():
            value = stored[deal_id].get(key)
            assert (same_number(value, text) if BY_KEY[key].kind in ("number", "amount") else value == text), (deal_id, key)
    for deal_id, (billable, _) in expected_hours(staged_conn, CRM).items():
        assert Decimal(str(stored[deal_id]["passerelle_hours_billable"])) == billable, deal_id
    again = run_sync(staged_conn, CRM, crm_api, "dv-2")
    assert (again.written, again.calls) == (0, 0) and calls(staged_conn, "dv-2", "create_field") == 0


def test_a_deleted_opportunity_is_refused_and_the_rest_of_the_change_set_is_sent_again(staged_conn, control,
                                                                                      crm_api) -> None:
    run_sync(staged_conn, CRM, crm_api, "dv-warm")
    expected = delivered(staged_conn, CRM)
    gone = sorted(expected)[len(expected) // 2]
    control.delete("opportunities", gone)
    with staged_conn.cursor() as cur:
        cur.execute("DELETE FROM sync.field_state WHERE crm_system = 'dynamics' AND field = 'passerelle_hours_billable'")
    staged_conn.commit()
    outcome = run_sync(staged_conn, CRM, crm_api, "dv-gone")
    assert list(outcome.refused) == [f"dynamics deal {gone}"]
    assert "Does Not Exist" in outcome.refused[f"dynamics deal {gone}"]  # If-Match: * never recreates it
    assert outcome.written == len(expected) - 1 and outcome.calls == 2  # the refused set, then the set without it
    assert gone not in {r["opportunityid"] for r in control.records("opportunities")}
    assert tuples(staged_conn, "SELECT crm_id FROM sync.plan_items WHERE run_id = 'dv-gone' AND outcome = 'rejected'") == [
        (gone,)]


def test_a_column_dataverse_refuses_to_create_is_a_set_up_error_naming_it(staged_conn, control, crm_api) -> None:
    control.add_fault("error", status=403, path="/Attributes", after=1, times=len(DEAL_FIELDS))  # the creates only
    with pytest.raises(DynamicsColumnsMissing, match="psl_percentdone"):
        run_sync(staged_conn, CRM, crm_api, "dv-setup")
    assert calls(staged_conn, "dv-setup") == 0
