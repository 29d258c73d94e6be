"""Real runs (``dag.test()``) of the invoicing DAG on the sandbox dataset's validated staging layer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from facturx import get_xml_from_pdf

from passerelle.invoicing.examples import EXAMPLE_SELLER, load_example_billing
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
