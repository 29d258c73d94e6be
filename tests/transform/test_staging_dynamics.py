"""Dynamics 365 staging models against the emulator's rows, and identity across CRMs by SIREN."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

from passerelle.transform.models import run_staging
from passerelle.warehouse.sql_files import run_sql_file
from tests.connectors.helpers import DAY1, extract_day
from tests.db import rows

MODELS = ["customers", "contacts", "people", "products", "deals", "deal_lines"]
TRUTH = {"customers": ("accounts", "accountid"), "contacts": ("contacts", "contactid"),
         "people": ("systemusers", "systemuserid"), "products": ("products", "productid"),
         "deals": ("opportunities", "opportunityid"), "deal_lines": ("opportunityproducts", "opportunityproductid")}


def records(sandbox: Any, table: str) -> list[dict[str, Any]]:
    return sandbox.vendors["dynamics"].control.records(table)


def staged(conn: Any, table: str) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in rows(conn, f"SELECT * FROM staging.{table} WHERE source_system = 'dynamics'")}


def compact(value: str | None) -> str | None:
    return re.sub(r"[\s.\-]", "", value).upper() or None if value else None


def test_rows_are_the_live_records(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    for table, (entity_set, key) in TRUTH.items():
        truth = [r[key] for r in records(sandbox, entity_set)]
        ids = [r["source_id"] for r in rows(raw_conn, f"SELECT source_id FROM staging.{table} "
                                                      "WHERE source_system = 'dynamics'")]
        assert truth and Counter(ids) == Counter(truth), table


def test_customers_read_prefixed_custom_columns(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["dynamics"].control
    control.set_clock(DAY1 + timedelta(days=1, hours=10))
    other = control.create("accounts", {"name": "Autre Éditeur SAS", "new_siren": "732 829 320",
                                        "new_siret": "73282932000074", "new_vatnumber": "FR 44 732829320",
                                        "new_customertype": "b2b", "address1_country": "France"})["id"]
    extract_day(raw_conn, sandbox, "dynamics", "accounts", day=1)
    run_staging(raw_conn, ["customers"])
    customers = staged(raw_conn, "customers")
    for account in records(sandbox, "accounts"):
        row = customers[account["accountid"]]
        if account["accountid"] == other:
            continue
        assert row["customer_key"] == f"dynamics:{account['accountid']}" and row["legal_name"] == account["name"]
        assert (row["siren"], row["siret"], row["vat_number"]) == (
            compact(account["pa_siren"]), compact(account["pa_siret"]), compact(account["pa_vatnumber"]))
        assert row["customer_type"] == (account["pa_customertype"] or "").upper() or None
        assert row["einvoicing_address"] == account["pa_einvoicingaddress"]
        assert row["billing_city"] == account["address1_city"]
    assert {(r["siren"], r["siret"], r["vat_number"], r["customer_type"], r["billing_country_code"])
            for r in [customers[other]]} == {("732829320", "73282932000074", "FR44732829320", "B2B", "FR")}


def test_deals_are_won_by_statecode_in_their_currency_with_their_lines(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    deals, lines = staged(raw_conn, "deals"), staged(raw_conn, "deal_lines")
    currencies = {c["transactioncurrencyid"]: c["isocurrencycode"] for c in records(sandbox, "transactioncurrencies")}
    states = Counter()
    for opportunity in records(sandbox, "opportunities"):
        row = deals[opportunity["opportunityid"]]
        states[opportunity["statecode"]] += 1
        assert row["is_won"] == (opportunity["statecode"] == 1)  # the label ("Gagné") is never read
        assert row["is_closed"] == (opportunity["statecode"] in (1, 2))
        assert row["currency"] == currencies[opportunity["_transactioncurrencyid_value"]]
        assert row["customer_key"] == f"dynamics:{opportunity['_customerid_value']}"
        assert row["owner_person_key"] == f"dynamics:{opportunity['_ownerid_value']}"
        value = opportunity["actualvalue"] if opportunity["statecode"] == 1 else opportunity["estimatedvalue"]
        assert row["amount"] == Decimal(str(value)).quantize(Decimal("0.01"))
        if opportunity["statecode"] == 1:
            assert row["won_date"] is not None and row["won_date"] == row["close_date"]
        deal_lines = [line for line in lines.values() if line["deal_key"] == row["deal_key"]]
        assert sum(line["line_amount"] for line in deal_lines) == row["amount"]
    assert set(states) == {0, 1, 2}
    assert {row["currency"] for row in deals.values()} >= {"EUR", "USD", "GBP"}
    assert any(r["project_code"] for r in deals.values())
    for product_line in records(sandbox, "opportunityproducts"):
        line = lines[product_line["opportunityproductid"]]
        assert line["product_key"] == f"dynamics:{product_line['_productid_value']}"
        assert line["line_amount"] == Decimal(str(product_line["extendedamount"])) - Decimal(str(product_line["tax"]))
        assert line["vat_rate"] in (Decimal("0"), Decimal("2.1"), Decimal("5.5"), Decimal("10"), Decimal("20"))
    products = staged(raw_conn, "products")
    assert all(p["unit_price"] > 0 and p["sku"] and p["unit"] and p["vat_rate"] is not None for p in products.values())
    contacts = staged(raw_conn, "contacts")
    contact = records(sandbox, "contacts")[0]
    assert contacts[contact["contactid"]]["email"] == contact["emailaddress1"].lower()
    assert contacts[contact["contactid"]]["customer_key"] == f"dynamics:{contact['_parentcustomerid_value']}"
    assert all(p["is_active"] and p["email"] for p in staged(raw_conn, "people").values())


def test_deletions_leave_staging(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["dynamics"].control
    control.set_clock(DAY1 + timedelta(days=1, hours=10))
    account = records(sandbox, "accounts")[0]["accountid"]
    control.delete("accounts", account)
    opportunity = next(o for o in records(sandbox, "opportunities") if o["statecode"] == 1)["opportunityid"]
    control.delete("opportunities", opportunity)
    for stream in ("accounts", "opportunities", "opportunityproducts"):
        extract_day(raw_conn, sandbox, "dynamics", stream, day=1)
    run_staging(raw_conn, MODELS)
    assert account not in staged(raw_conn, "customers") and opportunity not in staged(raw_conn, "deals")
    lines = staged(raw_conn, "deal_lines").values()
    assert not [line for line in lines if line["deal_key"] == f"dynamics:{opportunity}"]


def test_same_siren_as_salesforce_is_ambiguous_until_an_override(raw_conn: Any, sandbox: Any) -> None:
    """Some Dataverse accounts are the Salesforce org's companies (same SIREN, SIRET, VAT): both stage with
    the same identifiers, a project citing the SIREN is 'ambiguous' between exactly those two, and an
    override settles it."""
    run_staging(raw_conn, ["customers", "projects"])
    twins = rows(raw_conn, "SELECT d.customer_key AS dynamics, s.customer_key AS salesforce, d.siren FROM "
                           "staging.customers d JOIN staging.customers s ON s.siren = d.siren AND s.siret = d.siret "
                           "AND s.vat_number = d.vat_number WHERE d.source_system = 'dynamics' AND s.source_system = "
                           "'salesforce' ORDER BY d.siren")
    assert twins, "the Dataverse org shares no company with the Salesforce org"
    twin = next(t for t in twins if len(rows(raw_conn, "SELECT 1 FROM staging.customers WHERE siren = %s",
                                             t["siren"])) == 2)
    project = rows(raw_conn, "SELECT project_key FROM staging.projects ORDER BY project_key LIMIT 1")[0]["project_key"]
    with raw_conn.cursor() as cur:
        cur.execute("UPDATE staging.projects SET name = 'Mission comptable', crm_system = NULL, crm_deal_id = NULL, "
                    "description = %s WHERE project_key = %s", (f"Client SIREN {twin['siren']}", project))
    raw_conn.commit()
    run_sql_file(raw_conn, "identity/project_identity.sql")
    exception = rows(raw_conn, "SELECT * FROM staging.identity_exceptions WHERE project_key = %s", project)[0]
    assert exception["problem"] == "ambiguous"
    assert sorted(c["customer_key"] for c in exception["candidates"]) == sorted([twin["dynamics"], twin["salesforce"]])
    with raw_conn.cursor() as cur:
        cur.execute("INSERT INTO staging.identity_overrides (project_key, customer_key, note) VALUES (%s, %s, %s)",
                    (project, twin["dynamics"], "the Dynamics 365 account is the billing one"))
    raw_conn.commit()
    run_sql_file(raw_conn, "identity/project_identity.sql")
    link = rows(raw_conn, "SELECT customer_key, method FROM staging.project_links WHERE project_key = %s", project)
    assert link == [{"customer_key": twin["dynamics"], "method": "override"}]
