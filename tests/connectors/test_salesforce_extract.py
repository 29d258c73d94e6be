"""Salesforce extract-load against the sandbox over HTTPS and a real warehouse."""

from __future__ import annotations

from datetime import timedelta

import pytest

from passerelle.errors import AuthError, BadRecordError, SourceUnavailableError
from tests.connectors.helpers import DAY1, audit_counts, extract_day, raw_count, raw_versions


def live(sandbox, obj: str) -> list[dict]:
    return [r for r in sandbox.vendors["salesforce"].control.records(obj) if not r.get("IsDeleted")]


def test_first_window_loads_full_history(sandbox, warehouse_conn) -> None:
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account")
    accounts = live(sandbox, "Account")
    assert stats.window_start is None
    assert stats.inserted == len(accounts) == raw_count(warehouse_conn, "salesforce", "Account")
    assert {r[0] for r in raw_versions(warehouse_conn, "salesforce", "Account")} == {a["Id"] for a in accounts}


def test_updates_and_deletes_in_the_next_window(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    extract_day(warehouse_conn, sandbox, "salesforce", "Contact", day=0)
    contacts = sorted(c["Id"] for c in live(sandbox, "Contact"))
    control.set_clock(DAY1 + timedelta(days=1, hours=9))
    control.update("Contact", contacts[0], {"Title": "Directrice financière"})
    control.delete("Contact", contacts[1])
    created = control.create("Contact", {"LastName": "Durand", "FirstName": "Léa", "Email": "lea.durand@exemple.fr"})
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Contact", day=1)
    assert (stats.inserted, stats.updated, stats.deleted) == (1, 1, 1)
    versions = raw_versions(warehouse_conn, "salesforce", "Contact")
    assert [v[2] for v in versions if v[0] == contacts[1]] == [False, True]
    assert len([v for v in versions if v[0] == contacts[0]]) == 2
    assert any(v[0] == created["id"] for v in versions)


def test_rerun_of_a_window_adds_nothing(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    extract_day(warehouse_conn, sandbox, "salesforce", "Opportunity", day=0)
    control.set_clock(DAY1 + timedelta(days=1, hours=11))
    for opportunity in sorted(o["Id"] for o in live(sandbox, "Opportunity"))[:2]:
        control.update("Opportunity", opportunity, {"StageName": "Closed Won"})
    first = extract_day(warehouse_conn, sandbox, "salesforce", "Opportunity", day=1)
    before = raw_count(warehouse_conn, "salesforce", "Opportunity")
    again = extract_day(warehouse_conn, sandbox, "salesforce", "Opportunity", day=1)
    assert first.updated == 2 and again.records == first.records == again.unchanged
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert raw_count(warehouse_conn, "salesforce", "Opportunity") == before


def test_equal_timestamps_across_page_boundaries(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    extract_day(warehouse_conn, sandbox, "salesforce", "Account", day=0, batch_size=200)
    control.set_clock(DAY1 + timedelta(days=1, hours=3))
    control.bulk("Account", create=450, touch=30)  # 480 rows, one SystemModstamp, pages of 200
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account", day=1, batch_size=200)
    assert stats.pages >= 3
    assert (stats.inserted, stats.updated) == (450, 30)
    ids = [v[0] for v in raw_versions(warehouse_conn, "salesforce", "Account")]
    assert len({i for i in ids}) == len(live(sandbox, "Account"))


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "rate_limit", "times": 4},
        {"kind": "error", "status": 503, "times": 3},
        {"kind": "error", "status": 500, "times": 2, "after": 2},  # after the COUNT() and page 1
        {"kind": "slow", "delay": 1.5, "times": 2},
    ],
    ids=["REQUEST_LIMIT_EXCEEDED", "503", "500-mid-stream", "slow"],
)
def test_transient_faults_are_survived(sandbox, warehouse_conn, fault) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=300)  # two pages of 200
    control.add_fault(**{**fault, "path": "/query"})
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account", batch_size=200)
    assert stats.inserted == len(live(sandbox, "Account"))
    statuses = control.stats()
    if fault["kind"] != "slow":
        assert sum(statuses["by_status"].get(str(s), 0) for s in (403, 500, 503)) >= fault["times"]


def test_expired_session_is_refreshed(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.add_fault(**{"kind": "expire_tokens"})
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "User")
    assert stats.inserted == len(live(sandbox, "User"))
    assert control.stats()["by_status"].get("401", 0) >= 1


def test_refused_credentials_fail_fast(sandbox, warehouse_conn) -> None:
    with pytest.raises(AuthError):
        extract_day(warehouse_conn, sandbox, "salesforce", "User", refresh_token="not-a-valid-token")
    assert audit_counts(warehouse_conn) == (0, 0)


def test_failure_mid_stream_leaves_no_partial_window(sandbox, warehouse_conn) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=500)  # several pages of 200
    control.add_fault(**{"kind": "error", "status": 500, "times": 50, "after": 3, "path": "/query"})  # COUNT(), 2 pages
    with pytest.raises(SourceUnavailableError):
        extract_day(warehouse_conn, sandbox, "salesforce", "Account", batch_size=200, retry_attempts=3)
    assert raw_count(warehouse_conn, "salesforce", "Account") == 0
    assert audit_counts(warehouse_conn) == (0, 0)
    control.clear_faults()
    stats = extract_day(warehouse_conn, sandbox, "salesforce", "Account", batch_size=200)
    assert stats.inserted == len(live(sandbox, "Account")) == raw_count(warehouse_conn, "salesforce", "Account")


@pytest.mark.parametrize("kind, problem", [("malformed_json", "malformed JSON"), ("missing_id", "missing primary key field 'Id'")])
def test_bad_payloads_fail_clearly_and_load_nothing(sandbox, warehouse_conn, kind, problem) -> None:
    control = sandbox.vendors["salesforce"].control
    control.bulk("Account", create=500)  # the fault hits page 2 of 3: nothing of page 1 may stay
    control.add_fault(**{"kind": kind, "after": 2, "path": "/query"})  # after the COUNT() and page 1
    with pytest.raises(BadRecordError) as err:
        extract_day(warehouse_conn, sandbox, "salesforce", "Account", batch_size=200)
    assert "salesforce" in str(err.value) and "Account" in str(err.value) and problem in str(err.value)
    assert raw_count(warehouse_conn, "salesforce", "Account") == 0
    assert audit_counts(warehouse_conn) == (0, 0)
