"""Real runs (``dag.test()``) of the compliance DAG after two billing periods of the sandbox dataset."""

from __future__ import annotations

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from passerelle.documents.validation import CiiValidator
from passerelle_dev.examples import EXAMPLE_SELLER, load_example_billing
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle_dev.samples import example_seller
from passerelle.orchestration.airflow_env import warehouse_connection
from tests.browser import render_text
from tests.db import tuples

pytestmark = pytest.mark.dag
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def invoiced(staged_conn):
    """January and February invoiced; a third of January's invoices, and every B2C one taxed on receipt, paid on
    20 February."""
    load_example_billing(staged_conn)
    with CiiValidator() as validator:
        for start, end in ((date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 2, 1), date(2026, 2, 28))):
            build_billable_items(staged_conn, end)
            issue_period(staged_conn, example_seller(), validator, period_start=start, period_end=end, run_id="setup")
            if end.month == 1:
                with staged_conn.cursor() as cur:
                    cur.execute("INSERT INTO billing.payments (invoice_number, paid_on, amount)"
                                " SELECT invoice_number, DATE '2026-02-20', due_payable FROM marts.invoices"
                                " WHERE right(invoice_number, 1) IN ('1', '4', '7')"
                                "    OR (processing_rule = 'B2C' AND vat_point = 'payment')")
                staged_conn.commit()
    return staged_conn


@pytest.fixture
def compliance(dagbag, staged_warehouse_url, invoiced, airflow_connections, fast_retries, monkeypatch, tmp_path):
    airflow_connections({"passerelle_warehouse": warehouse_connection(staged_warehouse_url)})
    monkeypatch.setenv("PASSERELLE_SELLER_FILE", str(EXAMPLE_SELLER))
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("PASSERELLE_PA_MATRICULE", "0042")
    return fast_retries(dagbag.dags["compliance"], 0)


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_dag_is_triggered_by_the_invoices_asset(dagbag) -> None:
    dag = dagbag.dags["compliance"]
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    assert {a.name for a in dag.timetable.asset_condition.objects} == {"marts.invoices"}
    assert dag.get_task("report").trigger_rule == "all_done"


def test_a_month_of_compliance_outputs(compliance, invoiced, tmp_path) -> None:
    run = compliance.test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS))  # reports on February 2026
    assert str(run.state) == "success", states(run)
    # readiness covers every customer, the deliberately broken ones not ready
    assert tuples(invoiced, "SELECT count(*) > 70, count(*) FILTER (WHERE NOT ready) > 5 FROM marts.customer_readiness") \
        == [(True, True)]
    # three decades of transactions and one month of payments for a monthly filer
    due = tuples(invoiced, "SELECT kind, period_start, period_end, due_date FROM marts.filing_calendar"
                           " WHERE period_start >= DATE '2026-02-01' AND period_end <= DATE '2026-02-28' ORDER BY 1, 2")
    assert [(k, s.day, e.day, d.isoformat()) for k, s, e, d in due] == [
        ("payments", 1, 28, "2026-03-10"),
        ("transactions", 1, 10, "2026-02-20"), ("transactions", 11, 20, "2026-02-28"),
        ("transactions", 21, 28, "2026-03-10")]
    transmissions = tuples(invoiced, "SELECT flux, records, valid, path FROM marts.ereporting_transmissions")
    assert transmissions and all(valid for _, _, valid, _ in transmissions)
    # B2C days (10.3, alone or with the B2B international transactions of the same decade); B2C payments of
    # January invoices (10.4)
    parts = {part for flux, *_ in transmissions for part in flux.split("+")}
    assert parts >= {"10.3", "10.4"}, transmissions
    assert all(open(path, "rb").read().startswith(b"<?xml") for *_, path in transmissions)
    assert all(os.stat(path).st_mode & 0o777 == 0o600 for *_, path in transmissions)  # closed to other users
    # 212 for each payment of a domestic invoice taxed on receipt, with the amount per rate
    (cashed, payments), = tuples(invoiced, """
        SELECT (SELECT count(*) FROM billing.lifecycle_events WHERE status_code = 212),
               (SELECT count(*) FROM billing.payments p JOIN marts.invoices i USING (invoice_number)
                 WHERE i.processing_rule = 'B2B' AND i.vat_point = 'payment')""")
    assert cashed == payments > 0
    reports = list((tmp_path / "reports").glob("*.html"))
    assert len(reports) == 1
    html = reports[0].read_text(encoding="utf-8")
    assert "<svg" in html and "http://" not in html and "https://" not in html
    # As a reader sees it in Chromium: French, the month's VAT total as the warehouse's invoices sum it, the
    # regime by its name, the Flux 10 files relative to the report (../ereporting/…), no absolute path.
    text = render_text(reports[0])
    (vat,), = tuples(invoiced, "SELECT sum(CASE type_code WHEN '381' THEN -1 ELSE 1 END * coalesce(tax_total_eur, "
                               "tax_total)) FROM marts.invoices WHERE issue_date BETWEEN '2026-02-01' AND '2026-02-28'")
    total = next(line for line in text.splitlines() if line.startswith("Total\t") and line.count("€") == 2)
    assert total.endswith("\t" + f"{vat:,.2f}".replace(",", "\u202f").replace(".", ",") + "\u00a0€"), (total, vat)
    assert "Rapport de conformité du 1 février 2026 au 28 février 2026" in text and "Réel normal mensuel" in text
    assert "reel_normal_mensuel" not in text and str(tmp_path) not in text
    assert {f"../ereporting/{os.path.basename(path)}" for *_, path in transmissions} <= {cell for line in text.splitlines()
                                                                                    for cell in line.split("\t")}

    again = compliance.test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS), run_conf={"report_language": "en"})
    assert str(again.state) == "success", states(again)
    text = render_text(reports[0])  # the same month, rewritten in English as the run asked
    assert "Compliance report 1 February 2026 to 28 February 2026" in text and "Standard regime, monthly" in text
    assert "Réel normal mensuel" not in text
    assert tuples(invoiced, "SELECT count(*) FROM billing.lifecycle_events WHERE status_code = 212") == [(cashed,)]
    assert tuples(invoiced, "SELECT count(*) FROM marts.ereporting_transmissions") == [(len(transmissions),)]

    # January holds the foreign customers' first invoices: unitary 10.1 transactions, valid
    january = compliance.test(logical_date=datetime(2026, 2, 1, tzinfo=PARIS))
    assert str(january.state) == "success", states(january)
    assert tuples(invoiced, "SELECT bool_and(valid), bool_or(flux LIKE '10.1%%') FROM marts.ereporting_transmissions"
                            " WHERE period_end < DATE '2026-02-01'") == [(True, True)]
