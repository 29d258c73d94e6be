"""Zoho CRM (and Bigin) extract-load against the emulator over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.connectors.registry import get_source
from passerelle.errors import AuthError, SourceUnavailableError
from passerelle_sandbox.server import Sandbox
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count, raw_versions
from tests.fixtures.sandbox import single_vendor_sandbox

zoho_crm_sandbox = single_vendor_sandbox("zoho_crm", "zoho_crm_sandbox")
bigin_only_sandbox = single_vendor_sandbox("bigin", "bigin_only_sandbox")
STREAMS = ("Accounts", "Contacts", "Deals", "Quotes", "Products", "users")


@pytest.fixture
def sandbox(zoho_crm_sandbox: Sandbox) -> Sandbox:
    zoho_crm_sandbox.vendors["zoho_crm"].control.reset()
    return zoho_crm_sandbox


def control_of(sandbox: Sandbox) -> Any:
    return sandbox.vendors["zoho_crm"].control


def live(sandbox: Sandbox, obj: str) -> list[dict]:
    return control_of(sandbox).records(obj)


def extract_all(conn: Any, sandbox: Sandbox, day: int) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = extract_day(conn, sandbox, "zoho_crm", stream, day=day)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def latest_payload(conn: Any, stream: str, record_id: str) -> dict:
    with conn.cursor() as cur:
        cur.execute("SELECT payload FROM raw.records WHERE source = 'zoho_crm' AND stream = %s AND record_id = %s"
                    " ORDER BY cursor_value DESC, is_deleted DESC LIMIT 1", (stream, record_id))
        row = cur.fetchone()
    conn.rollback()
    return row[0]


def latest_live_ids(conn: Any, stream: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM (SELECT DISTINCT ON (record_id) record_id, is_deleted FROM raw.records"
                    " WHERE source = 'zoho_crm' AND stream = %s ORDER BY record_id, cursor_value DESC, is_deleted DESC)"
                    " l WHERE NOT is_deleted", (stream,))
        rows = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return rows


def test_first_window_loads_every_stream_with_custom_fields_and_stage_metadata(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in STREAMS:
        assert counts[stream][0] == len(live(sandbox, stream)) == raw_count(warehouse_conn, "zoho_crm", stream), stream
    account = live(sandbox, "Accounts")[0]
    payload = latest_payload(warehouse_conn, "Accounts", account["id"])
    assert payload["SIREN"] == account["SIREN"] and payload["VAT_Number"] == account["VAT_Number"]
    assert payload["Modified_Time"].endswith("+01:00")
    won = next(d for d in live(sandbox, "Deals") if d["Stage"] == "Signé")
    stored = latest_payload(warehouse_conn, "Deals", won["id"])
    assert stored["stage_metadata"]["forecast_type"] == "Closed Won" and stored["stage_metadata"]["probability"] == 100
    quote = live(sandbox, "Quotes")[0]
    assert len(latest_payload(warehouse_conn, "Quotes", quote["id"])["Quoted_Items"]) == len(quote["Quoted_Items"])


def test_three_windows_of_creates_updates_and_deletes(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    extract_all(warehouse_conn, sandbox, 0)
    for day in (1, 2, 3):
        control.set_clock(DAY1 + timedelta(days=day, hours=9))
        account = sorted(a["id"] for a in live(sandbox, "Accounts"))[day]
        control.update("Accounts", account, {"Account_Name": f"Renommée {day} SAS", "SIRET": "73282932000074"})
        new = control.create("Accounts", {"Account_Name": f"Nouvelle {day} SARL", "SIREN": "732829320"})["id"]
        gone_contact = sorted(c["id"] for c in live(sandbox, "Contacts"))[day]
        control.delete("Contacts", gone_contact)
        gone_deal = sorted(d["id"] for d in live(sandbox, "Deals"))[day]
        control.delete("Deals", gone_deal)
        counts = extract_all(warehouse_conn, sandbox, day)
        assert counts["Accounts"][:3] == (1, 1, 0)
        assert counts["Contacts"][:3] == (0, 0, 1) and counts["Deals"][:3] == (0, 0, 1)
        assert latest_payload(warehouse_conn, "Accounts", account)["SIRET"] == "73282932000074"
        assert latest_payload(warehouse_conn, "Accounts", new)["Account_Name"] == f"Nouvelle {day} SARL"
        versions = [v for v in raw_versions(warehouse_conn, "zoho_crm", "Contacts") if v[0] == gone_contact]
        assert [v[2] for v in versions] == [False, True]
        assert versions[1][1] == DAY1 + timedelta(days=day, hours=9)  # dated by the deletion itself
    for stream in ("Accounts", "Contacts", "Deals", "Products"):
        assert latest_live_ids(warehouse_conn, stream) == {r["id"] for r in live(sandbox, stream)}, stream


def test_rerun_and_backfill_change_nothing(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    extract_all(warehouse_conn, sandbox, 0)
    control.set_clock(DAY1 + timedelta(days=1, hours=8))
    control.delete("Accounts", sorted(a["id"] for a in live(sandbox, "Accounts"))[0])
    control.update("Deals", sorted(d["id"] for d in live(sandbox, "Deals"))[0], {"Stage": "Signé"})
    first = extract_all(warehouse_conn, sandbox, 1)
    assert first["Accounts"][2] == 1 and first["Deals"][1] == 1
    again = extract_all(warehouse_conn, sandbox, 1)
    assert all(counts[:3] == (0, 0, 0) for counts in again.values()), again
    backfill = extract_all(warehouse_conn, sandbox, 0)
    assert all(counts[:3] == (0, 0, 0) for counts in backfill.values()), backfill


def test_page_token_past_2000_records(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.bulk("Accounts", create=2300)
    stats = extract_day(warehouse_conn, sandbox, "zoho_crm", "Accounts")
    assert stats.inserted == len(live(sandbox, "Accounts")) > 2000
    assert control.stats()["by_status"].get("400", 0) == 0


def test_fields_beyond_50_are_read_by_ids_and_merged(sandbox, warehouse_conn) -> None:
    app = sandbox.vendors["zoho_crm"].app
    with app.lock:
        app.field_meta["Products"] += [{"api_name": f"Extra_{i:02d}", "data_type": "text", "custom_field": True}
                                       for i in range(45)]
        for product in app.records["Products"].values():
            product["Extra_44"] = f"x-{product['id']}"
    extract_day(warehouse_conn, sandbox, "zoho_crm", "Products")
    product = live(sandbox, "Products")[0]
    payload = latest_payload(warehouse_conn, "Products", product["id"])
    assert payload["Extra_44"] == f"x-{product['id']}" and payload["Product_Name"] == product["Product_Name"]


def test_credits_exhausted_fails_the_window_and_concurrency_429_is_retried(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.add_fault(kind="rate_limit", times=2, path="/crm/v8/Products")
    stats = extract_day(warehouse_conn, sandbox, "zoho_crm", "Products")
    assert stats.inserted == len(live(sandbox, "Products")) and control.stats()["by_status"].get("429") == 2
    control.reset()
    control.config(credits_per_day=1)
    with pytest.raises(SourceUnavailableError, match="credits"):
        extract_day(warehouse_conn, sandbox, "zoho_crm", "Deals", day=1)
    assert audit_counts(warehouse_conn) == (1, 1)  # only the first window's


def test_expired_access_token_is_refreshed_at_the_accounts_server(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.add_fault(kind="expire_tokens", path="/crm/v8/Contacts")
    stats = extract_day(warehouse_conn, sandbox, "zoho_crm", "Contacts")
    assert stats.inserted == len(live(sandbox, "Contacts"))
    assert control.stats()["by_path_status"]["/crm/v8/Contacts"].get("401") == 1
    assert control.stats()["by_path_status"]["/oauth/v2/token"].get("200") == 2


def test_refused_refresh_token_fails_fast(sandbox, warehouse_conn) -> None:
    with pytest.raises(AuthError, match="invalid_code"):
        extract_day(warehouse_conn, sandbox, "zoho_crm", "Products", refresh_token="1000.revoked")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_crash_mid_window_rolls_back_and_the_rerun_loads(sandbox, warehouse_conn) -> None:
    control = control_of(sandbox)
    control.bulk("Contacts", create=500)  # three pages of 200
    control.add_fault(kind="error", status=500, times=None, after=2, path="/crm/v8/Contacts")
    with pytest.raises(SourceUnavailableError):
        extract_day(warehouse_conn, sandbox, "zoho_crm", "Contacts")
    assert raw_count(warehouse_conn, "zoho_crm", "Contacts") == 0 and audit_counts(warehouse_conn) == (0, 0)
    control.clear_faults()
    stats = extract_day(warehouse_conn, sandbox, "zoho_crm", "Contacts")
    assert stats.inserted == len(live(sandbox, "Contacts")) > 500


def test_exact_amounts_reach_raw(sandbox, warehouse_conn) -> None:
    app = sandbox.vendors["zoho_crm"].app
    deal = live(sandbox, "Deals")[0]
    with app.lock:
        app.control_update("Deals", deal["id"], {"fields": {"Amount": Decimal("99999999999999.99")}})
    extract_day(warehouse_conn, sandbox, "zoho_crm", "Deals")
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload->>'Amount', jsonb_typeof(payload->'Amount') FROM raw.records WHERE source = 'zoho_crm'"
                    " AND stream = 'Deals' AND record_id = %s", (deal["id"],))
        assert cur.fetchone() == ("99999999999999.99", "number")
    warehouse_conn.rollback()


def test_specs_are_registered() -> None:
    for name, streams in (("zoho_crm", list(STREAMS)), ("bigin", ["Accounts", "Contacts", "Pipelines", "Products",
                                                                  "users"])):
        spec = get_source(name)
        assert (spec.conn_id, spec.pool) == (f"passerelle_{name}", f"{name}_api")
        assert [s.name for s in spec.streams] == streams


def test_bigin_extracts_with_the_same_connector(bigin_only_sandbox: Sandbox, warehouse_conn) -> None:
    control = bigin_only_sandbox.vendors["bigin"].control
    control.reset()
    for stream in ("Accounts", "Pipelines", "users"):
        stats = extract_day(warehouse_conn, bigin_only_sandbox, "bigin", stream)
        assert stats.inserted == len(control.records(stream)) == raw_count(warehouse_conn, "bigin", stream), stream
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.delete("Pipelines", control.records("Pipelines")[0]["id"])
    stats = extract_day(warehouse_conn, bigin_only_sandbox, "bigin", "Pipelines", day=1)
    assert (stats.inserted, stats.updated, stats.deleted) == (0, 0, 1)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.records WHERE source = 'bigin' AND stream = 'Pipelines'"
                    " AND payload->'stage_metadata'->>'forecast_type' = 'Closed Won'")
        assert cur.fetchone()[0] > 0
    warehouse_conn.rollback()
