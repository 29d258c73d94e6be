"""``<table>.<column>_xml_text``: text XML 1.0 cannot carry is quarantined with the field, the code point and
its position, and leaves staging; clean text, tabs and line breaks pass untouched."""

from __future__ import annotations

from decimal import Decimal

import pytest

from passerelle.quality.validate import validate_table
from passerelle.quality.xml_text import SQL_UNSAFE, first_unsafe, unsafe_reason
from tests.quality.helpers import AS_OF, customer, deal, deal_line, keys, open_quarantine, stage


def xml_char(code: int) -> bool:
    """The ``Char`` production of XML 1.0 §2.2, written out from the specification."""
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def test_python_and_sql_patterns_are_the_xml_char_production(warehouse_conn) -> None:
    codes = [c for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF] + [0x10000, 0x1D11E, 0x10FFFF]
    with warehouse_conn.cursor() as cur:
        cur.execute(f"SELECT c, chr(c) !~ '{SQL_UNSAFE}' FROM unnest(%s::int[]) AS c", (codes,))
        in_sql = dict(cur.fetchall())
    warehouse_conn.rollback()
    expected = {code: xml_char(code) for code in codes}
    assert in_sql == expected
    assert {code: first_unsafe(f"a{chr(code)}b") is None for code in codes} == expected
    # What Postgres text cannot hold is caught by the Python pattern alone: NUL and lone surrogates.
    assert first_unsafe("Nom\x00") == (4, "\x00")
    assert first_unsafe("Caf\ud800") == (4, "\ud800") and first_unsafe("x\udfff y") == (2, "\udfff")
    assert unsafe_reason("buyer.name", "Caf\ud800") == "buyer.name holds U+D800 at character 4, which XML 1.0 cannot carry"


@pytest.mark.parametrize("text", ["Dupont\tConseil", "Dupont\nConseil\r\nSAS", "Société Générale — Œuvre 𝄞", ""])
def test_tabs_line_breaks_and_any_other_character_pass(text: str) -> None:
    assert first_unsafe(text) is None and unsafe_reason("legal_name", text) is None


def test_customers_with_control_characters_are_quarantined_with_field_and_position(warehouse_conn) -> None:
    stage(warehouse_conn, "customers",
          customer("salesforce:clean", legal_name="Société Générale\tÉtudes\nConseil\r\nSAS"),
          customer("salesforce:vtab", legal_name="Société\x0bGénérale"),
          customer("salesforce:soh", billing_street="12 rue\x01 de la Paix"),
          customer("hubspot:nonchar", billing_city="Paris\uffff"),
          customer("hubspot:us", legal_name="Acme Inc", customer_type="B2B_INTL", siren=None, siret=None,
                   vat_number="US123456789", billing_country_code="US", billing_country_raw="United States",
                   einvoicing_address="billing@acme\x1f.example"))

    outcome = validate_table(warehouse_conn, "customers", "run-xml", as_of=AS_OF)

    entries = [(e["record_key"], e["rule"], e["reason"]) for e in open_quarantine(warehouse_conn, "customers")]
    assert entries == [
        ("hubspot:nonchar", "customers.billing_city_xml_text",
         "billing_city holds U+FFFF at character 6, which XML 1.0 cannot carry"),
        ("hubspot:us", "customers.einvoicing_address_xml_text",
         "einvoicing_address holds U+001F at character 13, which XML 1.0 cannot carry"),
        ("salesforce:soh", "customers.billing_street_xml_text",
         "billing_street holds U+0001 at character 7, which XML 1.0 cannot carry"),
        # positions count characters, not bytes: 'é' is one
        ("salesforce:vtab", "customers.legal_name_xml_text",
         "legal_name holds U+000B at character 8, which XML 1.0 cannot carry"),
    ]
    held = {e["record_key"]: e for e in open_quarantine(warehouse_conn, "customers")}
    assert held["salesforce:vtab"]["row_data"]["legal_name"] == "Société\x0bGénérale"
    assert keys(warehouse_conn, "customers") == ["salesforce:clean"]
    with warehouse_conn.cursor() as cur:
        cur.execute("SELECT legal_name FROM staging.customers")
        assert cur.fetchall() == [("Société Générale\tÉtudes\nConseil\r\nSAS",)]  # untouched, byte for byte
        cur.execute("SELECT DISTINCT table_name FROM quality.quarantine")
        assert cur.fetchall() == [("staging.customers",)]
    warehouse_conn.rollback()
    assert outcome.quarantined == 4 and outcome.critical_failures == []


def test_deal_line_descriptions_and_deal_names_are_checked_too(warehouse_conn) -> None:
    stage(warehouse_conn, "customers", customer("hubspot:1"))
    stage(warehouse_conn, "deals", deal("hubspot:10", "hubspot:1"), deal("hubspot:11", "hubspot:1", name="Audit\x08"))
    stage(warehouse_conn, "deal_lines",
          deal_line("hubspot:100", "hubspot:10", description="Phase 1\n\t- cadrage"),
          deal_line("hubspot:101", "hubspot:10", description="Prestation\x0c suite", quantity=Decimal("1")))
    validate_table(warehouse_conn, "deals", "run-xml", as_of=AS_OF)
    validate_table(warehouse_conn, "deal_lines", "run-xml", as_of=AS_OF)

    assert [(e["record_key"], e["rule"], e["reason"]) for e in open_quarantine(warehouse_conn, "deals")] == [
        ("hubspot:11", "deals.name_xml_text", "name holds U+0008 at character 6, which XML 1.0 cannot carry")]
    assert [(e["record_key"], e["rule"], e["reason"]) for e in open_quarantine(warehouse_conn, "deal_lines")] == [
        ("hubspot:101", "deal_lines.description_xml_text",
         "description holds U+000C at character 11, which XML 1.0 cannot carry")]
    assert keys(warehouse_conn, "deals") == ["hubspot:10"]
    assert keys(warehouse_conn, "deal_lines") == ["hubspot:100"]
