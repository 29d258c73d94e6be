"""A real run (``dag.test()``) of the compliance DAG: QuickBooks payments become 212 statuses and Flux 10.4 data."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from passerelle.orchestration.airflow_env import warehouse_connection
from passerelle.reports.labels import label
from passerelle_dev.books import Books
from passerelle_dev.examples import EXAMPLE_SELLER
from tests.browser import render_text
from tests.db import tuples
from tests.payments.scenario import PAID_ON, issue_january, load_books

pytestmark = pytest.mark.dag


@pytest.fixture
def paid_in_the_books(staged_conn, sandbox):
    """January issued; every invoice taxed on receipt booked and paid in full in QuickBooks, then extracted."""
    invoices = [i for i in issue_january(staged_conn) if i.vat_point == "payment"]
    with staged_conn.cursor() as cur:  # the sandbox was reset: its token chain starts again from the seed
        cur.execute("DELETE FROM audit.oauth_refresh_tokens")
    staged_conn.commit()
    control = sandbox.vendors["quickbooks"].control
    control.set_clock("2026-03-02T00:30:00Z")
    books = Books(control)
    for invoice in invoices:
        record = books.book(invoice)
        books.pay(record["CustomerRef"]["value"], PAID_ON, [(record, invoice.grand_total)])
    load_books(staged_conn, sandbox, day=1)
    return invoices


def test_quickbooks_payments_move_issued_invoices_to_212(dagbag, staged_warehouse_url, staged_conn,
                                                         paid_in_the_books, airflow_connections, fast_retries,
                                                         monkeypatch, tmp_path) -> None:
    airflow_connections({"passerelle_warehouse": warehouse_connection(staged_warehouse_url)})
    monkeypatch.setenv("PASSERELLE_SELLER_FILE", str(EXAMPLE_SELLER))
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("PASSERELLE_PA_MATRICULE", "0042")
    dag = fast_retries(dagbag.dags["compliance"], 0)
    assert "match_payments" in dag.get_task("cashed_statuses").upstream_task_ids
    # reports on February, in French (an earlier run of the same logical date in this metadata database may have
    # asked for English: dag.test() takes that run's conf again unless given one)
    run = dag.test(logical_date=datetime(2026, 3, 1, tzinfo=ZoneInfo("Europe/Paris")), run_conf={"report_language": "fr"})
    assert str(run.state) == "success", {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    domestic = {i.number: i.grand_total for i in paid_in_the_books if i.processing_rule == "B2B"}
    assert len(domestic) >= 3
    cashed = dict(tuples(staged_conn, """
        SELECT e.invoice_number, p.amount FROM billing.lifecycle_events e JOIN billing.payments p USING (payment_id)
         WHERE e.status_code = 212 AND p.source = 'quickbooks'"""))
    assert cashed == domestic  # one 212 per QuickBooks payment, for the amount received
    assert tuples(staged_conn, "SELECT count(*) FROM marts.invoice_lifecycle WHERE status_code = 212 "
                               "AND outstanding = 0 AND invoice_number = ANY(%s)", list(domestic)) == [(len(domestic),)]
    b2c = [i.number for i in paid_in_the_books if i.processing_rule == "B2C"]
    if b2c:  # B2C payments of services reach Flux 10.4
        flux = tuples(staged_conn, "SELECT flux FROM marts.ereporting_transmissions")
        assert any("10.4" in f for f, in flux), flux
    report = next((tmp_path / "reports").glob("*.html"))
    assert '<section id="paiements">' in report.read_text(encoding="utf-8")
    text = render_text(report)  # as a reader sees it
    paid = next(iter(domestic))
    assert "\nPayées\u00a0: " in text and paid in text
    listed = tuples(staged_conn, "SELECT DISTINCT reason_code FROM marts.unmatched_payments"
                                 " WHERE paid_on <= DATE '2026-02-28'")
    assert listed and "\nPaiements non rapprochés\u00a0: " in text  # the drawn books' payments on reused numbers
    reasons = {line.split("\t")[-2] for line in text.splitlines() if line.count("\t") == 6}
    assert {label("reason", code, "fr") for code, in listed} <= reasons, (listed, reasons)
    [(linked, left)] = tuples(staged_conn, "SELECT (SELECT count(*) FROM staging.ledger_customer_links), "
                                           "(SELECT count(*) FROM staging.ledger_customer_exceptions)")
    assert linked and (f"Clients de la comptabilité\u00a0: {linked} rapprochés d'un client du CRM, {left} à examiner"
                       in text)
