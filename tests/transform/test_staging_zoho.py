"""Zoho CRM and Bigin staging models against the emulator's records (raw layer from the shared snapshot)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from passerelle.transform.models import run_staging
from tests.connectors.helpers import DAY1, extract_day
from tests.db import rows

MODELS = ["customers", "contacts", "people", "products", "deals", "deal_lines"]
WON_STAGES = {"Signé"}  # renamed from "Closed Won": only the stage metadata says so
TRUTH = {"zoho_crm": {"customers": "Accounts", "contacts": "Contacts", "people": "users", "products": "Products",
                      "deals": "Deals"},
         "bigin": {"customers": "Accounts", "contacts": "Contacts", "people": "users", "products": "Products",
                   "deals": "Pipelines"}}


def records(sandbox: Any, source: str, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors[source].control.records(obj)


def staged(conn: Any, table: str, source: str = "zoho_crm") -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in rows(conn, f"SELECT * FROM staging.{table} WHERE source_system = %s", source)}


def compact(value: str | None) -> str | None:
    return re.sub(r"[\s.\-]", "", value).upper() or None if value else None


@pytest.mark.parametrize("source", ["zoho_crm", "bigin"])
def test_rows_are_the_live_records(raw_conn: Any, sandbox: Any, source: str) -> None:
    run_staging(raw_conn, MODELS)
    for table, obj in TRUTH[source].items():
        ids = [r["source_id"] for r in rows(raw_conn, f"SELECT source_id FROM staging.{table} "
                                                      "WHERE source_system = %s", source)]
        truth = [str(r["id"]) for r in records(sandbox, source, obj)]
        assert truth and Counter(ids) == Counter(truth), table
    items = [i["id"] for q in records(sandbox, "zoho_crm", "Quotes") for i in q["Quoted_Items"]]
    assert sorted(staged(raw_conn, "deal_lines")) == sorted(items) and len(items) == len(set(items))


def test_customers_read_the_custom_fields(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, ["customers"])
    customers = staged(raw_conn, "customers")
    for account in records(sandbox, "zoho_crm", "Accounts"):
        row = customers[account["id"]]
        assert row["customer_key"] == f"zoho_crm:{account['id']}" and row["legal_name"] == account["Account_Name"]
        assert (row["siren"], row["siret"], row["vat_number"]) == tuple(
            compact(account[name]) for name in ("SIREN", "SIRET", "VAT_Number"))
        assert row["customer_type"] == account["Customer_Type"]
        assert row["einvoicing_address"] == account["E_invoicing_Address"]
        assert row["billing_city"] == account["Billing_City"]
    french = [r for r in customers.values() if r["billing_country_raw"] == "France"]
    assert french and all(r["billing_country_code"] == "FR" for r in french)


def test_deals_are_won_by_stage_metadata_and_lines_sum_to_the_amount(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    deals, lines = staged(raw_conn, "deals"), staged(raw_conn, "deal_lines")
    assert any(d["Stage"] in WON_STAGES for d in records(sandbox, "zoho_crm", "Deals"))
    for deal in records(sandbox, "zoho_crm", "Deals"):
        row = deals[deal["id"]]
        assert row["amount"] == Decimal(str(deal["Amount"])) and row["currency"] == deal["Currency"]
        assert row["is_won"] == (deal["Stage"] in WON_STAGES)
        assert row["is_closed"] == (deal["Stage"] in WON_STAGES | {"Perdu"})
        assert row["customer_key"] == f"zoho_crm:{deal['Account_Name']['id']}"
        assert row["owner_person_key"] == f"zoho_crm:{deal['Owner']['id']}"
        assert row["won_date"] == (row["close_date"] if row["is_won"] else None)
        deal_lines = [line for line in lines.values() if line["deal_key"] == row["deal_key"]]
        if deal_lines:
            assert sum(line["line_amount"] for line in deal_lines) == row["amount"]
    discounted = [line for line in lines.values() if line["discount_percent"]]
    assert discounted and all(line["quantity"] * line["unit_price"] * (100 - line["discount_percent"]) / 100
                              == line["line_amount"] for line in discounted)
    products = staged(raw_conn, "products")
    assert all(p["unit_price"] > 0 and p["sku"] and p["vat_rate"] is not None for p in products.values())
    pipelines = staged(raw_conn, "deals", "bigin")
    assert any(p["is_won"] for p in pipelines.values())


def test_deletions_leave_staging(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["zoho_crm"].control
    control.set_clock(DAY1 + timedelta(days=1, hours=10))
    account = records(sandbox, "zoho_crm", "Accounts")[0]["id"]
    control.delete("Accounts", account)
    deal = next(d for d in records(sandbox, "zoho_crm", "Deals") if d["Stage"] in WON_STAGES)
    control.delete("Deals", deal["id"])
    for stream in ("Accounts", "Deals", "Quotes"):
        extract_day(raw_conn, sandbox, "zoho_crm", stream, day=1)
    run_staging(raw_conn, MODELS)
    assert account not in staged(raw_conn, "customers") and deal["id"] not in staged(raw_conn, "deals")
    assert all(line["deal_key"] != f"zoho_crm:{deal['id']}" for line in staged(raw_conn, "deal_lines").values())
    assert Decimal("0") <= sum((line["line_amount"] for line in staged(raw_conn, "deal_lines").values()), Decimal("0"))
