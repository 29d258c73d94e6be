"""Row-level rules: failing rows land in quality.quarantine with their rule and reason and leave staging."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from passerelle.quality.validate import validate_staging, validate_table
from tests.quality.helpers import (
    AS_OF,
    SIREN,
    customer,
    deal,
    deal_line,
    keys,
    open_quarantine,
    project,
    result_of,
    seed_raw,
    stage,
    time_entry,
)


def test_invalid_siren_and_vat_are_quarantined_with_the_value_in_the_reason(warehouse_conn) -> None:
    stage(warehouse_conn, "customers",
          customer("salesforce:001A"),
          customer("salesforce:001B", siren="123456789", siret=None, vat_number=None, einvoicing_address=None),
          customer("hubspot:9001", vat_number="FR00732829320"))

    outcome = validate_table(warehouse_conn, "customers", "run-1", as_of=AS_OF)

    entries = open_quarantine(warehouse_conn, "customers")
    assert [(e["record_key"], e["rule"], e["reason"]) for e in entries] == [
        ("hubspot:9001", "customers.vat_number_checksum", "invalid VAT number 'FR00732829320' (checksum)"),
        ("salesforce:001B", "customers.siren_checksum", "invalid SIREN '123456789' (checksum)"),
    ]
    by_key = {e["record_key"]: e for e in entries}
    bad = by_key["salesforce:001B"]
    assert (bad["source_system"], bad["source_id"]) == ("salesforce", "001B")
    assert by_key["salesforce:001B"]["row_data"]["siren"] == "123456789"
    assert by_key["salesforce:001B"]["row_data"]["legal_name"] == "Dupont Conseil SAS"
    assert by_key["hubspot:9001"]["first_run_id"] == "run-1"
    assert keys(warehouse_conn, "customers") == ["salesforce:001A"]
    assert (outcome.row_count, outcome.quarantined, outcome.released) == (3, 2, 0)
    assert outcome.critical_failures == []

    siren = result_of(warehouse_conn, "run-1", "customers.siren_checksum")
    assert siren["success"] is False and siren["severity"] == "quarantine"
    assert (siren["element_count"], siren["unexpected_count"], siren["column_name"]) == (3, 1, "siren")
    assert siren["expectation"] == "expect_column_values_to_be_valid_siren"
    assert siren["sample"] == [{"customer_key": "salesforce:001B", "siren": "123456789",
                                "reason": "invalid SIREN '123456789' (checksum)"}]
    assert result_of(warehouse_conn, "run-1", "customers.siret_checksum")["success"] is True


def test_unknown_billing_country_is_quarantined(warehouse_conn) -> None:
    stage(warehouse_conn, "customers",
          customer("salesforce:001A"),
          customer("salesforce:001C", billing_country_code=None, billing_country_raw="Frnace"),
          customer("salesforce:001D", billing_country_code="XX"))

    validate_table(warehouse_conn, "customers", "run-1", as_of=AS_OF)

    assert [(e["record_key"], e["rule"], e["reason"]) for e in open_quarantine(warehouse_conn, "customers")] == [
        ("salesforce:001C", "customers.billing_country_known",
         "unknown billing country 'Frnace' (not in reference.country_aliases)"),
        ("salesforce:001D", "customers.billing_country_iso3166",
         "billing country code 'XX' is not ISO 3166-1 alpha-2"),
    ]
    assert keys(warehouse_conn, "customers") == ["salesforce:001A"]


def test_negative_amount_unknown_currency_and_dates_out_of_bounds(warehouse_conn) -> None:
    stage(warehouse_conn, "customers", customer("hubspot:1"))
    stage(warehouse_conn, "deals",
          deal("hubspot:10", "hubspot:1"),
          deal("hubspot:11", "hubspot:1", amount=Decimal("-1500.00")),
          deal("hubspot:12", "hubspot:1", currency="EUX"),
          deal("hubspot:13", "hubspot:1", close_date=date(1999, 12, 31), won_date=None, is_won=False),
          deal("hubspot:14", "hubspot:1", amount=Decimal("0.00"), currency="USD"))

    outcome = validate_table(warehouse_conn, "deals", "run-1", as_of=AS_OF)

    assert [(e["record_key"], e["rule"], e["reason"]) for e in open_quarantine(warehouse_conn, "deals")] == [
        ("hubspot:11", "deals.amount_non_negative", "negative amount -1500.00"),
        ("hubspot:12", "deals.currency_iso4217", "unknown currency 'EUX' (not ISO 4217)"),
        ("hubspot:13", "deals.close_date_in_range", "close_date 1999-12-31 outside 2000-01-01 .. 2028-03-02"),
    ]
    assert keys(warehouse_conn, "deals") == ["hubspot:10", "hubspot:14"]
    assert outcome.quarantined == 3


def test_deal_line_amounts_discount_and_vat_rate(warehouse_conn) -> None:
    stage(warehouse_conn, "customers", customer("salesforce:001A"))
    stage(warehouse_conn, "deals", deal("salesforce:006A", "salesforce:001A"))
    stage(warehouse_conn, "deal_lines",
          deal_line("salesforce:00kA", "salesforce:006A"),
          deal_line("salesforce:00kB", "salesforce:006A", vat_rate=Decimal("2.10")),
          deal_line("salesforce:00kC", "salesforce:006A", vat_rate=Decimal("19.60")),
          deal_line("salesforce:00kD", "salesforce:006A", discount_percent=Decimal("120.00")),
          deal_line("salesforce:00kE", "salesforce:006A", quantity=Decimal("-1")),
          deal_line("salesforce:00kF", "salesforce:006Z"))

    validate_table(warehouse_conn, "deal_lines", "run-1", as_of=AS_OF)

    assert [(e["record_key"], e["rule"], e["reason"]) for e in open_quarantine(warehouse_conn, "deal_lines")] == [
        ("salesforce:00kC", "deal_lines.vat_rate_french", "VAT rate 19.60 is not a French rate (0, 2.1, 5.5, 10, 20)"),
        ("salesforce:00kD", "deal_lines.discount_percent_range", "discount 120.00 % outside 0 .. 100"),
        ("salesforce:00kE", "deal_lines.quantity_non_negative", "negative quantity -1.0000"),
        ("salesforce:00kF", "deal_lines.deal_exists", "orphan deal line: deal salesforce:006Z not in staging.deals"),
    ]
    assert keys(warehouse_conn, "deal_lines") == ["salesforce:00kA", "salesforce:00kB"]


def test_orphan_duplicate_and_too_long_time_entries(warehouse_conn) -> None:
    stage(warehouse_conn, "projects", project("jira:10000"))
    stage(warehouse_conn, "time_entries",
          time_entry("jira:w1", "jira:10000"),
          time_entry("jira:w2", "jira:99999"),
          time_entry("jira:w3", "jira:10000", hours=Decimal("25.50")),
          time_entry("jira:w4", "jira:10000", hours=Decimal("-2.00")),
          time_entry("jira:w5", "jira:10000", entry_date=date(2026, 3, 5)),
          time_entry("jira:w6", "jira:10000", description="first copy"),
          time_entry("jira:w6", "jira:10000", description="second copy"))
    with warehouse_conn.cursor() as cur:  # the duplicate must not also break the row-count bound
        seed_raw(cur, "jira", "worklogs", "w7")
    warehouse_conn.commit()

    outcome = validate_table(warehouse_conn, "time_entries", "run-1", as_of=AS_OF)

    entries = open_quarantine(warehouse_conn, "time_entries")
    assert [(e["record_key"], e["rule"], e["reason"]) for e in entries] == [
        ("jira:w2", "time_entries.project_exists", "orphan time entry: project jira:99999 not in staging.projects"),
        ("jira:w3", "time_entries.hours_max_24", "25.50 hours in one entry (more than 24)"),
        ("jira:w4", "time_entries.hours_non_negative", "negative hours -2.00"),
        ("jira:w5", "time_entries.entry_date_not_future",
         "entry date 2026-03-05 outside 2000-01-01 .. 2026-03-03"),
        ("jira:w6", "time_entries.time_entry_key_unique", "duplicate time_entry_key 'jira:w6'"),
    ]
    duplicate = entries[-1]["row_data"]
    assert sorted(row["description"] for row in duplicate) == ["first copy", "second copy"]
    assert keys(warehouse_conn, "time_entries") == ["jira:w1"]
    assert outcome.quarantined == 6  # both copies of jira:w6


def test_referential_rules_see_parents_after_their_own_quarantine(warehouse_conn) -> None:
    stage(warehouse_conn, "customers", customer("salesforce:001A"), customer("salesforce:001B", siren="123456789"))
    stage(warehouse_conn, "deals",
          deal("salesforce:006A", "salesforce:001A"), deal("salesforce:006B", "salesforce:001B"))

    validate_staging(warehouse_conn, "run-1", tables=["deals", "customers"], as_of=AS_OF)

    assert [(e["record_key"], e["rule"]) for e in open_quarantine(warehouse_conn, "customers")] == [
        ("salesforce:001B", "customers.siren_checksum"),
    ]
    assert [(e["record_key"], e["rule"], e["reason"]) for e in open_quarantine(warehouse_conn, "deals")] == [
        ("salesforce:006B", "deals.customer_exists",
         "orphan deal: customer salesforce:001B not in staging.customers"),
    ]
    assert keys(warehouse_conn, "deals") == ["salesforce:006A"]


def test_a_second_run_refreshes_entries_instead_of_duplicating_them(warehouse_conn) -> None:
    bad = customer("salesforce:001B", siren="123456789")
    stage(warehouse_conn, "customers", customer("salesforce:001A"), bad)
    validate_table(warehouse_conn, "customers", "run-1", as_of=AS_OF)

    # Validated again without a rebuild (a retried task): the held row is not counted missing.
    again = validate_table(warehouse_conn, "customers", "run-2", as_of=AS_OF)
    assert (again.row_count, again.quarantined, again.released, again.critical_failures) == (1, 0, 0, [])

    # The nightly rebuild brings the row back unchanged: quarantined again, same entry.
    stage(warehouse_conn, "customers", bad, raw=False)
    rebuilt = validate_table(warehouse_conn, "customers", "run-3", as_of=AS_OF)

    entries = open_quarantine(warehouse_conn, "customers")
    assert [(e["record_key"], e["rule"], e["first_run_id"], e["last_run_id"]) for e in entries] == [
        ("salesforce:001B", "customers.siren_checksum", "run-1", "run-3"),
    ]
    assert (rebuilt.quarantined, rebuilt.new_quarantine_entries) == (1, 0)
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM quality.quarantine")
        assert cur.fetchone()[0] == 1
    warehouse_conn.rollback()


def test_a_fixed_row_is_released_rule_by_rule(warehouse_conn) -> None:
    both = customer("salesforce:001B", siren="123456789", vat_number="FR00732829320")
    stage(warehouse_conn, "customers", customer("salesforce:001A"), both)
    validate_table(warehouse_conn, "customers", "run-1", as_of=AS_OF)
    assert [e["rule"] for e in open_quarantine(warehouse_conn, "customers")] == [
        "customers.siren_checksum", "customers.vat_number_checksum",
    ]

    # Rebuilt with the SIREN fixed at the source, the VAT number still wrong.
    stage(warehouse_conn, "customers", {**both, "siren": SIREN}, raw=False)
    second = validate_table(warehouse_conn, "customers", "run-2", as_of=AS_OF)
    assert [(e["rule"], e["last_run_id"]) for e in open_quarantine(warehouse_conn, "customers")] == [
        ("customers.vat_number_checksum", "run-2"),
    ]
    assert (second.released, second.quarantined) == (1, 1)
    assert keys(warehouse_conn, "customers") == ["salesforce:001A"]

    # Rebuilt with both fixed: released, and the row stays in staging.
    stage(warehouse_conn, "customers", {**both, "siren": SIREN, "vat_number": "FR44732829320"}, raw=False)
    third = validate_table(warehouse_conn, "customers", "run-3", as_of=AS_OF)
    assert open_quarantine(warehouse_conn, "customers") == []
    assert (third.released, third.quarantined) == (1, 0)
    assert keys(warehouse_conn, "customers") == ["salesforce:001A", "salesforce:001B"]
    with warehouse_conn.cursor() as cur:
        cur.execute("""SELECT rule, first_run_id, released_run_id, released_at IS NOT NULL FROM quality.quarantine
                        ORDER BY rule""")
        assert cur.fetchall() == [
            ("customers.siren_checksum", "run-1", "run-2", True),
            ("customers.vat_number_checksum", "run-1", "run-3", True),
        ]
        cur.execute("SELECT run_id, released, quarantined FROM quality.validation_runs ORDER BY validation_id")
        assert cur.fetchall() == [("run-1", 0, 1), ("run-2", 1, 1), ("run-3", 1, 0)]
    warehouse_conn.rollback()
