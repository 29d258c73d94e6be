"""Real runs (``dag.test()``) of the invoicing DAG on the sandbox dataset's validated staging layer."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from facturx import get_xml_from_pdf
from stdnum.fr import siret as stdnum_siret

from passerelle_dev.examples import EXAMPLE_SELLER, load_example_billing
from passerelle.invoicing.issue import build_billable_items
from passerelle.orchestration.airflow_env import warehouse_connection
from tests.db import tuples

pytestmark = pytest.mark.dag
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def invoicing(dagbag, staged_warehouse_url, staged_conn, airflow_connections, fast_retries, monkeypatch, tmp_path):
    airflow_connections({"passerelle_warehouse": warehouse_connection(staged_warehouse_url)})
    monkeypatch.setenv("PASSERELLE_SELLER_FILE", str(EXAMPLE_SELLER))
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("PASSERELLE_INVOICE_FORMATS", "facturx,ubl")
    load_example_billing(staged_conn)
    return fast_retries(dagbag.dags["invoicing"], 0)


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_dag_policy(dagbag) -> None:
    dag = dagbag.dags["invoicing"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.doc_md
    assert [t.task_id for t in dag.topological_sort()] == [
        "check_seller", "build_billable_items", "issue_invoices", "write_documents"]
    assert [a.name for a in dag.get_task("issue_invoices").outlets] == ["marts.invoices"]


def test_a_period_run_issues_documents_and_a_rerun_changes_nothing(invoicing, staged_conn, tmp_path) -> None:
    run = invoicing.test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS))  # billing period: February 2026
    assert str(run.state) == "success", states(run)
    issued = tuples(staged_conn, "SELECT invoice_number, billing_period_start, billing_period_end FROM marts.invoices")
    assert issued and {(s.isoformat(), e.isoformat()) for _, s, e in issued} == {("2026-02-01", "2026-02-28")}
    documents = tuples(staged_conn, "SELECT invoice_number, format, path FROM marts.invoice_documents")
    assert {f for _, f, _ in documents} == {"facturx", "ubl"} and len(documents) == 2 * len(issued)
    number, _, path = next(d for d in documents if d[1] == "facturx")
    assert path.startswith(str(tmp_path))
    filename, xml = get_xml_from_pdf(open(path, "rb").read(), check_xsd=False)
    assert filename == "factur-x.xml" and number.encode() in xml
    assert tuples(staged_conn, "SELECT format, bool_and(passed) FROM marts.invoice_validations GROUP BY 1 ORDER BY 1") == [
        ("cii", True), ("ubl", True)]

    before = tuples(staged_conn, "SELECT invoice_number, invoice_key FROM marts.invoice_numbers ORDER BY 1")
    again = invoicing.test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS))
    assert str(again.state) == "success", states(again)
    assert tuples(staged_conn, "SELECT invoice_number, invoice_key FROM marts.invoice_numbers ORDER BY 1") == before
    assert tuples(staged_conn, "SELECT count(*) FROM marts.invoice_documents") == [(len(documents),)]


def test_an_invalid_seller_fails_first_and_issues_nothing(invoicing, staged_conn, monkeypatch) -> None:
    monkeypatch.delenv("PASSERELLE_SELLER_FILE")
    monkeypatch.setenv("PASSERELLE_SELLER", '{"legal_name": "X", "siren": "123456789"}')
    run = invoicing.test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS))
    assert states(run)["check_seller"] == "failed"
    assert states(run)["issue_invoices"] == "upstream_failed"
    assert tuples(staged_conn, "SELECT count(*) FROM marts.invoice_numbers") == [(0,)]


def test_a_broken_draft_is_held_and_the_period_still_issues_the_others(invoicing, staged_conn, tmp_path) -> None:
    """A SIRET spoiled in staging after validation (a late CRM edit): its draft is held with the rule and
    reason, consumes no number, and every other invoice of the period is issued with its PDF."""
    build_billable_items(staged_conn, date(2026, 2, 28))  # which customers February bills (the DAG rebuilds it)
    [(customer, siret)] = tuples(staged_conn, """
        SELECT c.customer_key, c.siret FROM staging.customers c
         WHERE c.customer_type = 'B2B' AND c.siret IS NOT NULL
           AND (c.vat_number IS NULL OR substr(c.vat_number, 5) = c.siren)  -- ready but for the SIRET
           AND EXISTS (SELECT FROM marts.billable_items b WHERE b.customer_key = c.customer_key AND b.currency = 'EUR')
         ORDER BY c.customer_key LIMIT 1""")
    broken = siret[:13] + str((int(siret[13]) + 1) % 10)
    assert not stdnum_siret.is_valid(broken)
    with staged_conn.cursor() as cur:
        cur.execute("UPDATE staging.customers SET siret = %s WHERE customer_key = %s", (broken, customer))
    staged_conn.commit()

    run = invoicing.test(logical_date=datetime(2026, 3, 1, tzinfo=PARIS))
    assert str(run.state) == "success", states(run)
    held = tuples(staged_conn, "SELECT customer_key, rules, reasons FROM marts.held_invoices")
    # every draft of the customer (goods and services may be invoiced apart); the DAG rebuilds the readiness
    # report first, which says the same. Anything else held is a customer that report says is not ready.
    mine = [(rules, reasons) for c, rules, reasons in held if c == customer]
    assert mine and {tuple(rules) for rules, _ in mine} == {("PASSERELLE-ID-SIRET_BT-46", "PASSERELLE-READINESS")}
    assert all(broken in reasons[0] and "(buyer.siret)" in reasons[0] for _, reasons in mine)
    not_ready = {c for (c,) in tuples(staged_conn, "SELECT customer_key FROM marts.customer_readiness WHERE NOT ready")}
    assert {c for c, rules, _ in held if c != customer} <= not_ready
    assert all("PASSERELLE-READINESS" in rules for c, rules, _ in held)
    issued = dict(tuples(staged_conn, "SELECT invoice_number, customer_key FROM marts.invoices"))
    assert len(issued) > 20 and customer not in issued.values()
    assert not set(issued.values()) & not_ready  # the report and issuing agree
    sequences = [s for (s,) in tuples(staged_conn, "SELECT sequence FROM marts.invoice_numbers ORDER BY sequence")]
    assert sequences == list(range(1, len(issued) + 1))  # the held draft took no number
    documents = dict(tuples(staged_conn, "SELECT invoice_number, path FROM marts.invoice_documents"
                                         " WHERE format = 'facturx'"))
    assert set(documents) == set(issued)
    assert all(path.startswith(str(tmp_path)) and open(path, "rb").read(5) == b"%PDF-" for path in documents.values())
    assert tuples(staged_conn, "SELECT count(*) FROM billing.invoiced_items ii JOIN marts.billable_items b"
                               " USING (item_key) WHERE b.customer_key = %s", customer) == [(0,)]
