"""Staging of the books: QuickBooks customers, invoices / credit memos, payments and their applications."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stdnum.fr import siren as stdnum_siren
from stdnum.fr import tva as stdnum_tva

from passerelle.quality.validate import validate_staging
from passerelle.transform.models import run_staging
from tests.db import rows

LEDGER = ["ledger_customers", "ledger_invoices", "ledger_payments"]


def test_the_books_are_staged_exactly_deleted_ones_excluded(raw_conn: Any, sandbox: Any) -> None:
    run_staging(raw_conn, LEDGER)
    control = sandbox.vendors["quickbooks"].control
    customers = {r["source_id"]: r for r in rows(raw_conn, "SELECT * FROM staging.ledger_customers")}
    assert set(customers) == {c["Id"] for c in control.records("Customer")}
    for customer in control.records("Customer"):
        row = customers[customer["Id"]]
        assert row["is_active"] == customer["Active"]
        assert not row["display_name"].endswith("(deleted)")
        if row["siren"] is not None:  # only identifiers whose checksum holds, by python-stdnum itself
            assert stdnum_siren.is_valid(row["siren"]) and row["siren"] in customer["Notes"].replace(" ", "") or (
                row["vat_number"] and row["vat_number"].endswith(row["siren"]))
        if row["vat_number"] is not None:
            assert stdnum_tva.is_valid(row["vat_number"])
    assert any(r["identifier_problem"] for r in customers.values())  # the typo the dataset plants
    assert sum(r["siren"] is not None for r in customers.values()) > 5

    documents = {r["source_id"]: r for r in rows(raw_conn, "SELECT * FROM staging.ledger_invoices")}
    expected = {i["Id"]: ("Invoice", i) for i in control.records("Invoice")}
    expected |= {m["Id"]: ("CreditMemo", m) for m in control.records("CreditMemo")}
    assert set(documents) == set(expected)
    for record_id, (kind, record) in expected.items():
        row = documents[record_id]
        assert (row["document_type"], row["document_number"], row["ledger_customer_key"]) == (
            kind, record["DocNumber"], f"quickbooks:{record['CustomerRef']['value']}")
        assert row["total_amount"] == Decimal(str(record["TotalAmt"])) and row["balance"] == Decimal(str(record["Balance"]))

    payments = {r["source_id"]: r for r in rows(raw_conn, "SELECT * FROM staging.ledger_payments")}
    live = control.records("Payment")
    gone = [p for p in control.records("Payment", include_deleted=True) if p.get("status") == "Deleted"]
    assert gone and set(payments) == {p["Id"] for p in live}  # the deleted payment is left out
    applications = rows(raw_conn, "SELECT * FROM staging.ledger_payment_applications")
    for payment in live:
        row = payments[payment["Id"]]
        assert row["total_amount"] == Decimal(str(payment["TotalAmt"]))
        assert row["unapplied_amount"] == Decimal(str(payment["UnappliedAmt"]))
        mine = sorted((a["line_number"], a["linked_type"], a["linked_id"], a["amount"])
                      for a in applications if a["payment_id"] == payment["Id"])
        assert mine == sorted((n, link["TxnType"], link["TxnId"], Decimal(str(line["Amount"])))
                              for n, line in enumerate(payment["Line"], start=1) for link in line["LinkedTxn"])
    outcomes = validate_staging(raw_conn, "ledger-test", tables=[f"staging.{name}" for name in LEDGER])
    assert all(outcome.success or not outcome.critical_failures for outcome in outcomes)
    assert [outcome.quarantined for outcome in outcomes] == [0, 0, 0]
