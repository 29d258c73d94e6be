"""folk extract-load (snapshot diff) against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.connectors.registry import get_source
from passerelle.errors import AuthError, SourceUnavailableError
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count, raw_versions

STREAMS = ("companies", "people", "users")


def records(sandbox: Any, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors["folk"].control.records(obj)


def extract_all(conn: Any, sandbox: Any, day: int, **extra: Any) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for stream in STREAMS:
        s = extract_day(conn, sandbox, "folk", stream, day=day, **extra)
        out[stream] = (s.inserted, s.updated, s.deleted, s.unchanged)
    return out


def latest(conn: Any, stream: str, record_id: str) -> tuple[dict[str, Any], bool, Any]:
    with conn.cursor() as cur:
        cur.execute("SELECT payload, is_deleted, cursor_value FROM raw.records WHERE source = 'folk' AND stream = %s"
                    " AND record_id = %s ORDER BY cursor_value DESC, is_deleted DESC LIMIT 1", (stream, record_id))
        row = cur.fetchone()
    conn.rollback()
    return row


def raw_live_ids(conn: Any, stream: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT record_id FROM (SELECT DISTINCT ON (record_id) record_id, is_deleted FROM raw.records"
                    " WHERE source = 'folk' AND stream = %s ORDER BY record_id, cursor_value DESC, is_deleted DESC)"
                    " l WHERE NOT is_deleted", (stream,))
        ids = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return ids


def clients_group(sandbox: Any) -> str:
    return next(g["id"] for g in sandbox.vendors["folk"].app.groups if g["name"] == "Clients")


def test_first_window_loads_every_record_with_group_custom_fields(sandbox, warehouse_conn) -> None:
    counts = extract_all(warehouse_conn, sandbox, 0)
    for stream in STREAMS:
        assert counts[stream][0] == len(records(sandbox, stream)) == raw_count(warehouse_conn, "folk", stream) > 0
    company = records(sandbox, "companies")[0]
    payload, deleted, cursor = latest(warehouse_conn, "companies", company["id"])
    assert not deleted and cursor == DAY1 + timedelta(days=1)  # versioned by the window end
    assert payload["customFieldValues"] == company["customFieldValues"]
    assert payload["observedAt"] == "2026-03-02T00:00:00Z"


def test_three_windows_find_creates_updates_and_deletes_by_absence(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["folk"].control
    extract_all(warehouse_conn, sandbox, 0)
    for day in (1, 2, 3):
        control.set_clock(DAY1 + timedelta(days=day, hours=9))
        companies = records(sandbox, "companies")
        renamed, removed = companies[day]["id"], companies[-day]["id"]
        control.update("companies", renamed, {"name": f"Renommée {day} SAS",
                                              "customFieldValues": {"SIRET": "73282932000074"}})
        created = control.create("companies", {"name": f"Nouvelle {day} SARL",
                                               "customFieldValues": {"SIREN": "732829320"}})["id"]
        control.delete("companies", removed)
        gone_person = records(sandbox, "people")[day]["id"]
        control.delete("people", gone_person)
        counts = extract_all(warehouse_conn, sandbox, day)
        assert counts["companies"][:3] == (1, 1, 1), counts
        assert counts["people"][:3] == (0, 0, 1) and counts["users"][:3] == (0, 0, 0)
        window_end = DAY1 + timedelta(days=day + 1)
        payload, _, cursor = latest(warehouse_conn, "companies", renamed)
        assert payload["customFieldValues"][clients_group(sandbox)]["SIRET"] == "73282932000074"
        assert cursor == window_end
        assert latest(warehouse_conn, "companies", created)[0]["name"] == f"Nouvelle {day} SARL"
        tombstone, deleted, cursor = latest(warehouse_conn, "people", gone_person)
        assert deleted and tombstone["deleted"] is True and cursor == window_end
        versions = [v for v in raw_versions(warehouse_conn, "folk", "companies") if v[0] == removed]
        assert [v[2] for v in versions][-1] is True
    for stream in STREAMS:
        assert raw_live_ids(warehouse_conn, stream) == {r["id"] for r in records(sandbox, stream)}, stream


def test_rerun_and_backfill_change_nothing(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["folk"].control
    extract_all(warehouse_conn, sandbox, 0)
    control.delete("companies", records(sandbox, "companies")[0]["id"])
    control.update("people", records(sandbox, "people")[0]["id"], {"jobTitle": "DAF"})
    first = extract_all(warehouse_conn, sandbox, 1)
    assert first["companies"][2] == 1 and first["people"][1] == 1
    before = sum(raw_count(warehouse_conn, "folk", s) for s in STREAMS)
    again = extract_all(warehouse_conn, sandbox, 1)
    assert all(c[:3] == (0, 0, 0) for c in again.values()), again
    backfill = extract_all(warehouse_conn, sandbox, 0)  # a past interval, re-extracted
    assert all(c[:3] == (0, 0, 0) for c in backfill.values()), backfill
    assert sum(raw_count(warehouse_conn, "folk", s) for s in STREAMS) == before


def test_injected_429_waits_the_retry_after(sandbox, warehouse_conn) -> None:
    """2 throttled answers announcing Retry-After: 1 cost 2 × 1 s, far above the 0.05 s backoff."""
    control = sandbox.vendors["folk"].control
    control.add_fault(kind="rate_limit", times=2, retry_after=1, path="/v1/companies")
    started = time.monotonic()
    stats = extract_day(warehouse_conn, sandbox, "folk", "companies")
    assert stats.inserted == len(records(sandbox, "companies"))
    assert control.stats()["by_status"].get("429") == 2
    assert time.monotonic() - started >= 2.0


def test_rate_limit_window_is_waited_out(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["folk"].control
    control.config(requests_per_window=2, window_seconds=2.0)
    control.bulk("people", create=150)  # 3 pages of 100 (or more)
    started = time.monotonic()
    stats = extract_day(warehouse_conn, sandbox, "folk", "people")
    assert stats.inserted == len(records(sandbox, "people"))
    assert control.stats()["by_status"].get("429", 0) >= 1 and time.monotonic() - started >= 1.0


def test_crash_mid_window_rolls_back_and_keeps_the_snapshot(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["folk"].control
    control.bulk("people", create=250)
    control.add_fault(kind="error", status=500, times=None, after=2, path="/v1/people")
    with pytest.raises(SourceUnavailableError):
        extract_day(warehouse_conn, sandbox, "folk", "people")
    assert raw_count(warehouse_conn, "folk", "people") == 0 and audit_counts(warehouse_conn) == (0, 0)
    control.clear_faults()
    stats = extract_day(warehouse_conn, sandbox, "folk", "people")
    assert stats.inserted == len(records(sandbox, "people")) > 250 and stats.deleted == 0


def test_mass_absence_is_refused_unless_allowed(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["folk"].control
    extract_day(warehouse_conn, sandbox, "folk", "people")
    people = records(sandbox, "people")
    for person in people[: len(people) * 3 // 4]:
        control.delete("people", person["id"])
    with pytest.raises(SourceUnavailableError, match="refusing to delete"):
        extract_day(warehouse_conn, sandbox, "folk", "people", day=1)
    stats = extract_day(warehouse_conn, sandbox, "folk", "people", day=1, max_missing_ratio=0.9)
    assert stats.deleted == len(people) * 3 // 4


def test_exact_numbers_round_trip_raw(sandbox, warehouse_conn) -> None:
    app = sandbox.vendors["folk"].app
    company = records(sandbox, "companies")[0]
    with app.lock:  # a Decimal handed to the store directly: the control API speaks JSON floats
        app.control_update("companies", company["id"], {"fields": {
            "customFieldValues": {"Annual revenue": Decimal("99999999999999.99")}}})
    extract_day(warehouse_conn, sandbox, "folk", "companies")
    group = clients_group(sandbox)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT payload->'customFieldValues'->%s->>'Annual revenue', "
                    "jsonb_typeof(payload->'customFieldValues'->%s->'Annual revenue') FROM raw.records "
                    "WHERE source = 'folk' AND stream = 'companies' AND record_id = %s", (group, group, company["id"]))
        assert cur.fetchone() == ("99999999999999.99", "number")
    warehouse_conn.rollback()


def test_refused_api_key_fails_fast(sandbox, warehouse_conn) -> None:
    sandbox.vendors["folk"].control.add_fault(kind="expire_tokens")
    with pytest.raises(AuthError, match="API key"):
        extract_day(warehouse_conn, sandbox, "folk", "users")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_spec_is_registered() -> None:
    spec = get_source("folk")
    assert (spec.conn_id, spec.pool) == ("passerelle_folk", "folk_api")
    assert [s.name for s in spec.streams] == list(STREAMS)
