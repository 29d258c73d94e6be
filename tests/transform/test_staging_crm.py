"""Salesforce and HubSpot staging models against the emulators' records: counts, values, deletions, rebuilds."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pycountry
import pytest

from passerelle_sandbox.dataset_model import ANOMALIES
from passerelle_sandbox.server import resolve_dataset
from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, extract_day
from tests.db import rows

CRM_MODELS = ["customers", "contacts", "people", "products", "deals", "deal_lines"]
# (model, source) → (emulator object, id field) whose live records are the model's rows from that source.
TRUTH = {
    ("customers", "salesforce"): ("Account", "Id"), ("customers", "hubspot"): ("companies", "id"),
    ("contacts", "salesforce"): ("Contact", "Id"), ("contacts", "hubspot"): ("contacts", "id"),
    ("people", "salesforce"): ("User", "Id"), ("people", "hubspot"): ("owners", "id"),
    ("products", "salesforce"): ("Product2", "Id"), ("products", "hubspot"): ("products", "id"),
    ("deals", "salesforce"): ("Opportunity", "Id"), ("deals", "hubspot"): ("deals", "id"),
    ("deal_lines", "salesforce"): ("OpportunityLineItem", "Id"), ("deal_lines", "hubspot"): ("line_items", "id"),
}
DAY2_NOON = DAY1 + timedelta(days=1, hours=12)  # inside the day-1 extract window


@pytest.fixture(scope="module")
def dataset() -> dict[str, Any]:
    """The dataset the emulators serve after a reset (associations and anomalies are not in their records)."""
    return resolve_dataset(None)


def staged(conn: Any, table: str, source: str) -> dict[str, dict[str, Any]]:
    """One source's rows of a staging table by source id (a duplicated id keeps its last row)."""
    return {row["source_id"]: row for row in rows(conn, f"SELECT * FROM staging.{table} WHERE source_system = %s", source)}


def live(sandbox: Any, source: str, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors[source].control.records(obj)


def test_rows_are_the_live_source_records(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, CRM_MODELS)
    for (model, source), (obj, id_field) in TRUTH.items():
        ids = rows(raw_conn, f"SELECT source_id FROM staging.{model} WHERE source_system = %s", source)
        truth = [str(record[id_field]) for record in live(sandbox, source, obj)]
        assert truth, (model, source)
        assert Counter(row["source_id"] for row in ids) == Counter(truth), (model, source)


def test_customers_carry_identifiers_addresses_and_countries(raw_conn: Any, sandbox: Any, dataset: dict[str, Any]) -> None:
    run_staging(raw_conn, ["customers"])
    spoiled = {anomaly["id"] for anomaly in dataset["anomalies"]}
    sf = staged(raw_conn, "customers", "salesforce")
    hs = staged(raw_conn, "customers", "hubspot")
    accounts = [a for a in live(sandbox, "salesforce", "Account") if a["Id"] not in spoiled]
    companies = [c for c in live(sandbox, "hubspot", "companies") if c["id"] not in spoiled]

    account = next(a for a in accounts if a["Customer_Type__c"] == "B2B" and a["ShippingStreet"] != a["BillingStreet"])
    row = sf[account["Id"]]
    assert row["customer_key"] == f"salesforce:{account['Id']}" and row["legal_name"] == account["Name"]
    assert (row["customer_type"], row["siren"], row["siret"], row["vat_number"], row["einvoicing_address"]) == (
        "B2B", account["SIREN__c"], account["SIRET__c"], account["VAT_Number__c"], account["Electronic_Address__c"])
    assert len(row["siren"]) == 9 and row["siret"].startswith(row["siren"]) and row["vat_number"].endswith(row["siren"])
    assert (row["billing_country_code"], row["billing_country_raw"]) == ("FR", "France")
    assert row["email_domain"] == account["Website"].removeprefix("www.")
    assert (row["delivery_street"], row["delivery_city"], row["delivery_postcode"], row["delivery_country_code"]) == (
        account["ShippingStreet"], account["ShippingCity"], account["ShippingPostalCode"], "FR")
    assert row["source_created_at"] == datetime.fromisoformat(account["CreatedDate"])

    company = next(c for c in companies if c["properties"]["customer_type"] == "B2B")
    row, prop = hs[company["id"]], company["properties"]
    assert (row["siren"], row["siret"], row["vat_number"], row["einvoicing_address"], row["billing_country_code"]) == (
        prop["siren"], prop["siret"], prop["vat_number"], prop["einvoicing_address"], "FR")
    assert (row["billing_street"], row["billing_postcode"], row["email_domain"]) == (prop["address"], prop["zip"], prop["domain"])
    assert row["delivery_street"] is None and row["delivery_country_code"] is None

    foreign = [c for c in companies if c["properties"]["customer_type"] == "B2B_INTL"]
    assert foreign
    for company in foreign:  # HubSpot only has the country's name
        row, name = hs[company["id"]], company["properties"]["country"]
        assert (row["billing_country_raw"], row["billing_country_code"]) == (name, pycountry.countries.lookup(name).alpha_2)
        assert row["billing_country_code"] != "FR" and row["siren"] is None
        assert row["vat_number"] == re.sub(r"[\s.-]", "", company["properties"]["vat_number"]).upper()  # CHE-123.456.789 TVA

    individuals = {a["Id"] for a in accounts if a["Customer_Type__c"] == "B2C"}
    individuals |= {c["id"] for c in companies if c["properties"]["customer_type"] == "B2C"}
    staged_b2c = [row for row in (*sf.values(), *hs.values()) if row["customer_type"] == "B2C"]
    assert individuals and {row["source_id"] for row in staged_b2c} == individuals
    for row in staged_b2c:
        assert (row["siren"], row["vat_number"], row["email_domain"], row["billing_country_code"]) == (None, None, None, "FR")


def test_deal_amounts_are_exact_and_equal_their_lines(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, ["deals", "deal_lines"])
    lines = rows(raw_conn, "SELECT deal_key, line_amount FROM staging.deal_lines WHERE deal_key IS NOT NULL")
    staged_sums: dict[str, Decimal] = {}
    for line in lines:
        staged_sums[line["deal_key"]] = staged_sums.get(line["deal_key"], Decimal(0)) + line["line_amount"]

    source_lines = Counter(line["OpportunityId"] for line in live(sandbox, "salesforce", "OpportunityLineItem"))
    opportunities = [o for o in live(sandbox, "salesforce", "Opportunity") if Decimal(str(o["Amount"])) % 1]
    opportunity = max(opportunities, key=lambda o: source_lines[o["Id"]])  # fractional amount, most lines
    deal = staged(raw_conn, "deals", "salesforce")[opportunity["Id"]]
    assert isinstance(deal["amount"], Decimal) and deal["amount"] == Decimal(str(opportunity["Amount"]))
    assert deal["amount"] == staged_sums[deal["deal_key"]]
    assert (deal["currency"], deal["stage"], deal["is_won"]) == (
        opportunity["CurrencyIsoCode"], opportunity["StageName"], opportunity["IsWon"])
    assert deal["close_date"].isoformat() == opportunity["CloseDate"]
    assert deal["won_date"] == (deal["close_date"] if opportunity["IsWon"] else None)

    hs_deals = staged(raw_conn, "deals", "hubspot")
    for source_deal in live(sandbox, "hubspot", "deals"):
        deal, prop = hs_deals[source_deal["id"]], source_deal["properties"]
        assert deal["amount"] == Decimal(prop["amount"]) == staged_sums[deal["deal_key"]]
        assert (deal["is_closed"], deal["is_won"]) == (prop["dealstage"].startswith("closed"), prop["dealstage"] == "closedwon")
        assert deal["close_date"].isoformat() == prop["closedate"][:10]
        assert deal["owner_person_key"] == f"hubspot:{prop['hubspot_owner_id']}"
        code = deal["project_code"]
        assert (code is not None) == ("PRJ-" in (prop["description"] or "")) and (code is None or code in prop["description"])


def test_hubspot_line_items_join_their_deal(raw_conn: Any, sandbox: Any, dataset: dict[str, Any]) -> None:
    run_staging(raw_conn, ["deal_lines"])
    truth = {link["to_id"]: f"hubspot:{link['from_id']}" for link in dataset["hubspot"]["associations"]
             if (link["from_type"], link["to_type"]) == ("deals", "line_items")}
    lines = staged(raw_conn, "deal_lines", "hubspot")
    assert {line_id: row["deal_key"] for line_id, row in lines.items()} == truth

    item = next(i for i in live(sandbox, "hubspot", "line_items") if Decimal(i["properties"]["hs_discount_percentage"]))
    row, prop = lines[item["id"]], item["properties"]
    assert row["product_key"] == f"hubspot:{prop['hs_product_id']}"
    assert (row["quantity"], row["unit_price"], row["discount_percent"], row["line_amount"], row["vat_rate"]) == (
        Decimal(prop["quantity"]), Decimal(prop["price"]), Decimal(prop["hs_discount_percentage"]),
        Decimal(prop["amount"]), Decimal(prop["hs_tax_rate"]))


def test_anomaly_customers_reach_staging_unchanged(raw_conn: Any, sandbox: Any, dataset: dict[str, Any]) -> None:
    run_staging(raw_conn, ["customers"])
    fields = {"salesforce": ("SIREN__c", "SIRET__c", "VAT_Number__c", "Electronic_Address__c", "BillingStreet"),
              "hubspot": ("siren", "siret", "vat_number", "einvoicing_address", "address")}
    assert {(a["vendor"], a["problem"]) for a in dataset["anomalies"]} == {(v, p) for v in fields for p in ANOMALIES}
    for anomaly in dataset["anomalies"]:
        vendor = anomaly["vendor"]
        record = sandbox.vendors[vendor].control.record(anomaly["object"], anomaly["id"])
        values = record if vendor == "salesforce" else record["properties"]
        row = staged(raw_conn, "customers", vendor)[anomaly["id"]]
        kept = (row["siren"], row["siret"], row["vat_number"], row["einvoicing_address"], row["billing_street"])
        assert kept == tuple(values[name] for name in fields[vendor]), anomaly


def test_deleted_records_are_gone_and_orphan_lines_kept(raw_conn: Any, sandbox: Any) -> None:
    sf, hs = sandbox.vendors["salesforce"].control, sandbox.vendors["hubspot"].control
    account, contact = sf.records("Account")[0]["Id"], sf.records("Contact")[0]["Id"]
    deal = hs.records("deals")[0]["id"]
    run_staging(raw_conn, CRM_MODELS)
    before = rows(raw_conn, "SELECT deal_line_key FROM staging.deal_lines WHERE deal_key = %s", f"hubspot:{deal}")
    assert before and staged(raw_conn, "customers", "salesforce").get(account)

    for control in (sf, hs):
        control.set_clock(DAY2_NOON)
    sf.delete("Account", account)
    sf.delete("Contact", contact)
    hs.delete("deals", deal)
    for source, stream in (("salesforce", "Account"), ("salesforce", "Contact"), ("hubspot", "deals")):
        assert extract_day(raw_conn, sandbox, source, stream, 1).deleted == 1
    run_staging(raw_conn, CRM_MODELS)

    assert account not in staged(raw_conn, "customers", "salesforce")
    assert contact not in staged(raw_conn, "contacts", "salesforce")
    assert deal not in staged(raw_conn, "deals", "hubspot")
    orphans = rows(raw_conn, "SELECT deal_line_key, deal_key FROM staging.deal_lines WHERE deal_line_key = ANY(%s)",
                   [row["deal_line_key"] for row in before])
    assert len(orphans) == len(before) and all(row["deal_key"] is None for row in orphans)


def test_source_edits_are_typed_not_dropped(raw_conn: Any, sandbox: Any) -> None:
    sf, hs = sandbox.vendors["salesforce"].control, sandbox.vendors["hubspot"].control
    for control in (sf, hs):
        control.set_clock(DAY2_NOON)
    account = sf.create("Account", {"Name": "Weber Maschinenbau GmbH", "BillingCountry": "Allemagne",
                                    "Website": "https://www.Weber-Maschinen.DE/kontakt", "VAT_Number__c": "de 811.907.980"})
    garbage, negative = (d["id"] for d in hs.records("deals")[:2])
    hs.update("deals", garbage, {"amount": "12 500,00 €"})
    hs.update("deals", negative, {"amount": "-250.5"})
    shared = hs.records("line_items")[0]["id"]
    company = hs.records("companies")[0]["id"]
    amendment = hs.create("deals", {"dealname": "Avenant", "amount": "10.00", "dealstage": "closedwon"}, associations=[
        {"to_type": "line_items", "to_id": shared}, {"to_type": "companies", "to_id": company}])["id"]
    extract_day(raw_conn, sandbox, "salesforce", "Account", 1)
    extract_day(raw_conn, sandbox, "hubspot", "deals", 1)
    run_staging(raw_conn, ["customers", "deals", "deal_lines"])

    row = staged(raw_conn, "customers", "salesforce")[account["id"]]
    assert (row["billing_country_code"], row["billing_country_raw"]) == ("DE", "Allemagne")
    assert (row["email_domain"], row["vat_number"], row["customer_type"]) == ("weber-maschinen.de", "DE811907980", None)
    deals = staged(raw_conn, "deals", "hubspot")
    assert deals[garbage]["amount"] is None and deals[garbage]["name"] is not None
    assert deals[negative]["amount"] == Decimal("-250.50")
    assert (deals[amendment]["customer_key"], deals[amendment]["is_won"]) == (f"hubspot:{company}", True)
    # A line item listed by two deals stays twice (same key): validation quarantines the duplicate.
    twice = rows(raw_conn, "SELECT deal_key FROM staging.deal_lines WHERE deal_line_key = %s", f"hubspot:{shared}")
    assert len(twice) == 2 and f"hubspot:{amendment}" in {row["deal_key"] for row in twice}


def test_rebuild_is_idempotent(raw_conn: Any) -> None:
    def contents() -> dict[str, list[tuple]]:
        with raw_conn.cursor() as cur:
            tables = {}
            for model in CRM_MODELS:
                cur.execute(f"SELECT t::text FROM staging.{model} AS t ORDER BY 1")
                tables[model] = cur.fetchall()
        raw_conn.rollback()
        return tables

    run_staging(raw_conn, CRM_MODELS)
    first = contents()
    assert all(first.values())
    run_staging(raw_conn, CRM_MODELS)
    assert contents() == first
