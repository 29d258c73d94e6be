"""Pipedrive staging models against the emulator's records, and identity resolution onto Pipedrive customers."""

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
TRUTH = {"customers": "organizations", "contacts": "persons", "people": "users", "products": "products",
         "deals": "deals"}


def records(sandbox: Any, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors["pipedrive"].control.records(obj)


def staged(conn: Any, table: str) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in rows(conn, f"SELECT * FROM staging.{table} WHERE source_system = 'pipedrive'")}


def compact(value: str | None) -> str | None:
    """As staging writes identifiers: without spaces, dots and dashes, upper case."""
    return re.sub(r"[\s.\-]", "", value).upper() or None if value else None


def field_names(sandbox: Any) -> dict[str, str]:
    app = sandbox.vendors["pipedrive"].app
    return {f["name"]: f["key"] for f in app.fields["organization"]}


def test_rows_are_the_live_records(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    for table, obj in TRUTH.items():
        ids = [r["source_id"] for r in rows(raw_conn, f"SELECT source_id FROM staging.{table} "
                                                      "WHERE source_system = 'pipedrive'")]
        truth = [str(r["id"]) for r in records(sandbox, obj)]
        assert truth and Counter(ids) == Counter(truth), table
    live_deals = {d["id"] for d in records(sandbox, "deals")}
    lines = staged(raw_conn, "deal_lines")
    assert set(lines) == {str(p["id"]) for p in records(sandbox, "deal_products") if p["deal_id"] in live_deals}


def test_customers_read_custom_fields_by_name(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, ["customers"])
    keys = field_names(sandbox)
    customers = staged(raw_conn, "customers")
    for org in records(sandbox, "organizations"):
        row, cf = customers[str(org["id"])], org["custom_fields"]
        assert row["customer_key"] == f"pipedrive:{org['id']}" and row["legal_name"] == org["name"]
        assert (row["siren"], row["siret"], row["vat_number"]) == tuple(
            compact(cf[keys[name]]) for name in ("SIREN", "SIRET", "VAT number"))
        assert row["customer_type"] == cf[keys["Customer type"]]
        assert row["einvoicing_address"] == cf[keys["E-invoicing address"]]
        assert row["billing_city"] == org["address"]["locality"]
    french = [r for r in customers.values() if r["billing_country_raw"] == "France"]
    assert french and all(r["billing_country_code"] == "FR" for r in french)


def test_deals_lines_products_contacts_and_people(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    deals, lines = staged(raw_conn, "deals"), staged(raw_conn, "deal_lines")
    for deal in records(sandbox, "deals"):
        row = deals[str(deal["id"])]
        assert row["amount"] == Decimal(str(deal["value"])) and row["currency"] == deal["currency"]
        assert row["is_won"] == (deal["status"] == "won") and row["is_closed"] == (deal["status"] != "open")
        assert row["customer_key"] == f"pipedrive:{deal['org_id']}"
        assert row["owner_person_key"] == f"pipedrive:{deal['owner_id']}"
        if deal["status"] == "won":
            assert row["won_date"] is not None and row["won_date"] == row["close_date"]
        deal_lines = [line for line in lines.values() if line["deal_key"] == row["deal_key"]]
        assert sum(line["line_amount"] for line in deal_lines) == row["amount"]
    assert any(r["project_code"] for r in deals.values())
    line = next(iter(lines.values()))
    assert line["product_key"].startswith("pipedrive:") and line["unit_price"] > 0 and line["vat_rate"] is not None
    products = staged(raw_conn, "products")
    assert all(p["unit_price"] > 0 and p["sku"] for p in products.values())
    contacts = staged(raw_conn, "contacts")
    person = records(sandbox, "persons")[0]
    assert contacts[str(person["id"])]["email"] == person["emails"][0]["value"].lower()
    assert contacts[str(person["id"])]["customer_key"] == f"pipedrive:{person['org_id']}"
    assert all(p["is_active"] for p in staged(raw_conn, "people").values())


def test_deletions_and_removed_products_leave_staging(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.set_clock(DAY1 + timedelta(days=1, hours=10))
    org = records(sandbox, "organizations")[0]["id"]
    control.delete("organizations", str(org))
    deal = next(d for d in records(sandbox, "deals") if d["status"] == "won")
    removed = next(p for p in records(sandbox, "deal_products") if p["deal_id"] == deal["id"])
    control.delete("deal_products", str(removed["id"]))
    for stream in ("organizations", "deals", "deal_products"):
        extract_day(raw_conn, sandbox, "pipedrive", stream, day=1)
    run_staging(raw_conn, MODELS)
    assert str(org) not in staged(raw_conn, "customers")
    lines = staged(raw_conn, "deal_lines")
    assert str(removed["id"]) not in lines
    expected = sum((Decimal(str(p["sum"])) for p in records(sandbox, "deal_products") if p["deal_id"] == deal["id"]),
                   Decimal("0"))
    assert staged(raw_conn, "deals")[str(deal["id"])]["amount"] == expected


def test_identity_links_projects_to_pipedrive_customers(raw_conn: Any, sandbox: Any) -> None:
    """An explicit 'pipedrive:<deal>' link and a SIREN in the description both resolve to the organization."""
    run_staging(raw_conn, ["customers", "deals", "projects"])
    project_keys = [r["project_key"] for r in rows(raw_conn, "SELECT project_key FROM staging.projects "
                                                             "ORDER BY project_key LIMIT 2")]
    deal = next(d for d in records(sandbox, "deals") if d["status"] == "won")
    customer = rows(raw_conn, "SELECT customer_key, siren, legal_name FROM staging.customers WHERE source_system = "
                              "'pipedrive' AND customer_type = 'B2B' AND siren IS NOT NULL ORDER BY source_id LIMIT 1")[0]
    deal_customer = f"pipedrive:{deal['org_id']}"
    deal_name = rows(raw_conn, "SELECT legal_name FROM staging.customers WHERE customer_key = %s", deal_customer)[0]
    with raw_conn.cursor() as cur:
        cur.execute("UPDATE staging.projects SET name = %s, description = NULL, crm_system = 'pipedrive', "
                    "crm_deal_id = %s WHERE project_key = %s", (f"Projet {deal_name['legal_name']}", str(deal["id"]),
                                                                project_keys[0]))
        cur.execute("UPDATE staging.projects SET name = 'Mission comptable', crm_system = NULL, crm_deal_id = NULL, "
                    "description = %s WHERE project_key = %s", (f"Client SIREN {customer['siren']}", project_keys[1]))
    raw_conn.commit()
    run_sql_file(raw_conn, "identity/project_identity.sql")
    links = {r["project_key"]: r for r in rows(raw_conn, "SELECT * FROM staging.project_links")}
    assert links[project_keys[0]]["customer_key"] == deal_customer
    assert links[project_keys[0]]["deal_key"] == f"pipedrive:{deal['id']}"
    assert links[project_keys[1]]["customer_key"] == customer["customer_key"]
    assert links[project_keys[1]]["method"] == "siren"
