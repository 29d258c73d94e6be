"""QuickBooks Online extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.connectors.registry import get_source
from passerelle.connectors.sources.quickbooks import QuickBooksFault
from passerelle.errors import SourceUnavailableError
from passerelle.load.raw_loader import get_watermark
from passerelle_sandbox.quickbooks_scenario import STREAMS as ENTITIES
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count, raw_versions

STREAMS = (*ENTITIES, "company_info")
API = "/v3/company/"


def control(sandbox: Any) -> Any:
    return sandbox.vendors["quickbooks"].control


def records(sandbox: Any, stream: str) -> list[dict[str, Any]]:
    return control(sandbox).records(ENTITIES[stream])


def extract_all(conn: Any, sandbox: Any, day: int, **extra: Any) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = extract_day(conn, sandbox, "quickbooks", stream, day=day, **extra)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def live_ids(conn: Any, stream: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM (SELECT DISTINCT ON (record_id) record_id, is_deleted FROM raw.records"
                    " WHERE source = 'quickbooks' AND stream = %s ORDER BY record_id, cursor_value DESC, is_deleted DESC)"
                    " l WHERE NOT is_deleted", (stream,))
        ids = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return ids


def assert_raw_is_the_source(conn: Any, sandbox: Any) -> None:
    for stream in ENTITIES:
        assert live_ids(conn, stream) == {r["Id"] for r in records(sandbox, stream)}, stream


def open_invoice(sandbox: Any, skip: int = 0) -> dict[str, Any]:
    return [i for i in records(sandbox, "invoices") if Decimal(str(i["Balance"])) == Decimal(str(i["TotalAmt"])) > 0][skip]


def test_first_window_reads_inactive_customers_and_every_object(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in ENTITIES:
        assert counts[stream][0] == len(records(sandbox, stream)) == raw_count(warehouse_conn, "quickbooks", stream)
    assert counts["company_info"][0] == 1
    inactive = [c for c in records(sandbox, "customers") if not c["Active"]]
    assert inactive and {c["Id"] for c in inactive} <= live_ids(warehouse_conn, "customers")
    paths = control(sandbox).stats()["by_path_status"]
    assert all(path.endswith("/oauth2/v1/tokens/bearer") or path.startswith(API) for path in paths)
    census = get_watermark(warehouse_conn, "quickbooks", "time_activities").state["census"]
    assert len(census["snapshot"]) == len(records(sandbox, "time_activities"))


def test_three_windows_of_creates_updates_and_deletes(sandbox, warehouse_conn) -> None:
    qbo = control(sandbox)
    extract_all(warehouse_conn, sandbox, 0)
    for day in (1, 2, 3):
        qbo.set_clock(DAY1 + timedelta(days=day, hours=9))
        created = qbo.create("Customer", {"DisplayName": f"Nouvelle {day} SARL", "CompanyName": f"Nouvelle {day} SARL",
                                          "Notes": "SIREN 732829320"})["id"]
        retired = [c for c in records(sandbox, "customers") if c["Active"]][day]["Id"]
        qbo.update("Customer", retired, {"Active": False})
        unpaid = open_invoice(sandbox, day)["Id"]
        payment = [p for p in records(sandbox, "payments") if p["Line"]][day]
        settled = {t["TxnId"] for line in payment["Line"] for t in line["LinkedTxn"] if t["TxnType"] == "Invoice"}
        qbo.delete("Payment", payment["Id"])  # its invoices are open again: modified too
        gone_activity = records(sandbox, "time_activities")[day]["Id"]
        qbo.delete("TimeActivity", gone_activity)
        qbo.delete("Invoice", unpaid)
        counts = extract_all(warehouse_conn, sandbox, day)
        assert counts["customers"][:3] == (1, 1, 0)
        assert counts["payments"][:3] == (0, 0, 1)
        assert counts["invoices"][1:3] == (len(settled), 1)
        assert counts["time_activities"][:3] == (0, 0, 1)
        assert live_ids(warehouse_conn, "customers") >= {created, retired}
        versions = [v for v in raw_versions(warehouse_conn, "quickbooks", "time_activities") if v[0] == gone_activity]
        assert [v[2] for v in versions] == [False, True] and versions[1][1] == DAY1 + timedelta(days=day + 1)
        deleted = [v for v in raw_versions(warehouse_conn, "quickbooks", "payments") if v[0] == payment["Id"]][-1]
        assert deleted[2] and deleted[1] == DAY1 + timedelta(days=day, hours=9)  # dated by QuickBooks' deletion
    assert_raw_is_the_source(warehouse_conn, sandbox)


def test_rerun_and_backfill_load_nothing_twice(sandbox, warehouse_conn) -> None:
    qbo = control(sandbox)
    extract_all(warehouse_conn, sandbox, 0)
    extract_all(warehouse_conn, sandbox, 1)
    qbo.set_clock(DAY1 + timedelta(days=2, hours=8))
    qbo.delete("Payment", records(sandbox, "payments")[0]["Id"])
    qbo.delete("TimeActivity", records(sandbox, "time_activities")[0]["Id"])
    first = extract_all(warehouse_conn, sandbox, 2)
    assert first["payments"][2] == 1 and first["time_activities"][2] == 1
    again = extract_all(warehouse_conn, sandbox, 2)
    assert all(counts[:3] == (0, 0, 0) for counts in again.values()), again
    qbo.set_clock(DAY1 + timedelta(days=2, hours=12))
    gone = records(sandbox, "time_activities")[0]["Id"]
    qbo.delete("TimeActivity", gone)
    backfill = extract_all(warehouse_conn, sandbox, 0)  # a past interval re-read; the census still sees the deletion
    assert backfill["time_activities"][:3] == (0, 0, 1)
    assert all(counts[:3] == (0, 0, 0) for stream, counts in backfill.items() if stream != "time_activities"), backfill
    deleted = [v for v in raw_versions(warehouse_conn, "quickbooks", "time_activities") if v[0] == gone]
    assert deleted[-1][2] and deleted[-1][1] == DAY1 + timedelta(days=3)  # the latest window end read: it wins
    assert_raw_is_the_source(warehouse_conn, sandbox)


def test_throttling_429_waits_and_names_the_intuit_tid(sandbox, warehouse_conn, caplog) -> None:
    qbo = control(sandbox)
    extract_day(warehouse_conn, sandbox, "quickbooks", "company_info")  # logging is configured by the first run
    qbo.add_fault(kind="rate_limit", times=2, path="/query")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="passerelle.connectors.sources.quickbooks"):
        stats = extract_day(warehouse_conn, sandbox, "quickbooks", "items")
    assert stats.inserted == len(records(sandbox, "items"))
    assert time.monotonic() - started >= 1.0  # 60 s at most retry_max_wait (0.5 s here), twice
    assert sum(c.get("429", 0) for c in qbo.stats()["by_path_status"].values()) == 2
    logged = [r.getMessage() for r in caplog.records if r.name == "passerelle.connectors.sources.quickbooks"]
    assert len(logged) == 2 and all("HTTP 429 SERVICE: 003001 message=ThrottleExceeded" in m and "(intuit_tid 1-" in m
                                    for m in logged)


def test_throttling_past_the_retries_fails_and_commits_nothing(sandbox, warehouse_conn) -> None:
    control(sandbox).add_fault(kind="rate_limit", times=None, path="/query")
    with pytest.raises(SourceUnavailableError, match=r"still throttled .*ThrottleExceeded.*intuit_tid 1-"):
        extract_day(warehouse_conn, sandbox, "quickbooks", "items", retry_attempts=2)
    assert audit_counts(warehouse_conn) == (0, 0)


def test_token_expiry_mid_run_refreshes_and_keeps_the_new_refresh_token(sandbox, warehouse_conn) -> None:
    qbo = control(sandbox)
    qbo.add_fault(kind="expire_tokens", after=3, path="/query")  # mid-listing, 20 objects a page
    stats = extract_day(warehouse_conn, sandbox, "quickbooks", "invoices", page_size=20)
    assert stats.inserted == len(records(sandbox, "invoices")) > 60
    by_path = qbo.stats()["by_path_status"]
    assert sum(c.get("401", 0) for path, c in by_path.items() if path.endswith("/query")) == 1
    assert by_path["/oauth2/v1/tokens/bearer"].get("200") == 2


def test_crash_mid_window_commits_nothing_and_the_rerun_completes(sandbox, warehouse_conn) -> None:
    qbo = control(sandbox)
    qbo.add_fault(kind="error", status=503, times=None, after=3, path="/query")
    with pytest.raises(SourceUnavailableError, match="HTTP 503"):
        extract_day(warehouse_conn, sandbox, "quickbooks", "time_activities", page_size=20)
    assert raw_count(warehouse_conn, "quickbooks", "time_activities") == 0 and audit_counts(warehouse_conn) == (0, 0)
    assert get_watermark(warehouse_conn, "quickbooks", "time_activities") is None  # no census kept either
    qbo.clear_faults()
    stats = extract_day(warehouse_conn, sandbox, "quickbooks", "time_activities", page_size=20)
    assert stats.inserted == len(records(sandbox, "time_activities"))


def test_a_fault_answered_with_http_200_fails_the_window_naming_it(sandbox, warehouse_conn, caplog) -> None:
    fault = {"Error": [{"Message": "Error parsing query", "Detail": "QueryParserError: Encountered \"ORDERBY\"",
                        "code": "4000"}], "type": "ValidationFault"}
    control(sandbox).add_fault(kind="rewrite", path="/query", patch=[{"path": "Fault", "value": fault}])
    with caplog.at_level(logging.ERROR, logger="passerelle.connectors.sources.quickbooks"), \
            pytest.raises(QuickBooksFault, match=r"ValidationFault: 4000 Error parsing query QueryParserError.*"
                                                 r"\(intuit_tid 1-") as failed:
        extract_day(warehouse_conn, sandbox, "quickbooks", "payments")
    assert "passerelle_quickbooks" in str(failed.value) and "intuit_tid 1-" in caplog.text
    assert audit_counts(warehouse_conn) == (0, 0)


def test_cdc_asks_entity_by_entity_so_a_full_answer_elsewhere_hides_no_deletion(sandbox, warehouse_conn,
                                                                                caplog) -> None:
    qbo = control(sandbox)
    for stream in ("invoices", "payments"):
        extract_day(warehouse_conn, sandbox, "quickbooks", stream)
    qbo.set_clock(DAY1 + timedelta(days=1, hours=9))
    qbo.bulk("Invoice", create=1000)  # 1,000 changed invoices: a shared CDC answer would hold nothing else
    payment = records(sandbox, "payments")[0]["Id"]
    qbo.delete("Payment", payment)
    with caplog.at_level(logging.WARNING, logger="passerelle.connectors.sources.quickbooks"):
        assert extract_day(warehouse_conn, sandbox, "quickbooks", "payments", day=1).deleted == 1
        assert "its cap" not in caplog.text
        invoices = extract_day(warehouse_conn, sandbox, "quickbooks", "invoices", day=1)
    assert invoices.inserted == 1000
    assert "CDC answered 1000 Invoice objects (its cap): deletions listed after them may be missing" in caplog.text
    cdc = [path for path in qbo.stats()["by_path_status"] if path.endswith("/cdc")]
    assert cdc and payment not in live_ids(warehouse_conn, "payments")


def test_cdc_looks_back_30_days_and_says_what_it_could_not_see(sandbox, warehouse_conn, caplog) -> None:
    qbo = control(sandbox)
    extract_day(warehouse_conn, sandbox, "quickbooks", "payments", day=0)
    qbo.set_clock(DAY1 + timedelta(days=40))
    gone = records(sandbox, "payments")[0]["Id"]
    qbo.delete("Payment", gone)  # seen: within the 30 days
    with caplog.at_level(logging.WARNING, logger="passerelle.connectors.sources.quickbooks"):
        stats = extract_day(warehouse_conn, sandbox, "quickbooks", "payments", day=40)  # 40 days since the watermark
    assert stats.deleted == 1 and gone not in live_ids(warehouse_conn, "payments")
    assert "CDC looks back 30 days only: deletions of Payment objects before 2026-" in caplog.text


def test_amounts_reach_raw_digit_for_digit(sandbox, warehouse_conn) -> None:
    qbo = control(sandbox)
    qbo.set_clock(DAY1 + timedelta(hours=10))
    item = records(sandbox, "items")[0]["Id"]
    customer = records(sandbox, "customers")[0]["Id"]
    invoice = qbo.create("Invoice", {"CustomerRef": customer, "Line": [
        {"ItemRef": item, "Qty": 3, "UnitPrice": "333.33"}, {"ItemRef": item, "Qty": 1, "UnitPrice": "0.01"}]})
    paid = qbo.create("Payment", {"CustomerRef": customer, "TotalAmt": "1000.10", "Line": [
        {"Amount": "999.99", "LinkedTxn": [{"TxnId": invoice["id"], "TxnType": "Invoice"}]}]})
    for stream in ("invoices", "payments"):
        extract_day(warehouse_conn, sandbox, "quickbooks", stream)
    expected = qbo.record("Invoice", invoice["id"])
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload->>'TotalAmt', payload->>'Balance', jsonb_typeof(payload->'TotalAmt') FROM raw.records "
                    "WHERE source = 'quickbooks' AND stream = 'invoices' AND record_id = %s", (invoice["id"],))
        total, balance, kind = cur.fetchone()
        assert (Decimal(total), Decimal(balance), kind) == (Decimal(str(expected["TotalAmt"])),
                                                            Decimal(str(expected["Balance"])), "number")
        assert total.endswith(".00") and Decimal(total) == Decimal("1000.00") + Decimal("200.00")  # 999.99+0.01, VAT 20 %
        cur.execute("SELECT payload->>'TotalAmt', payload->>'UnappliedAmt', payload->'Line'->0->>'Amount' FROM raw.records"
                    " WHERE source = 'quickbooks' AND stream = 'payments' AND record_id = %s", (paid["id"],))
        assert cur.fetchone() == ("1000.10", "0.11", "999.99")
    warehouse_conn.rollback()
    assert Decimal(str(expected["Balance"])) == Decimal(str(expected["TotalAmt"])) - Decimal("999.99")


def test_spec_is_registered() -> None:
    spec = get_source("quickbooks")
    assert (spec.conn_id, spec.pool) == ("passerelle_quickbooks", "quickbooks_api")
    assert [s.name for s in spec.streams] == list(STREAMS)
    assert all(s.primary_key == "Id" and s.cursor_field == "MetaData.LastUpdatedTime" for s in spec.streams)
