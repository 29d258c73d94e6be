"""Delivery → Zoho CRM: the figures land in Deals fields the first apply creates, 100 deals per ``PUT``.

Bigin (same API, module Pipelines) runs the same checks from ``test_delivery_bigin``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from passerelle.sync.deal_fields import BY_KEY, DEAL_FIELDS
from passerelle.sync.zoho_deals import ZohoFieldsMissing
from tests.db import tuples
from tests.sync.delivery_checks import (calls, control, crm_api, delivered, expected_hours, run_sync,  # noqa: F401
                                       same_number)

CRM, MODULE = "zoho_crm", "Deals"


def held(control: Any, module: str, names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Deal id → {neutral key: value} of the fields the sync writes, non-empty ones."""
    out = {}
    for record in control.records(module):
        mine = {key: record.get(name) for key, name in names.items() if record.get(name) not in (None, "")}
        if mine:
            out[str(record["id"])] = mine
    return out


def field_names(crm_api: Any, module: str) -> dict[str, str]:
    rows = crm_api.request("GET", "/settings/fields", stream="test", params={"module": module})["fields"]
    by_label = {f["field_label"]: f["api_name"] for f in rows}
    return {f.key: by_label[f.label] for f in DEAL_FIELDS if f.label in by_label}


def matches(value: Any, text: str, key: str) -> bool:
    if BY_KEY[key].kind in ("number", "amount"):
        return same_number(value, text)
    return str(value) == text


def check_figures_land_and_rerun_writes_nothing(conn: Any, crm: str, module: str, control: Any, crm_api: Any) -> None:
    outcome = run_sync(conn, crm, crm_api, f"{crm}-1")
    expected = delivered(conn, crm)
    assert expected and outcome.written == len(expected) and not outcome.refused
    assert outcome.calls <= -(-len(expected) // 100)
    names = field_names(crm_api, module)
    assert set(names) == set(BY_KEY)  # every field created by the first apply
    stored = held(control, module, names)
    for deal_id, figures in expected.items():
        for key, text in figures.items():
            assert matches(stored[deal_id].get(key), text, key), (deal_id, key)
    hours = expected_hours(conn, crm)
    assert hours
    for deal_id, (billable, non_billable) in hours.items():
        assert Decimal(str(stored[deal_id]["passerelle_hours_billable"])) == billable, deal_id
        assert Decimal(str(stored[deal_id].get("passerelle_hours_non_billable", 0))) == non_billable, deal_id
    again = run_sync(conn, crm, crm_api, f"{crm}-2")
    assert (again.written, again.calls) == (0, 0) and calls(conn, f"{crm}-2", "create_field") == 0


def check_one_bad_deal_is_refused_alone(conn: Any, crm: str, module: str, control: Any, crm_api: Any) -> None:
    run_sync(conn, crm, crm_api, f"{crm}-warm")  # fields made, figures written
    expected = delivered(conn, crm)
    gone = sorted(expected)[0]
    control.delete(module, gone)
    with conn.cursor() as cur:  # every deal changes: the next plan writes them all again
        cur.execute("DELETE FROM sync.field_state WHERE crm_system = %s AND field = 'passerelle_hours_billable'", (crm,))
    conn.commit()
    outcome = run_sync(conn, crm, crm_api, f"{crm}-gone")
    assert list(outcome.refused) == [f"{crm} deal {gone}"] and "INVALID_DATA" in outcome.refused[f"{crm} deal {gone}"]
    assert outcome.written == len(expected) - 1 and outcome.calls <= -(-len(expected) // 100)
    assert tuples(conn, "SELECT crm_id FROM sync.plan_items WHERE run_id = %s AND outcome = 'rejected'",
                  f"{crm}-gone") == [(gone,)]


def test_figures_land_in_created_fields_and_a_rerun_writes_nothing(staged_conn, control, crm_api) -> None:
    check_figures_land_and_rerun_writes_nothing(staged_conn, CRM, MODULE, control, crm_api)


def test_a_deal_zoho_no_longer_has_is_refused_alone(staged_conn, control, crm_api) -> None:
    check_one_bad_deal_is_refused_alone(staged_conn, CRM, MODULE, control, crm_api)


def test_fields_zoho_refuses_to_create_are_a_set_up_error_naming_them(staged_conn, control, crm_api) -> None:
    control.add_fault("error", status=403, path="/settings/fields", after=1, times=1)  # the create, not the read
    with pytest.raises(ZohoFieldsMissing, match="Avancement du projet") as raised:
        run_sync(staged_conn, CRM, crm_api, "zoho-setup")
    assert "HTTP 403" in str(raised.value) and calls(staged_conn, "zoho-setup") == 0
