"""Pipedrive extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.connectors.registry import get_source
from passerelle.errors import AuthError, BadRecordError, SourceUnavailableError
from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count, raw_versions

STREAMS = ("organizations", "persons", "deals", "deal_products", "products", "users")


def live(sandbox: Any, obj: str) -> list[dict]:
    return [r for r in sandbox.vendors["pipedrive"].control.records(obj) if not r.get("is_deleted")]


def oauth(sandbox: Any) -> dict[str, str]:
    cred = sandbox.vendors["pipedrive"].credentials
    return {"client_id": cred["client_id"], "client_secret": cred["client_secret"], "refresh_token": cred["refresh_token"]}


def extract_all(conn: Any, sandbox: Any, day: int) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = extract_day(conn, sandbox, "pipedrive", stream, day=day)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def latest_payload(conn: Any, stream: str, record_id: Any) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE source = 'pipedrive' AND stream = %s AND record_id = %s"
                    " ORDER BY cursor_value DESC, is_deleted DESC LIMIT 1", (stream, str(record_id)))
        row = cur.fetchone()
    conn.rollback()
    return row[0]


def test_first_window_loads_every_stream_with_named_custom_fields(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in ("organizations", "persons", "deals", "deal_products", "products", "users"):
        assert counts[stream][0] == len(live(sandbox, stream)) == raw_count(warehouse_conn, "pipedrive", stream), stream
    org = live(sandbox, "organizations")[0]
    payload = latest_payload(warehouse_conn, "organizations", org["id"])
    by_name = payload["custom_fields_by_name"]
    assert set(by_name) == {"SIREN", "SIRET", "VAT number", "E-invoicing address", "Customer type"}
    assert sorted(by_name.values(), key=str) == sorted(payload["custom_fields"].values(), key=str)
    assert all(len(key) == 40 for key in payload["custom_fields"])
    deal = next(d for d in live(sandbox, "deals") if d["status"] == "won")
    stored = latest_payload(warehouse_conn, "deals", deal["id"])
    products = [p["id"] for p in live(sandbox, "deal_products") if p["deal_id"] == deal["id"]]
    assert sorted(stored["product_ids"]) == sorted(products) and products
    assert set(stored["custom_fields_by_name"]) == {"Description"}


def test_three_windows_of_creates_updates_and_deletes(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    extract_all(warehouse_conn, sandbox, 0)
    seen = []
    for day in (1, 2, 3):
        control.set_clock(DAY1 + timedelta(days=day, hours=9))
        org = sorted(o["id"] for o in live(sandbox, "organizations"))[day]
        control.update("organizations", str(org), {"name": f"Renommée {day} SAS", "custom_fields": {"SIRET": "73282932000074"}})
        new_org = control.create("organizations", {"name": f"Nouvelle {day} SARL", "owner_id": 11200001,
                                                   "custom_fields": {"SIREN": "732829320"}})["id"]
        gone_person = sorted(p["id"] for p in live(sandbox, "persons"))[day]
        control.delete("persons", str(gone_person))
        gone_deal = sorted(d["id"] for d in live(sandbox, "deals"))[day]
        control.delete("deals", str(gone_deal))
        live_deals = {d["id"] for d in live(sandbox, "deals")}
        line = sorted(p["id"] for p in live(sandbox, "deal_products") if p["deal_id"] in live_deals)[day]
        control.update("deal_products", str(line), {"quantity": 7})
        counts = extract_all(warehouse_conn, sandbox, day)
        seen.append(counts)
        assert counts["organizations"][:3] == (1, 1, 0)
        assert counts["persons"][2] == 1 and counts["deals"][2] == 1
        assert counts["deal_products"][1] == 1
        assert latest_payload(warehouse_conn, "organizations", org)["custom_fields_by_name"]["SIRET"] == "73282932000074"
        assert latest_payload(warehouse_conn, "organizations", new_org)["name"] == f"Nouvelle {day} SARL"
        versions = [v for v in raw_versions(warehouse_conn, "pipedrive", "persons") if v[0] == str(gone_person)]
        assert [v[2] for v in versions] == [False, True]
        assert versions[1][1] == DAY1 + timedelta(days=day, hours=9)  # dated by the deletion itself
    for stream in ("organizations", "persons", "deals", "products"):
        raw_live = {v[0] for v in _latest_live(warehouse_conn, stream)}
        assert raw_live == {str(r["id"]) for r in live(sandbox, stream)}, stream


def _latest_live(conn: Any, stream: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM (SELECT DISTINCT ON (record_id) record_id, is_deleted FROM raw.records"
                    " WHERE source = 'pipedrive' AND stream = %s ORDER BY record_id, cursor_value DESC, is_deleted DESC)"
                    " l WHERE NOT is_deleted", (stream,))
        rows = cur.fetchall()
    conn.rollback()
    return rows


def test_rerunning_a_window_changes_nothing(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    extract_all(warehouse_conn, sandbox, 0)
    control.set_clock(DAY1 + timedelta(days=1, hours=8))
    control.delete("organizations", str(sorted(o["id"] for o in live(sandbox, "organizations"))[0]))
    control.update("deals", str(sorted(d["id"] for d in live(sandbox, "deals"))[0]), {"status": "won"})
    first = extract_all(warehouse_conn, sandbox, 1)
    assert first["organizations"][2] == 1 and first["deals"][1] == 1
    again = extract_all(warehouse_conn, sandbox, 1)
    assert all(counts[:3] == (0, 0, 0) for counts in again.values()), again
    backfill = extract_all(warehouse_conn, sandbox, 0)  # a past interval, re-extracted
    assert all(counts[:3] == (0, 0, 0) for counts in backfill.values()), backfill


def test_burst_limit_is_waited_out_with_x_ratelimit_reset(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.config(burst_limit=2, burst_window_seconds=2.0)
    started = time.monotonic()
    stats = extract_day(warehouse_conn, sandbox, "pipedrive", "deals")
    assert stats.inserted == len(live(sandbox, "deals"))
    assert control.stats()["by_status"].get("429", 0) >= 1
    assert time.monotonic() - started >= 1.0


def test_injected_429_waits_the_announced_reset(sandbox, warehouse_conn) -> None:
    """No Retry-After, only x-ratelimit-reset: 2 throttled answers cost 2 × 1 s, far above the 0.05 s backoff."""
    control = sandbox.vendors["pipedrive"].control
    control.add_fault(kind="rate_limit", times=2, retry_after=1, path="/api/v2/products")
    started = time.monotonic()
    stats = extract_day(warehouse_conn, sandbox, "pipedrive", "products")
    assert stats.inserted == len(live(sandbox, "products"))
    assert control.stats()["by_status"].get("429") == 2
    assert time.monotonic() - started >= 2.0


def test_exhausted_daily_budget_fails_the_window_without_waiting(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.config(daily_token_budget=15)
    with pytest.raises(SourceUnavailableError, match="daily API token budget"):
        extract_day(warehouse_conn, sandbox, "pipedrive", "deals")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_oauth_token_expiry_is_refreshed(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.config(oauth_expires_in=3599)
    extract_day(warehouse_conn, sandbox, "pipedrive", "products", **oauth(sandbox))
    control.add_fault(kind="expire_tokens", path="/api/v2/persons")
    stats = extract_day(warehouse_conn, sandbox, "pipedrive", "persons", **oauth(sandbox))
    assert stats.inserted == len(live(sandbox, "persons"))
    assert control.stats()["by_path_status"]["/api/v2/persons"].get("401") == 1


def test_refused_api_token_fails_fast(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.add_fault(kind="expire_tokens")
    with pytest.raises(AuthError, match="API token"):
        extract_day(warehouse_conn, sandbox, "pipedrive", "products")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_crash_mid_window_rolls_back_and_the_rerun_loads(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.config(burst_limit=10_000)
    control.bulk("persons", create=1200)  # three pages of 500
    control.add_fault(kind="error", status=500, times=None, after=2, path="/api/v2/persons")
    with pytest.raises(SourceUnavailableError):
        extract_day(warehouse_conn, sandbox, "pipedrive", "persons")
    assert raw_count(warehouse_conn, "pipedrive", "persons") == 0 and audit_counts(warehouse_conn) == (0, 0)
    control.clear_faults()
    stats = extract_day(warehouse_conn, sandbox, "pipedrive", "persons")
    assert stats.inserted == len(live(sandbox, "persons")) > 1200


def test_record_without_id_is_named_and_nothing_loads(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.add_fault(kind="missing_id", path="/api/v2/organizations")
    with pytest.raises(BadRecordError, match=r"pipedrive \(Airflow Connection 'passerelle_pipedrive'\): organizations: "
                                             r"record #\d+ at .*missing primary key field 'id'"):
        extract_day(warehouse_conn, sandbox, "pipedrive", "organizations")
    assert raw_count(warehouse_conn, "pipedrive", "organizations") == 0


AMOUNT, BIG, TINY = Decimal("99999999999999.99"), 12345678901234567890123, Decimal("1E-7")


def test_exact_numbers_reach_raw_and_staging(sandbox, warehouse_conn) -> None:
    app = sandbox.vendors["pipedrive"].app
    sandbox.vendors["pipedrive"].control.set_clock(DAY1 + timedelta(hours=12))
    deal = next(d for d in live(sandbox, "deals") if d["status"] == "won")
    line = next(p for p in live(sandbox, "deal_products") if p["deal_id"] == deal["id"])
    with app.lock:  # Decimals handed to the store directly: the control API speaks JSON floats
        app.control_update("deal_products", str(line["id"]),
                           {"fields": {"quantity": BIG, "discount": TINY, "item_price": AMOUNT}})
        app.control_update("deals", str(deal["id"]), {"fields": {"value": AMOUNT}})
    for stream in ("organizations", "deals", "deal_products"):
        extract_day(warehouse_conn, sandbox, "pipedrive", stream)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload->>'value', jsonb_typeof(payload->'value') FROM raw.records WHERE stream = 'deals'"
                    " AND source = 'pipedrive' AND record_id = %s ORDER BY cursor_value DESC LIMIT 1", (str(deal["id"]),))
        assert cur.fetchone() == ("99999999999999.99", "number")
        cur.execute("SELECT payload->>'quantity', payload->>'discount' FROM raw.records WHERE stream = 'deal_products'"
                    " AND record_id = %s ORDER BY cursor_value DESC LIMIT 1", (str(line["id"]),))
        assert cur.fetchone() == ("12345678901234567890123", "0.0000001")
    warehouse_conn.rollback()
    run_staging(warehouse_conn, ["customers", "deals", "deal_lines"])
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT amount FROM staging.deals WHERE deal_key = %s", (f"pipedrive:{deal['id']}",))
        assert cur.fetchone()[0] == AMOUNT
        cur.execute("SELECT unit_price, quantity FROM staging.deal_lines WHERE deal_line_key = %s",
                    (f"pipedrive:{line['id']}",))
        unit_price, quantity = cur.fetchone()
    warehouse_conn.rollback()
    # the quantity has more integer digits than staging's NUMERIC(18,4): NULL, for validation to quarantine
    assert unit_price == AMOUNT and quantity is None


def test_spec_is_registered() -> None:
    spec = get_source("pipedrive")
    assert (spec.conn_id, spec.pool) == ("passerelle_pipedrive", "pipedrive_api")
    assert [s.name for s in spec.streams] == list(STREAMS[:4]) + ["products", "users"]


def test_demo_scenario_windows_leave_raw_identical_to_the_source(sandbox, warehouse_conn) -> None:
    from passerelle_sandbox.pipedrive_scenario import apply_pipedrive_day_changes, compare_pipedrive_raw_with_source

    for day in range(3):
        changes = apply_pipedrive_day_changes(sandbox, day, DAY1 + timedelta(days=day, hours=10, minutes=30))
        assert changes == {"created": 1, "updated": 3, "deleted": 2, "mass_updated": 25}
        counts = extract_all(warehouse_conn, sandbox, day)
        if day:
            assert counts["persons"][1] >= 25 and counts["persons"][2] == 1 and counts["deals"][2] == 1
    assert compare_pipedrive_raw_with_source(warehouse_conn, sandbox) == []
