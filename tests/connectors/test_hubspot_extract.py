"""HubSpot extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from passerelle.errors import AuthError, BadRecordError
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
    control.add_fault(**{"kind": "missing_id", "path": "/search"})
    with pytest.raises(BadRecordError, match=r"hubspot \(Airflow Connection 'passerelle_hubspot'\): companies: record #\d+ at .*missing primary key field 'id'"):
        extract_day(warehouse_conn, sandbox, "hubspot", "companies")
    assert raw_count(warehouse_conn, "hubspot", "companies") == 0
    assert audit_counts(warehouse_conn) == (0, 0)
