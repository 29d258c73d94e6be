"""Delivery → Pipedrive: deal custom fields created once (their hash keys kept), one ``PATCH`` per changed deal.

The dataset's projects deliver no Pipedrive deal: some projects are linked to won Pipedrive deals first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from passerelle.sync.deal_fields import BY_KEY, DEAL_FIELDS
from tests.db import tuples
from tests.sync.delivery_checks import (api, calls, control, deliver, delivered, expected_hours, run_sync,  # noqa: F401
                                       same_number)

CRM = "pipedrive"


@pytest.fixture
def crm_api(sandbox: Any, control: Any, staged_conn: Any) -> Any:
    assert len(deliver(staged_conn, CRM, 8)) == 8
    return api(sandbox, CRM)


def field_keys(crm_api: Any) -> dict[str, str]:
    """Neutral key → hash key, read back from Pipedrive's deal fields (by name)."""
    rows = crm_api.request("GET", "/api/v2/dealFields", stream="test")["data"]
    by_name = {r["field_name"]: r["field_code"] for r in rows if r["is_custom_field"]}
    return {f.key: by_name[f.label] for f in DEAL_FIELDS if f.label in by_name}


def held(control: Any, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
    out = {}
    for deal in control.records("deals"):
        custom = deal.get("custom_fields") or {}
        mine = {key: custom.get(code) for key, code in keys.items() if custom.get(code) not in (None, "")}
        if mine:
            out[str(deal["id"])] = mine
    return out


def test_fields_are_created_and_each_changed_deal_is_one_patch(staged_conn, control, crm_api) -> None:
    outcome = run_sync(staged_conn, CRM, crm_api, "pd-1")
    expected = delivered(staged_conn, CRM)
    assert len(expected) == 8 and outcome.written == 8 and not outcome.refused
    assert outcome.calls == 8 and calls(staged_conn, "pd-1", "create_field") == len(DEAL_FIELDS)
    keys = field_keys(crm_api)
    assert set(keys) == set(BY_KEY) and all(len(code) == 40 for code in keys.values())
    stored = held(control, keys)
    for deal_id, figures in expected.items():
        for key, text in figures.items():
            value = stored[deal_id].get(key)
            assert (same_number(value, text) if BY_KEY[key].kind in ("number", "amount") else value == text), (deal_id, key)
    hours = expected_hours(staged_conn, CRM)
    assert hours
    for deal_id, (billable, _) in hours.items():
        assert Decimal(str(stored[deal_id]["passerelle_hours_billable"])) == billable, deal_id
    again = run_sync(staged_conn, CRM, crm_api, "pd-2")
    assert (again.written, again.calls) == (0, 0) and calls(staged_conn, "pd-2", "create_field") == 0


def test_a_deleted_deal_is_refused_alone_with_pipedrive_s_message(staged_conn, control, crm_api) -> None:
    run_sync(staged_conn, CRM, crm_api, "pd-warm")
    expected = delivered(staged_conn, CRM)
    gone = sorted(expected)[0]
    control.delete("deals", gone)
    with staged_conn.cursor() as cur:
        cur.execute("DELETE FROM sync.field_state WHERE crm_system = 'pipedrive' AND field = 'passerelle_hours_billable'")
    staged_conn.commit()
    outcome = run_sync(staged_conn, CRM, crm_api, "pd-gone")
    assert list(outcome.refused) == [f"pipedrive deal {gone}"] and "not found" in outcome.refused[f"pipedrive deal {gone}"]
    assert outcome.written == len(expected) - 1 and outcome.calls == len(expected)
    assert tuples(staged_conn, "SELECT crm_id FROM sync.plan_items WHERE run_id = 'pd-gone' AND outcome = 'rejected'") == [
        (gone,)]
