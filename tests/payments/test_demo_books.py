"""The demo's payment step: January booked and paid in the QuickBooks sandbox, the extract DAG run, payments matched."""

from __future__ import annotations

from datetime import date

import pytest

from passerelle.orchestration.airflow_env import sandbox_connections, warehouse_connection
from passerelle_dev.demo_invoicing import pay_in_the_books
from tests.connectors.helpers import FAST
from tests.db import tuples
from tests.payments.scenario import issue_january

pytestmark = pytest.mark.dag


def test_the_demo_pays_in_the_books_and_every_b2c_invoice_taxed_on_receipt_is_matched(
        dagbag, sandbox, staged_warehouse_url, staged_conn, airflow_connections, fast_retries) -> None:
    invoices = issue_january(staged_conn)
    with staged_conn.cursor() as cur:  # the sandbox was reset: its token chain starts again from the seed
        cur.execute("DELETE FROM audit.oauth_refresh_tokens")
    staged_conn.commit()
    conns = sandbox_connections(sandbox.vendors, sandbox.ca_path)
    for conn in conns.values():
        conn["extra"].update(FAST)
    airflow_connections({**conns, "passerelle_warehouse": warehouse_connection(staged_warehouse_url)})
    sandbox.vendors["quickbooks"].control.set_clock("2026-03-04T00:30:00Z")  # where the demo's windows leave it
    dags = {"extract_quickbooks": fast_retries(dagbag.dags["extract_quickbooks"])}
    matched = pay_in_the_books(dags, staged_conn, sandbox, date(2026, 2, 20))
    chosen = {i.number: i.due_payable for i in invoices
              if i.number[-1] in "147" or (i.processing_rule == "B2C" and i.vat_point == "payment")}
    got = dict(tuples(staged_conn, "SELECT invoice_number, amount FROM billing.payments WHERE source = 'quickbooks'"))
    assert got == chosen and matched == len(chosen)  # every payment the bookkeeper recorded, no drawn one
    assert any(i.processing_rule == "B2C" and i.vat_point == "payment" and i.number in got for i in invoices)
    assert tuples(staged_conn, "SELECT count(*) > 0 FROM marts.unmatched_payments") == [(True,)]
