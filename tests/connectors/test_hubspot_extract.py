"""HubSpot extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from passerelle.errors import AuthError, BadRecordError
from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count, raw_versions


def live(sandbox, obj: str) -> list[dict]:
    return [r for r in sandbox.vendors["hubspot"].control.records(obj) if not r.get("archived")]


def test_first_window_loads_every_company_with_string_properties(sandbox, warehouse_conn) -> None:
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "companies")
    assert stats.inserted == len(live(sandbox, "companies")) == raw_count(warehouse_conn, "hubspot", "companies")
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE stream = 'companies' LIMIT 1")
        payload = cur.fetchone()[0]
    assert payload["properties"]["hs_object_id"] == payload["id"]
    assert all(v is None or isinstance(v, str) for v in payload["properties"].values())


def test_deals_carry_their_associations(sandbox, warehouse_conn) -> None:
    extract_day(warehouse_conn, sandbox, "hubspot", "deals")
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE stream = 'deals'")
        deals = [row[0] for row in cur.fetchall()]
    assert deals and all(set(d["associations"]) == {"companies", "line_items"} for d in deals)
    assert sum(len(d["associations"]["line_items"]) for d in deals) > 0
    assert all(len(d["associations"]["companies"]) >= 1 for d in deals)


def test_archived_records_become_tombstones_in_their_window(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    extract_day(warehouse_conn, sandbox, "hubspot", "deals", day=0)
    deal = sorted(d["id"] for d in live(sandbox, "deals"))[0]
    control.set_clock(DAY1 + timedelta(days=1, hours=8))
    control.delete("deals", deal)
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "deals", day=1)
    assert (stats.deleted, stats.inserted, stats.updated) == (1, 0, 0)
    assert [v[2] for v in raw_versions(warehouse_conn, "hubspot", "deals") if v[0] == deal] == [False, True]
    assert extract_day(warehouse_conn, sandbox, "hubspot", "deals", day=2).deleted == 0


def test_window_over_the_search_cap_loses_nothing(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.config(enforce_rate_limits=False)
    extract_day(warehouse_conn, sandbox, "hubspot", "line_items", day=0)
    control.set_clock(DAY1 + timedelta(days=1, hours=5))
    control.bulk("line_items", create=10_300, touch=20)  # one timestamp for all of them
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "line_items", day=1)
    assert (stats.inserted, stats.updated, stats.unchanged) == (10_300, 20, 0)
    assert len({v[0] for v in raw_versions(warehouse_conn, "hubspot", "line_items")}) == len(live(sandbox, "line_items"))
    assert control.stats()["by_status"].get("400", 0) == 0


def test_throttling_storm_is_survived(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.add_fault(**{"kind": "rate_limit", "times": 5, "retry_after": 1})
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "contacts")
    assert stats.inserted == len(live(sandbox, "contacts"))
    assert control.stats()["by_status"].get("429", 0) >= 5


def test_oauth_token_expiry_is_refreshed(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    cred = sandbox.vendors["hubspot"].credentials
    oauth = {"client_id": cred["client_id"], "client_secret": cred["client_secret"], "refresh_token": cred["refresh_token"]}
    control.add_fault(**{"kind": "expire_tokens"})
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "products", **oauth)
    assert stats.inserted == len(live(sandbox, "products"))


def test_refused_private_app_token_fails_fast(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.add_fault(**{"kind": "expire_tokens"})
    with pytest.raises(AuthError):
        extract_day(warehouse_conn, sandbox, "hubspot", "products")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_record_without_id_is_named_and_nothing_loads(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.add_fault(**{"kind": "missing_id", "path": "/crm/v3/objects/companies"})
    with pytest.raises(BadRecordError, match=r"hubspot \(Airflow Connection 'passerelle_hubspot'\): companies: record #\d+ at .*missing primary key field 'id'"):
        extract_day(warehouse_conn, sandbox, "hubspot", "companies")
    assert raw_count(warehouse_conn, "hubspot", "companies") == 0
    assert audit_counts(warehouse_conn) == (0, 0)


# ------------------------------------------------------------------------------ pipelines


def staged_deals(conn) -> dict[str, tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT source_id, stage, is_closed, is_won, won_date FROM staging.deals WHERE source_system = 'hubspot'")
        found = {row[0]: row[1:] for row in cur.fetchall()}
    conn.rollback()
    return found


def test_won_and_lost_come_from_the_stage_metadata_of_each_pipeline(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.set_clock(DAY1 + timedelta(hours=8))
    company = live(sandbox, "companies")[0]["id"]
    deals = {}
    for name, pipeline, stage in (("custom won", "75318642", "120553003"), ("custom lost", "75318642", "120553004"),
                                  ("custom open", "75318642", "120553002"), ("default won", "default", "closedwon"),
                                  ("unknown stage", "75318642", "999")):
        fields = {"dealname": name, "pipeline": pipeline, "dealstage": stage, "amount": "100.00",
                  "closedate": "2026-02-27T00:00:00.000Z"}
        deals[name] = control.create("deals", fields, associations=[{"to_type": "companies", "to_id": company}])["id"]
    extract_day(warehouse_conn, sandbox, "hubspot", "deals")
    assert extract_day(warehouse_conn, sandbox, "hubspot", "deal_pipelines").inserted == 2
    run_staging(warehouse_conn, ["deals"])
    staged = staged_deals(warehouse_conn)
    won_date = date(2026, 2, 27)
    assert staged[deals["custom won"]] == ("120553003", True, True, won_date)
    assert staged[deals["custom lost"]] == ("120553004", True, False, None)
    assert staged[deals["custom open"]] == ("120553002", False, False, None)
    assert staged[deals["default won"]] == ("closedwon", True, True, won_date)
    assert staged[deals["unknown stage"]] == ("999", None, None, None)
    dataset_deals = [d for d in live(sandbox, "deals") if d["id"] not in deals.values()]
    assert all(staged[d["id"]][2] == (d["properties"]["dealstage"] == "closedwon") for d in dataset_deals)


def test_pipelines_are_read_whole_and_versioned_by_content(sandbox, warehouse_conn) -> None:
    app = sandbox.vendors["hubspot"].app
    assert extract_day(warehouse_conn, sandbox, "hubspot", "deal_pipelines", day=0).inserted == 2
    again = extract_day(warehouse_conn, sandbox, "hubspot", "deal_pipelines", day=1)
    assert (again.inserted, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 0)
    with app.lock:
        custom = next(p for p in app.pipelines["deals"] if p["id"] == "75318642")
        custom["stages"][2]["label"] = "Signé (bon de commande)"
    changed = extract_day(warehouse_conn, sandbox, "hubspot", "deal_pipelines", day=2)
    assert (changed.inserted, changed.updated, changed.deleted) == (0, 1, 0)
    with app.lock:
        app.pipelines["deals"].remove(custom)
    gone = extract_day(warehouse_conn, sandbox, "hubspot", "deal_pipelines", day=3)
    assert (gone.inserted, gone.updated, gone.deleted) == (0, 0, 1)
    assert [v[2] for v in raw_versions(warehouse_conn, "hubspot", "deal_pipelines") if v[0] == "75318642"] == [
        False, False, True]


# ------------------------------------------------------------------------- wide properties


def test_six_hundred_custom_properties_never_build_a_refused_url(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["hubspot"].control
    control.config(enforce_rate_limits=False)
    control.set_clock(DAY1 + timedelta(hours=8))
    custom = {f"custom_property_{i:023d}": f"valeur {i}" for i in range(600)}  # 600 names of 40 characters
    archived = [c["id"] for c in live(sandbox, "companies")[:3]]
    for company in archived:
        control.update("companies", company, custom)
        control.delete("companies", company)
    control.clear_stats()
    stats = extract_day(warehouse_conn, sandbox, "hubspot", "companies")
    assert stats.deleted == 3
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT record_id, payload FROM raw.records WHERE stream = 'companies' AND is_deleted")
        tombstones = dict(cur.fetchall())
    warehouse_conn.rollback()
    assert sorted(tombstones) == sorted(archived)
    for payload in tombstones.values():
        assert {k: payload["properties"][k] for k in custom} == custom
        assert payload["properties"]["name"] and payload["archivedAt"]
    seen = control.stats()
    assert "414" not in seen["by_status"]
    assert seen["by_path"]["/crm/v3/objects/companies"] >= 4  # one request per property chunk
