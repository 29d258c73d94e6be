"""Table-level rules, warnings, the recorded runs, Data Docs and the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.quality import gx_context
from passerelle.quality.errors import CriticalValidationError
from passerelle.quality.summary import format_summary, validation_summary
from passerelle.quality.validate import validate_staging, validate_table
from tests.quality.helpers import (
    AS_OF,
    customer,
    keys,
    open_quarantine,
    project,
    result_of,
    seed_raw,
    stage,
    time_entry,
)


def test_row_count_against_raw_fails_the_run_after_recording_it(warehouse_conn) -> None:
    stage(warehouse_conn, "customers", customer("salesforce:001A"), customer("salesforce:001B"), raw=False)
    with warehouse_conn.cursor() as cur:  # live in raw: 001A, 001B, 001C; 001D was deleted at the source
        seed_raw(cur, "salesforce", "Account", "001A", "001B", "001C", "001D")
        seed_raw(cur, "salesforce", "Account", "001D", deleted=True)
    warehouse_conn.commit()

    with pytest.raises(CriticalValidationError) as raised:
        validate_table(warehouse_conn, "customers", "run-1", as_of=AS_OF)

    assert [(f.table, f.rule) for f in raised.value.failures] == [("staging.customers", "customers.row_count_vs_raw")]
    assert "one row per live raw record (3)" in str(raised.value) and "observed 2" in str(raised.value)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT table_name, row_count, success, critical_failures, warnings FROM quality.validation_runs")
        assert cur.fetchall() == [("staging.customers", 2, False, 1, 0)]
    warehouse_conn.rollback()
    count = result_of(warehouse_conn, "run-1", "customers.row_count_vs_raw")
    assert (count["success"], count["severity"], count["expectation"]) == (
        False, "critical", "expect_table_row_count_to_equal")
    assert count["kwargs"]["value"] == 3 and count["sample"] == [{"observed_value": 2}]
    assert keys(warehouse_conn, "customers") == ["salesforce:001A", "salesforce:001B"]


def test_derived_table_must_not_exceed_its_raw_records(warehouse_conn) -> None:
    stage(warehouse_conn, "projects", project("asana:p1"))
    stage(warehouse_conn, "time_entries", time_entry("asana:t1", "asana:p1"), time_entry("asana:t2", "asana:p1"),
          raw=False)
    with warehouse_conn.cursor() as cur:
        seed_raw(cur, "asana", "time_entries", "t1")
    warehouse_conn.commit()

    with pytest.raises(CriticalValidationError,
                       match=r"time_entries.row_count_vs_raw \(staging.time_entries must hold 1 \.\. 1 rows"):
        validate_staging(warehouse_conn, "run-1", tables=["time_entries"], as_of=AS_OF)


def test_warnings_are_recorded_and_rows_kept(warehouse_conn) -> None:
    stage(warehouse_conn, "customers",
          customer("hubspot:1"),
          customer("hubspot:2", siren=None, siret=None, vat_number=None, einvoicing_address=None),
          customer("hubspot:3", billing_street=None, billing_city=None, billing_postcode=None),
          customer("hubspot:4", siret="55210055400013"),
          customer("hubspot:5", customer_type="B2C", siren=None, siret=None, vat_number=None, einvoicing_address=None))

    outcome = validate_table(warehouse_conn, "customers", "run-1", as_of=AS_OF)

    assert keys(warehouse_conn, "customers") == ["hubspot:1", "hubspot:2", "hubspot:3", "hubspot:4", "hubspot:5"]
    assert open_quarantine(warehouse_conn, "customers") == []
    assert sorted(o.rule.id for o in outcome.warnings) == [
        "customers.b2b_siren_present", "customers.billing_address_present",
        "customers.einvoicing_address_present", "customers.siret_starts_with_siren",
    ]
    siren = result_of(warehouse_conn, "run-1", "customers.b2b_siren_present")
    assert (siren["severity"], siren["success"], siren["unexpected_count"], siren["element_count"]) == (
        "warning", False, 1, 5)
    assert siren["unexpected_percent"] == 25  # of the 4 B2B rows: a B2C customer is not asked for a SIREN
    assert siren["sample"] == [{"customer_key": "hubspot:2", "reason": "French company without a SIREN"}]
    siret = result_of(warehouse_conn, "run-1", "customers.siret_starts_with_siren")
    assert siret["sample"] == [{"customer_key": "hubspot:4",
                                "reason": "SIRET '55210055400013' does not start with SIREN '732829320'"}]
    address = result_of(warehouse_conn, "run-1", "customers.billing_address_present")
    assert address["sample"][0]["customer_key"] == "hubspot:3"
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT success, warnings, critical_failures, quarantined FROM quality.validation_runs")
        assert cur.fetchall() == [(False, 4, 0, 0)]
    warehouse_conn.rollback()


def test_data_docs_are_built_offline_and_recorded(warehouse_conn, gx_dir: Path) -> None:
    stage(warehouse_conn, "customers", customer("salesforce:001A"), customer("salesforce:001B", siren="123456789"))

    outcome = validate_table(warehouse_conn, "customers", "run-docs", as_of=AS_OF)

    index = gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert outcome.data_docs == str(index) and index.is_file()
    assert "staging.customers" in index.read_text()
    pages = list((index.parent / "validations").rglob("*.html"))
    assert len(pages) == 1 and "run-docs" in str(pages[0])
    page = pages[0].read_text()
    assert "customers.siren_checksum" in page and "123456789" in page
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT data_docs FROM quality.validation_runs")
        assert cur.fetchall() == [(str(index),)]
    warehouse_conn.rollback()


def test_data_docs_keep_the_latest_results_of_each_suite(warehouse_conn, gx_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gx_context, "KEEP_RESULTS", 2)
    stage(warehouse_conn, "customers", customer("salesforce:001A"))
    warehouse_conn.autocommit = True  # validation still runs in one transaction of its own

    for run in ("run-1", "run-2", "run-3"):
        validate_table(warehouse_conn, "customers", run, as_of=AS_OF)

    assert warehouse_conn.autocommit is True
    site = gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "validations" / "staging" / "customers"
    assert sorted(path.name for path in site.iterdir()) == ["run-2", "run-3"]
    stored = gx_dir / "gx" / "uncommitted" / "validations" / "staging" / "customers"
    assert sorted(path.name for path in stored.iterdir() if any(path.rglob("*.json"))) == ["run-2", "run-3"]


def test_summary_per_table(warehouse_conn) -> None:
    stage(warehouse_conn, "customers", customer("salesforce:001A"), customer("salesforce:001B", siren="123456789"),
          customer("salesforce:001C", einvoicing_address=None))
    stage(warehouse_conn, "projects", project("trello:b1"))
    stage(warehouse_conn, "time_entries", time_entry("trello:c1", "trello:b1"), time_entry("trello:c2", "trello:b9"))

    validate_staging(warehouse_conn, "run-1", tables=["customers", "projects", "time_entries"], as_of=AS_OF)
    summary = {s.table: s for s in validation_summary(warehouse_conn, "run-1")}

    assert list(summary) == ["staging.customers", "staging.projects", "staging.time_entries"]
    customers = summary["staging.customers"]
    assert (customers.rows_validated, customers.quarantined, customers.quarantine_rules_failed,
            customers.critical_rules_failed, customers.open_quarantine_entries) == (3, 1, 1, 0, 1)
    # einvoicing on 001C; the bad SIREN of 001B also fails the SIRET and VAT consistency checks
    assert customers.warning_rules_failed == 3
    entries = summary["staging.time_entries"]
    assert (entries.rows_validated, entries.quarantined, entries.released) == (2, 1, 0)
    text = format_summary(list(summary.values()))
    assert text.splitlines()[1].split()[:2] == ["staging.customers", "3"]
    assert f"Data Docs: {customers.data_docs}" in text


def test_project_links_are_checked_against_the_validated_tables(warehouse_conn) -> None:
    stage(warehouse_conn, "customers", customer("hubspot:1"))
    stage(warehouse_conn, "projects", project("monday:b1"), project("monday:b2"))
    with warehouse_conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.project_links
                              (project_key, customer_key, deal_key, method, confidence, evidence)
                       VALUES ('monday:b1', 'hubspot:1', NULL, 'siren', 0.90, 'siren 732829320'),
                              ('monday:b2', 'hubspot:2', NULL, 'name_domain', 1.50, 'name')""")
    warehouse_conn.commit()

    outcome = validate_table(warehouse_conn, "staging.project_links", "run-1", as_of=AS_OF)

    assert sorted(o.rule.id for o in outcome.warnings) == [
        "project_links.confidence_range", "project_links.customer_exists"]
    assert result_of(warehouse_conn, "run-1", "project_links.customer_exists")["sample"] == [
        {"project_key": "monday:b2", "reason": "linked customer hubspot:2 not in staging.customers"}]
    assert outcome.quarantined == 0 and outcome.critical_failures == []
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM staging.project_links")
        assert cur.fetchone()[0] == 2
    warehouse_conn.rollback()
