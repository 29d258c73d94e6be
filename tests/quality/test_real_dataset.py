"""The whole pipeline on the sandbox dataset: raw -> staging SQL -> suites, against its listed anomalies."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from passerelle.quality.summary import validation_summary
from passerelle.quality.validate import validate_staging
from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle.transform.models import run_staging
from tests.db import rows

AS_OF = date(2026, 3, 2)  # end of the extracted window
QUARANTINED = {"invalid_siren_checksum": "customers.siren_checksum", "invalid_siret": "customers.siret_checksum"}
WARNED = {
    "missing_siren": "customers.b2b_siren_present",
    "missing_address": "customers.billing_address_present",
    "missing_einvoicing_address": "customers.einvoicing_address_present",
    "vat_siren_mismatch": "customers.vat_number_matches_siren",
}


@pytest.fixture(scope="module")
def dataset() -> dict[str, Any]:
    return load(default_dataset_path())


def identifiers(dataset: dict[str, Any], vendor: str, record_id: str) -> dict[str, str | None]:
    """SIREN and SIRET of one CRM account as the dataset serves them."""
    if vendor == "salesforce":
        account = next(a for a in dataset["salesforce"]["objects"]["Account"] if a["Id"] == record_id)
        return {"siren": account["SIREN__c"], "siret": account["SIRET__c"]}
    company = next(c for c in dataset["hubspot"]["objects"]["companies"] if c["id"] == record_id)
    return {"siren": company["properties"]["siren"], "siret": company["properties"]["siret"]}


def test_dataset_anomalies_are_quarantined_or_reported(raw_conn: Any, dataset: dict[str, Any]) -> None:
    run_staging(raw_conn)
    staged_customers = {row["customer_key"] for row in rows(raw_conn, "SELECT customer_key FROM staging.customers")}

    outcomes = validate_staging(raw_conn, "dataset-run", as_of=AS_OF)

    assert [o.table for o in outcomes] == [
        "staging.customers", "staging.contacts", "staging.people", "staging.products", "staging.deals",
        "staging.deal_lines", "staging.projects", "staging.tasks", "staging.milestones", "staging.time_entries",
        "staging.ledger_customers", "staging.ledger_invoices", "staging.ledger_payments",
    ]
    assert all(o.row_count > 0 for o in outcomes)
    assert [failure for o in outcomes for failure in o.critical_failures] == []

    held = rows(raw_conn, """SELECT record_key, rule, reason FROM quality.quarantine
                              WHERE table_name = 'staging.customers' AND released_at IS NULL""")
    expected = set()
    for anomaly in (a for a in dataset["anomalies"] if a["problem"] in QUARANTINED):
        key = f"{anomaly['vendor']}:{anomaly['id']}"
        rule = QUARANTINED[anomaly["problem"]]
        field = "siren" if rule == "customers.siren_checksum" else "siret"
        value = identifiers(dataset, anomaly["vendor"], anomaly["id"])[field]
        assert key in staged_customers
        assert {"record_key": key, "rule": rule, "reason": f"invalid {field.upper()} '{value}' (checksum)"} in held
        expected.add(key)
    # Nothing but the spoiled accounts is quarantined (a broken SIREN also breaks the SIRET built on it).
    assert {entry["record_key"] for entry in held} == expected and len(expected) == 4
    remaining = {row["customer_key"] for row in rows(raw_conn, "SELECT customer_key FROM staging.customers")}
    assert remaining == staged_customers - expected

    # Their deals and contacts are orphans now, quarantined with the reason naming the customer.
    orphans = rows(raw_conn, """SELECT table_name, record_key, reason FROM quality.quarantine
                                 WHERE rule IN ('deals.customer_exists', 'contacts.customer_exists')""")
    assert orphans and all(any(key in o["reason"] for key in expected) for o in orphans)

    customers = next(o for o in outcomes if o.table == "staging.customers")
    warned = {o.rule.id: o for o in customers.warnings}
    for anomaly in (a for a in dataset["anomalies"] if a["problem"] in WARNED):
        key = f"{anomaly['vendor']}:{anomaly['id']}"
        outcome = warned[WARNED[anomaly["problem"]]]
        assert key in {line["customer_key"] for line in outcome.sample}, (anomaly, outcome.sample)
        assert key in remaining  # warnings keep the row

    summary = {s.table: s for s in validation_summary(raw_conn, "dataset-run")}
    assert summary["staging.customers"].quarantined == 4
    assert summary["staging.customers"].rows_validated == len(staged_customers)
