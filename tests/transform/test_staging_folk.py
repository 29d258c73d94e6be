"""folk staging models against the emulator's records, and identity across CRMs by SIREN."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import Any

from passerelle.transform.models import run_staging
from passerelle.warehouse.sql_files import run_sql_file
from tests.connectors.helpers import DAY1, extract_day
from tests.db import rows

MODELS = ["customers", "contacts", "people"]
TRUTH = {"customers": "companies", "contacts": "people", "people": "users"}


def records(sandbox: Any, obj: str) -> list[dict[str, Any]]:
    return sandbox.vendors["folk"].control.records(obj)


def staged(conn: Any, table: str) -> dict[str, dict[str, Any]]:
    return {r["source_id"]: r for r in rows(conn, f"SELECT * FROM staging.{table} WHERE source_system = 'folk'")}


def compact(value: str | None) -> str | None:
    """As staging writes identifiers: without spaces, dots and dashes, upper case."""
    return re.sub(r"[\s.\-]", "", value).upper() or None if value else None


def clients_values(sandbox: Any, company: dict[str, Any]) -> dict[str, Any]:
    group = next(g["id"] for g in sandbox.vendors["folk"].app.groups if g["name"] == "Clients")
    return company["customFieldValues"][group]


def test_rows_are_the_live_records(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    for table, obj in TRUTH.items():
        ids = [r["source_id"] for r in rows(raw_conn, f"SELECT source_id FROM staging.{table} WHERE source_system = 'folk'")]
        truth = [r["id"] for r in records(sandbox, obj)]
        assert truth and Counter(ids) == Counter(truth), table


def test_customers_read_group_custom_fields_by_name_and_split_the_address(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, ["customers"])
    customers = staged(raw_conn, "customers")
    with_siren = 0
    for company in records(sandbox, "companies"):
        row, cf = customers[company["id"]], clients_values(sandbox, company)
        assert row["customer_key"] == f"folk:{company['id']}" and row["legal_name"] == company["name"]
        assert (row["siren"], row["siret"], row["vat_number"]) == tuple(
            compact(cf[name]) for name in ("SIREN", "SIRET", "VAT number"))
        assert row["customer_type"] == cf["Customer type"] and row["einvoicing_address"] == cf["E-invoicing address"]
        with_siren += row["siren"] is not None
        town = " ".join(part for part in (row["billing_postcode"], row["billing_city"]) if part)
        rebuilt = ", ".join(part for part in (row["billing_street"], town, row["billing_country_raw"]) if part)
        assert rebuilt == company["addresses"][0], company["addresses"]
        if company["urls"]:
            assert company["urls"][0].endswith(row["email_domain"])
    french = [r for r in customers.values() if r["billing_country_raw"] == "France"]
    assert with_siren and french and all(r["billing_country_code"] == "FR" for r in french)
    postcodes = [r["billing_postcode"] for r in french if r["billing_postcode"] is not None]
    assert postcodes and all(re.fullmatch(r"\d{5}", p) for p in postcodes)


def test_contacts_and_people(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, MODELS)
    contacts = staged(raw_conn, "contacts")
    for person in records(sandbox, "people"):
        row = contacts[person["id"]]
        assert row["email"] == person["emails"][0].lower() and row["last_name"] == person["lastName"]
        assert row["customer_key"] == f"folk:{person['companies'][0]['id']}"
    people = staged(raw_conn, "people")
    assert {p["full_name"] for p in people.values()} == {u["fullName"] for u in records(sandbox, "users")}


def test_deletions_found_by_absence_leave_staging(raw_conn: Any, sandbox: Any) -> None:
    control = sandbox.vendors["folk"].control
    control.set_clock(DAY1 + timedelta(days=1, hours=10))
    company, person = records(sandbox, "companies")[0]["id"], records(sandbox, "people")[0]["id"]
    control.delete("companies", company)
    control.delete("people", person)
    for stream in ("companies", "people"):
        extract_day(raw_conn, sandbox, "folk", stream, day=1)
    run_staging(raw_conn, MODELS)
    assert company not in staged(raw_conn, "customers") and person not in staged(raw_conn, "contacts")
    assert len(staged(raw_conn, "customers")) == len(records(sandbox, "companies"))


def test_same_siren_in_folk_and_salesforce(raw_conn: Any, sandbox: Any) -> None:
    """A folk company carrying a Salesforce account's SIREN (spaced, as typed in folk) stages with the
    same identifiers. Identity resolution does not merge CRMs: a project citing that SIREN gets one
    'ambiguous' exception naming exactly the two rows, and an override settles it on one customer."""
    run_staging(raw_conn, ["customers"])
    account = rows(raw_conn, "SELECT customer_key, siren, siret, vat_number FROM staging.customers c "
                             "WHERE source_system = 'salesforce' AND siren IS NOT NULL AND NOT EXISTS (SELECT 1 "
                             "FROM staging.customers o WHERE o.siren = c.siren AND o.source_system <> 'salesforce') "
                             "ORDER BY source_id LIMIT 1")
    assert account, "the staged snapshot has no Salesforce account with a SIREN of its own"
    sf = account[0]
    control = sandbox.vendors["folk"].control
    control.set_clock(DAY1 + timedelta(days=1, hours=10))
    twin = control.create("companies", {"name": "Jumeau CRM SAS", "customFieldValues": {
        "SIREN": f"{sf['siren'][:3]} {sf['siren'][3:6]} {sf['siren'][6:]}", "SIRET": sf["siret"],
        "VAT number": sf["vat_number"], "Customer type": "B2B"}})["id"]
    extract_day(raw_conn, sandbox, "folk", "companies", day=1)
    run_staging(raw_conn, ["customers", "projects"])
    same = rows(raw_conn, "SELECT customer_key, siret, vat_number FROM staging.customers WHERE siren = %s "
                          "ORDER BY customer_key", sf["siren"])
    assert [r["customer_key"] for r in same] == sorted([sf["customer_key"], f"folk:{twin}"])
    assert {(r["siret"], r["vat_number"]) for r in same} == {(sf["siret"], sf["vat_number"])}
    project = rows(raw_conn, "SELECT project_key FROM staging.projects ORDER BY project_key LIMIT 1")[0]["project_key"]
    with raw_conn.cursor() as cur:
        cur.execute("UPDATE staging.projects SET name = 'Mission comptable', crm_system = NULL, crm_deal_id = NULL, "
                    "description = %s WHERE project_key = %s", (f"Client SIREN {sf['siren']}", project))
    raw_conn.commit()
    run_sql_file(raw_conn, "identity/project_identity.sql")
    exception = rows(raw_conn, "SELECT * FROM staging.identity_exceptions WHERE project_key = %s", project)[0]
    assert exception["problem"] == "ambiguous"
    assert sorted(c["customer_key"] for c in exception["candidates"]) == sorted([sf["customer_key"], f"folk:{twin}"])
    assert {c["method"] for c in exception["candidates"]} == {"siren"}
    with raw_conn.cursor() as cur:
        cur.execute("INSERT INTO staging.identity_overrides (project_key, customer_key, note) VALUES (%s, %s, %s)",
                    (project, sf["customer_key"], "same company in folk and Salesforce"))
    raw_conn.commit()
    run_sql_file(raw_conn, "identity/project_identity.sql")
    link = rows(raw_conn, "SELECT customer_key, method FROM staging.project_links WHERE project_key = %s", project)
    assert link == [{"customer_key": sf["customer_key"], "method": "override"}]
