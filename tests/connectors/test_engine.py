"""Window planning, record validation and query building: the pure parts of the engine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from passerelle.connectors.engine import plan_window, to_record
from passerelle.connectors.sources.hubspot import HUBSPOT, SearchReader
from passerelle.connectors.sources.salesforce import SALESFORCE, SoqlWindowReader
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.errors import BadRecordError
from passerelle.records import Window

D1 = datetime(2026, 3, 1, tzinfo=timezone.utc)
D2 = datetime(2026, 3, 2, tzinfo=timezone.utc)
LOOKBACK = timedelta(minutes=10)


def test_first_run_loads_full_history() -> None:
    assert plan_window(D1, D2, None, LOOKBACK) == Window(None, D2)


def test_next_run_overlaps_by_the_lookback() -> None:
    assert plan_window(D1, D2, D1, LOOKBACK) == Window(D1 - LOOKBACK, D2)


def test_run_after_a_gap_starts_at_the_watermark() -> None:
    earlier = D1 - timedelta(days=3)
    assert plan_window(D1, D2, earlier, LOOKBACK).start == earlier - LOOKBACK


def test_backfill_of_a_past_interval_reextracts_exactly_it() -> None:
    later = D2 + timedelta(days=30)
    assert plan_window(D1, D2, later, LOOKBACK) == Window(D1 - LOOKBACK, D2)


def test_naive_window_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        Window(datetime(2026, 3, 1), D2)


@pytest.mark.parametrize(
    "raw",
    ["2026-03-01T10:00:00.000+0000", "2026-03-01T10:00:00.000Z", "2026-03-01T11:00:00+01:00", "1772359200000", 1772359200000],
)
def test_vendor_timestamp_formats(raw: object) -> None:
    assert parse_timestamp(raw) == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def test_record_without_id_names_source_stream_and_position() -> None:
    stream = SALESFORCE.stream("Account")
    with pytest.raises(BadRecordError) as err:
        to_record("salesforce", stream, {"Name": "x", "SystemModstamp": "2026-03-01T10:00:00.000+0000"}, "page-2", 7)
    assert "salesforce.Account" in str(err.value) and "#7 at page-2" in str(err.value) and "'Id'" in str(err.value)


def test_record_with_bad_cursor_names_the_record() -> None:
    stream = HUBSPOT.stream("companies")
    with pytest.raises(BadRecordError, match=r"hubspot.companies: record 42: cursor field 'properties.hs_lastmodifieddate'"):
        to_record("hubspot", stream, {"id": "42", "properties": {"hs_lastmodifieddate": "yesterday"}}, "p", 0)


def test_archived_hubspot_record_is_a_tombstone_at_its_archive_time() -> None:
    stream = HUBSPOT.stream("deals")
    record = to_record(
        "hubspot", stream,
        {"id": "9", "archived": True, "archivedAt": "2026-03-02T08:00:00.000Z",
         "properties": {"hs_lastmodifieddate": "2026-01-01T00:00:00.000Z"}},
        "p", 0,
    )
    assert record.deleted and record.cursor == datetime(2026, 3, 2, 8, tzinfo=timezone.utc)


def test_soql_window_is_half_open_and_ordered_by_a_unique_key() -> None:
    soql = SoqlWindowReader("Account").soql(["Id", "Name", "SystemModstamp"], Window(D1, D2))
    assert soql == (
        "SELECT Id, Name, SystemModstamp FROM Account WHERE SystemModstamp >= 2026-03-01T00:00:00.000Z "
        "AND SystemModstamp < 2026-03-02T00:00:00.000Z ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert "SystemModstamp >=" not in SoqlWindowReader("Account").soql(["Id"], Window(None, D2))


def test_hubspot_search_restart_uses_id_keyset_not_after() -> None:
    reader = SearchReader("companies", "hs_lastmodifieddate")
    first = reader._query(["name"], Window(D1, D2), None, None)
    restart = reader._query(["name"], Window(D1, D2), 1234, None)
    paging = reader._query(["name"], Window(D1, D2), 1234, "200")
    filters = {(f["propertyName"], f["operator"]): f["value"] for f in restart["filterGroups"][0]["filters"]}
    assert filters[("hs_lastmodifieddate", "GTE")] == "1772323200000"
    assert filters[("hs_lastmodifieddate", "LT")] == "1772409600000"
    assert filters[("hs_object_id", "GT")] == "1234"
    assert "after" not in first and paging["after"] == "200"
    assert len(first["filterGroups"][0]["filters"]) == 2 and paging["filterGroups"] == restart["filterGroups"]
    assert first["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]


def test_airflow_pendulum_interval_bounds_plan_an_aware_window() -> None:
    import pendulum

    window = plan_window(
        pendulum.datetime(2026, 3, 2, tz="UTC"), pendulum.datetime(2026, 3, 3, tz="UTC"), D2, LOOKBACK
    )
    assert window.start == D2 - LOOKBACK and window.start.tzinfo is not None
    assert type(window.start) is datetime
