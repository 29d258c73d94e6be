"""Dynamics 365 (Dataverse Web API) extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.connectors.registry import get_source
from passerelle.errors import AuthError, SourceUnavailableError
from passerelle.connectors.run import run_stream
from passerelle.load.raw_loader import LoadStats, get_watermark
from passerelle.transform.models import run_staging
from tests.connectors.helpers import (
    DAY1, audit_counts, extract_day, raw_count, raw_versions, source_config, latest_version, live_ids as
    raw_live_ids,
)

STREAMS = ("accounts", "contacts", "opportunities", "opportunityproducts", "products", "systemusers",
           "transactioncurrencies")
KEYS = {"accounts": "accountid", "contacts": "contactid", "opportunities": "opportunityid",
        "opportunityproducts": "opportunityproductid", "products": "productid", "systemusers": "systemuserid",
        "transactioncurrencies": "transactioncurrencyid"}
API = "/api/data/v9.2"


def records(sandbox: Any, table: str) -> list[dict[str, Any]]:
    return sandbox.vendors["dynamics"].control.records(table)


def extract_with_password(conn: Any, sandbox: Any, stream: str, password: str) -> LoadStats:
    config = replace(source_config(sandbox, "dynamics"), password=password)
    return run_stream(conn, get_source("dynamics"), stream, config, interval_start=DAY1,
                      interval_end=DAY1 + timedelta(days=1), run_id="test__dynamics_password")


def extract_all(conn: Any, sandbox: Any, day: int, **extra: Any) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = extract_day(conn, sandbox, "dynamics", stream, day=day, **extra)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def latest(conn: Any, stream: str, record_id: str) -> tuple[Any, ...] | None:
    row = latest_version(conn, "dynamics", stream, record_id)
    return None if row is None else row[:2]


def live_ids(conn: Any, stream: str) -> set[str]:
    return raw_live_ids(conn, "dynamics", stream)


def test_first_window_loads_every_table_with_labels_and_exact_money(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in STREAMS:
        assert counts[stream][0] == len(records(sandbox, stream)) == raw_count(warehouse_conn, "dynamics", stream)
    won = next(o for o in records(sandbox, "opportunities") if o["statecode"] == 1)
    payload, _ = latest(warehouse_conn, "opportunities", won["opportunityid"])
    assert payload["statecode"] == 1 and payload["statecode@OData.Community.Display.V1.FormattedValue"] == "Gagné"
    assert payload["_transactioncurrencyid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "transactioncurrency"
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload->>'estimatedvalue', payload->>'exchangerate' FROM raw.records WHERE "
                    "source = 'dynamics' AND stream = 'opportunities' AND record_id = %s", (won["opportunityid"],))
        value, rate = cur.fetchone()
    warehouse_conn.rollback()
    assert value == f"{Decimal(str(won['estimatedvalue'])):.4f}" and len(rate.split(".")[1]) == 10
    state = get_watermark(warehouse_conn, "dynamics", "accounts").state
    assert "$deltatoken=" in state["change_tracking"]["delta_link"]  # the baseline's
    assert "change_tracking" not in get_watermark(warehouse_conn, "dynamics", "transactioncurrencies").state


def test_three_windows_of_creates_updates_and_deletes(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    extract_all(warehouse_conn, sandbox, 0)
    for day in (1, 2, 3):
        control.set_clock(DAY1 + timedelta(days=day, hours=9))
        renamed = records(sandbox, "accounts")[day]["accountid"]
        control.update("accounts", renamed, {"name": f"Renommée {day} SAS", "pa_siret": "73282932000074"})
        created = control.create("accounts", {"name": f"Nouvelle {day} SARL", "pa_siren": "732829320"})["id"]
        gone_contact = records(sandbox, "contacts")[day]["contactid"]
        control.delete("contacts", gone_contact)
        opportunity = records(sandbox, "opportunities")[day]["opportunityid"]
        lines = [p for p in records(sandbox, "opportunityproducts") if p["_opportunityid_value"] == opportunity]
        control.delete("opportunities", opportunity)  # its products go with it
        counts = extract_all(warehouse_conn, sandbox, day)
        assert counts["accounts"][:3] == (1, 1, 0)
        assert counts["contacts"][2] == 1 and counts["opportunities"][2] == 1
        assert counts["opportunityproducts"][2] == len(lines)
        assert latest(warehouse_conn, "accounts", renamed)[0]["pa_siret"] == "73282932000074"
        assert latest(warehouse_conn, "accounts", created)[0]["name"] == f"Nouvelle {day} SARL"
        versions = [v for v in raw_versions(warehouse_conn, "dynamics", "contacts") if v[0] == gone_contact]
        assert [v[2] for v in versions] == [False, True]
        assert versions[1][1] == DAY1 + timedelta(days=day + 1)  # the latest window end read: after every version
    for stream in STREAMS:
        assert live_ids(warehouse_conn, stream) == {r[KEYS[stream]] for r in records(sandbox, stream)}, stream


def test_rerun_and_backfill_load_nothing_twice(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    extract_all(warehouse_conn, sandbox, 0)
    extract_all(warehouse_conn, sandbox, 1)
    control.set_clock(DAY1 + timedelta(days=2, hours=8))
    gone = records(sandbox, "accounts")[0]["accountid"]
    control.delete("accounts", gone)
    control.update("opportunities", records(sandbox, "opportunities")[0]["opportunityid"], {"statecode": 1})
    first = extract_all(warehouse_conn, sandbox, 2)
    assert first["accounts"][2] == 1 and first["opportunities"][1] == 1
    again = extract_all(warehouse_conn, sandbox, 2)
    assert all(counts[:3] == (0, 0, 0) for counts in again.values()), again
    control.set_clock(DAY1 + timedelta(days=2, hours=12))
    control.delete("contacts", records(sandbox, "contacts")[0]["contactid"])
    backfill = extract_all(warehouse_conn, sandbox, 0)  # a past interval re-read; the new deletion still wins
    assert backfill["contacts"][:3] == (0, 0, 1)
    assert all(counts[:3] == (0, 0, 0) for stream, counts in backfill.items() if stream != "contacts"), backfill
    deleted = [v for v in raw_versions(warehouse_conn, "dynamics", "contacts") if v[2]]
    assert deleted[0][1] == DAY1 + timedelta(days=3)  # dated after the versions loaded by later windows
    for stream in STREAMS:
        assert live_ids(warehouse_conn, stream) == {r[KEYS[stream]] for r in records(sandbox, stream)}, stream


def test_service_protection_429_waits_retry_after(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    control.add_fault(kind="rate_limit", times=2, retry_after=1, path=f"{API}/products")
    started = time.monotonic()
    stats = extract_day(warehouse_conn, sandbox, "dynamics", "products")
    assert stats.inserted == len(records(sandbox, "products"))
    assert control.stats()["by_status"].get("429") == 2
    assert time.monotonic() - started >= 2.0  # 2 × Retry-After: 1 s, far above the 0.05 s backoff


def test_throttling_past_the_retries_names_the_limit(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    control.add_fault(kind="rate_limit", times=None, retry_after=0, error_code="0x80072326", path=f"{API}/products")
    with pytest.raises(SourceUnavailableError, match=r"still throttled .*0x80072326: Number of concurrent requests"):
        extract_day(warehouse_conn, sandbox, "dynamics", "products")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_token_expiry_mid_run_gets_a_new_token(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    control.add_fault(kind="expire_tokens", after=4, path=f"{API}/contacts")  # mid-listing, 20 rows a page
    stats = extract_day(warehouse_conn, sandbox, "dynamics", "contacts", page_size=20)
    assert stats.inserted == len(records(sandbox, "contacts")) > 40
    by_path = control.stats()["by_path_status"]
    assert by_path[f"{API}/contacts"].get("401") == 1
    tokens = [counts for path, counts in by_path.items() if path.endswith("/oauth2/v2.0/token")]
    assert [c.get("200") for c in tokens] == [2]  # the cached token was reused until refused, then replaced


def test_refused_secret_and_unknown_tenant_fail_fast_without_secrets(sandbox, warehouse_conn) -> None:
    with pytest.raises(AuthError, match=r"invalid_client: AADSTS7000215.*check the client id/secret") as refused:
        extract_with_password(warehouse_conn, sandbox, "products", "not-the-secret-value")
    assert "not-the-secret-value" not in str(refused.value)
    with pytest.raises(AuthError, match="check the tenant_id and authority_host extras"):
        extract_day(warehouse_conn, sandbox, "dynamics", "products", tenant_id="00000000-0000-4000-8000-000000000000")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_crash_mid_window_commits_nothing_and_the_rerun_completes(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["dynamics"].control
    control.add_fault(kind="error", status=503, times=None, after=4, path=f"{API}/contacts")
    with pytest.raises(SourceUnavailableError, match="HTTP 503.*0x80040216: An unexpected error occurred"):
        extract_day(warehouse_conn, sandbox, "dynamics", "contacts", page_size=20)
    assert raw_count(warehouse_conn, "dynamics", "contacts") == 0 and audit_counts(warehouse_conn) == (0, 0)
    assert get_watermark(warehouse_conn, "dynamics", "contacts") is None  # no delta link kept either
    control.clear_faults()
    stats = extract_day(warehouse_conn, sandbox, "dynamics", "contacts", page_size=20)
    assert stats.inserted == len(records(sandbox, "contacts"))


def test_expired_delta_token_takes_a_new_baseline(sandbox, warehouse_conn, caplog) -> None:
    control = sandbox.vendors["dynamics"].control
    extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=0)
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.command("delta_tokens/expire")  # every token issued so far, as ExpireChangeTrackingInDays would
    unseen = records(sandbox, "contacts")[0]["contactid"]
    control.delete("contacts", unseen)
    with caplog.at_level(logging.INFO, logger="passerelle.connectors.sources.dynamics"):
        stats = extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=1)
    assert stats.deleted == 1  # the deletion the expired token hid, found by comparing the baseline with raw
    assert "deletions since the last run could not be seen; taking a new baseline" in caplog.text
    assert "0x80044352" in caplog.text and "1 of them gone" in caplog.text
    payload, deleted = latest(warehouse_conn, "contacts", unseen)
    assert deleted and payload["change"]["detectedBy"] == "baseline census"
    control.set_clock(DAY1 + timedelta(days=2, hours=9))
    seen = records(sandbox, "contacts")[0]["contactid"]
    control.delete("contacts", seen)
    assert extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=2).deleted == 1  # the new baseline works
    assert latest(warehouse_conn, "contacts", seen)[1]
    assert extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=2).deleted == 0  # a rerun adds nothing


def test_a_baseline_missing_most_records_is_refused_not_read_as_deletions(sandbox, warehouse_conn) -> None:
    """After a lost delta token, a baseline that lacks most known records (a privilege lost on the table looks
    the same as a mass deletion) fails the window instead of deleting them."""
    control = sandbox.vendors["dynamics"].control
    extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=0)
    known = live_ids(warehouse_conn, "contacts")
    assert len(known) >= 20
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.command("delta_tokens/expire")
    for contact in records(sandbox, "contacts")[: len(known) * 3 // 4]:
        control.delete("contacts", contact["contactid"])
    with pytest.raises(SourceUnavailableError, match="refusing to delete them"):
        extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=1)
    assert live_ids(warehouse_conn, "contacts") == known


def test_a_delta_token_the_org_does_not_know_takes_a_new_baseline(sandbox, warehouse_conn, caplog) -> None:
    """A warehouse that followed another org (or this one before a restore) holds a token it never issued."""
    extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=0)
    with warehouse_conn.cursor() as cur:
        cur.execute("""UPDATE audit.watermarks
                          SET state = jsonb_set(state, '{change_tracking,delta_link}', to_jsonb(%s::text))
                        WHERE source = 'dynamics' AND stream = 'contacts'""",
                    (f"{API}/contacts?$select=contactid&$deltatoken=99999999%2103%2F01%2F2026%2000%3A30%3A00",))
    warehouse_conn.commit()
    with caplog.at_level(logging.WARNING, logger="passerelle.connectors.sources.dynamics"):
        stats = extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=1)
    assert stats.deleted == 0 and "0x80040203" in caplog.text
    assert "99999999" not in get_watermark(warehouse_conn, "dynamics", "contacts").state["change_tracking"]["delta_link"]
    gone = records(sandbox, "contacts")[0]["contactid"]
    sandbox.vendors["dynamics"].control.set_clock(DAY1 + timedelta(days=2, hours=9))
    sandbox.vendors["dynamics"].control.delete("contacts", gone)
    assert extract_day(warehouse_conn, sandbox, "dynamics", "contacts", day=2).deleted == 1  # the new baseline works


AMOUNT, RATE = Decimal("99999999999999.9900"), Decimal("1.0834567891")


def test_exact_decimals_reach_raw_and_staging(sandbox, warehouse_conn) -> None:
    app = sandbox.vendors["dynamics"].app
    sandbox.vendors["dynamics"].control.set_clock(DAY1 + timedelta(hours=12))
    won = next(o for o in records(sandbox, "opportunities") if o["statecode"] == 1)
    line = next(p for p in records(sandbox, "opportunityproducts") if p["_opportunityid_value"] == won["opportunityid"])
    with app.lock:  # Decimals handed to the store directly: the control API speaks JSON floats
        app.control_update("opportunities", won["opportunityid"],
                           {"fields": {"actualvalue": AMOUNT, "exchangerate": RATE}})
        app.control_update("opportunityproducts", line["opportunityproductid"],
                           {"fields": {"quantity": Decimal("1.23456"), "priceperunit": Decimal("0.0001"),
                                       "manualdiscountamount": Decimal("0")}})
    for stream in ("accounts", "opportunities", "opportunityproducts", "products", "transactioncurrencies"):
        extract_day(warehouse_conn, sandbox, "dynamics", stream)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload->>'actualvalue', payload->>'exchangerate', jsonb_typeof(payload->'actualvalue') "
                    "FROM raw.records WHERE source = 'dynamics' AND record_id = %s", (won["opportunityid"],))
        assert cur.fetchone() == ("99999999999999.9900", "1.0834567891", "number")
        cur.execute("SELECT payload->>'quantity', payload->>'priceperunit' FROM raw.records WHERE source = 'dynamics'"
                    " AND record_id = %s", (line["opportunityproductid"],))
        assert cur.fetchone() == ("1.23456", "0.0001")
    warehouse_conn.rollback()
    run_staging(warehouse_conn, ["customers", "deals", "deal_lines"])
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT amount FROM staging.deals WHERE deal_key = %s", (f"dynamics:{won['opportunityid']}",))
        assert cur.fetchone()[0] == Decimal("99999999999999.99")
        cur.execute("SELECT quantity, unit_price FROM staging.deal_lines WHERE deal_line_key = %s",
                    (f"dynamics:{line['opportunityproductid']}",))
        assert cur.fetchone() == (Decimal("1.2346"), Decimal("0.0001"))
    warehouse_conn.rollback()


def test_spec_is_registered() -> None:
    spec = get_source("dynamics")
    assert (spec.conn_id, spec.pool) == ("passerelle_dynamics", "dynamics_api")
    assert [s.name for s in spec.streams] == list(STREAMS)
    assert all(s.primary_key == KEYS[s.name] and s.cursor_field == "modifiedon" for s in spec.streams)
