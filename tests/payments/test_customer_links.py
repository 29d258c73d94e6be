"""Payments whose customer in the books is known only through identity resolution of the books: the link of the
books' customer to the invoice's CRM customer (staging.ledger_customer_links) makes them agree."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from passerelle.payments.matching import match_payments
from passerelle.quality.validate import validate_staging
from passerelle.transform.models import run_model, run_staging
from passerelle_dev.books import Books
from tests.connectors.helpers import extract_day
from tests.db import rows, tuples
from tests.payments.scenario import PAID_ON, issue_january, load_books

NEW_NAME = "Groupe Hélio Rénovation SAS"
"""The name the customer took after its January invoice was issued: no CRM customer nor the books have it yet."""


def test_a_customer_renamed_after_its_invoice_is_matched_through_its_link(staged_conn: Any, sandbox: Any) -> None:
    conn = staged_conn
    invoices = issue_january(conn)
    with conn.cursor() as cur:  # the sandbox was reset: its token chain starts again from the seed
        cur.execute("DELETE FROM audit.oauth_refresh_tokens")
    conn.commit()
    invoice = next(i for i in invoices if i.processing_rule == "B2B" and i.buyer_siren
                   and i.customer_key.startswith("salesforce:"))
    account_id = invoice.customer_key.partition(":")[2]
    assert not tuples(conn, "SELECT 1 FROM staging.customers WHERE reference.normalise(legal_name) = "
                            "reference.normalise(%s)", NEW_NAME)

    # The company is renamed in Salesforce; the next transform stages the new name.
    salesforce = sandbox.vendors["salesforce"].control
    salesforce.set_clock(datetime(2026, 3, 2, 10, tzinfo=timezone.utc))
    salesforce.update("Account", account_id, {"Name": NEW_NAME})
    extract_day(conn, sandbox, "salesforce", "Account", 1)
    run_staging(conn, ["customers"])
    validate_staging(conn, "renamed", tables=["staging.customers"])
    assert tuples(conn, "SELECT legal_name FROM staging.customers WHERE customer_key = %s",
                  invoice.customer_key) == [(NEW_NAME,)]

    # The bookkeeper keeps the customer under its new name, writing no SIREN, and books the payment of the
    # invoice issued under the old name.
    control = sandbox.vendors["quickbooks"].control
    control.set_clock("2026-03-02T00:30:00Z")
    books = Books(control)
    customer_id = books.customer(NEW_NAME)
    record = books.book(invoice, customer_id=customer_id)
    payment = books.pay(customer_id, PAID_ON, [(record, invoice.grand_total)])
    load_books(conn, sandbox, day=1)
    ledger_key = f"quickbooks:{customer_id}"
    assert tuples(conn, "SELECT siren, vat_number FROM staging.ledger_customers WHERE ledger_customer_key = %s",
                  ledger_key) == [(None, None)]

    # Before identity resolution of the books has run on it, the names differ and nothing else can tell.
    match_payments(conn, "before-link")
    [(code, reason)] = tuples(conn, "SELECT reason_code, reason FROM marts.unmatched_payments WHERE payment_id = %s",
                              payment["Id"])
    assert code == "customer_differs"
    assert f"'{NEW_NAME}'" in reason and f"'{invoice.buyer_name}' (SIREN {invoice.buyer_siren})" in reason

    run_model(conn, "ledger_customer_identity")
    [link] = rows(conn, "SELECT customer_key, method, confidence FROM staging.ledger_customer_links "
                        "WHERE ledger_customer_key = %s", ledger_key)
    assert (link["customer_key"], link["method"], str(link["confidence"])) == (invoice.customer_key, "name", "0.80")
    outcome = match_payments(conn, "after-link")
    assert outcome.inserted == 1
    assert tuples(conn, "SELECT invoice_number, amount, source_line FROM billing.payments WHERE source = 'quickbooks' "
                        "AND source_payment_id = %s", payment["Id"]) == [(invoice.number, invoice.grand_total, "1:1")]
    assert not tuples(conn, "SELECT 1 FROM marts.unmatched_payments WHERE payment_id = %s", payment["Id"])
    again = match_payments(conn, "rerun")
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0)


def test_a_link_to_another_crm_customer_is_named_in_the_refusal(staged_conn: Any, sandbox: Any) -> None:
    """A customer of the books linked to one CRM customer pays the invoice of another, whose name and SIREN
    differ: listed as before, the link named so that a person sees which customer the books mean."""
    conn = staged_conn
    invoices = issue_january(conn)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM audit.oauth_refresh_tokens")
    conn.commit()
    invoice = next(i for i in invoices if i.processing_rule == "B2B" and i.buyer_siren)
    other = next(r for r in rows(conn, "SELECT customer_key, legal_name, siren FROM staging.customers "
                                       "WHERE siren IS NOT NULL AND siren <> %s AND customer_key <> %s "
                                       "ORDER BY customer_key", invoice.buyer_siren, invoice.customer_key)
                 if not tuples(conn, "SELECT 1 FROM staging.customers WHERE siren = %s AND customer_key <> %s",
                               r["siren"], r["customer_key"]))
    control = sandbox.vendors["quickbooks"].control
    control.set_clock("2026-03-02T00:30:00Z")
    books = Books(control)
    customer_id = books.customer(f"{other['legal_name']} (compte client)", other["siren"])
    record = books.book(invoice, customer_id=customer_id)
    payment = books.pay(customer_id, PAID_ON, [(record, invoice.grand_total)])
    load_books(conn, sandbox, day=1)
    run_model(conn, "ledger_customer_identity")
    assert tuples(conn, "SELECT customer_key, method FROM staging.ledger_customer_links WHERE ledger_customer_key = %s",
                  f"quickbooks:{customer_id}") == [(other["customer_key"], "siren")]
    match_payments(conn, "run-1")
    [(code, reason)] = tuples(conn, "SELECT reason_code, reason FROM marts.unmatched_payments WHERE payment_id = %s",
                              payment["Id"])
    assert code == "customer_differs"
    assert f"(SIREN {other['siren']}, linked to CRM customer {other['customer_key']})" in reason
    assert f"(SIREN {invoice.buyer_siren}, CRM customer {invoice.customer_key})" in reason
