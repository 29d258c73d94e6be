"""Real runs (``dag.test()``) of the credit note DAG: full and partial credits, bad params, over-crediting."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from passerelle.documents.validation import CiiValidator
from passerelle_dev.examples import EXAMPLE_SELLER, load_example_billing
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle_dev.samples import example_seller
from passerelle.orchestration.airflow_env import warehouse_connection
from tests.db import tuples

pytestmark = pytest.mark.dag


@pytest.fixture
def credit_note(dagbag, staged_warehouse_url, staged_conn, airflow_connections, fast_retries, monkeypatch, tmp_path):
    airflow_connections({"passerelle_warehouse": warehouse_connection(staged_warehouse_url)})
    monkeypatch.setenv("PASSERELLE_SELLER_FILE", str(EXAMPLE_SELLER))
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("PASSERELLE_INVOICE_FORMATS", "facturx,ubl")
    load_example_billing(staged_conn)
    build_billable_items(staged_conn, date(2026, 2, 28))
    with CiiValidator() as validator:
        outcome = issue_period(staged_conn, example_seller(), validator, period_start=date(2026, 2, 1),
                               period_end=date(2026, 2, 28), run_id="feb")
    assert outcome.issued and not outcome.held
    return fast_retries(dagbag.dags["credit_note"], 0)


def request(**conf):
    """Every param given: dag.test() keeps the last run's conf in the DAG's params otherwise."""
    return {"settlement": "deduction", "lines": [], "amount": None} | conf


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_dag_policy(dagbag) -> None:
    dag = dagbag.dags["credit_note"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # triggered by a user, never scheduled
    assert dag.max_active_runs == 1 and dag.doc_md
    assert [t.task_id for t in dag.topological_sort()] == ["check_request", "issue_credit_note", "write_documents"]
    assert set(dag.params) == {"invoice_number", "reason", "settlement", "lines", "amount"}
    assert [a.name for a in dag.get_task("issue_credit_note").outlets] == ["marts.invoices"]


def test_full_then_partial_credit_notes_from_the_ui(credit_note, staged_conn) -> None:
    (full_of,), (partial_of,) = tuples(staged_conn, "SELECT invoice_number FROM marts.invoices WHERE processing_rule ="
                                                    " 'B2B' ORDER BY invoice_number LIMIT 2")
    run = credit_note.test(run_conf=request(**{"invoice_number": full_of, "reason": "facture en double"}))
    assert str(run.state) == "success", states(run)
    (full, total), = tuples(staged_conn, "SELECT invoice_number, grand_total FROM marts.invoices"
                                         " WHERE preceding_number = %s", full_of)
    assert tuples(staged_conn, "SELECT grand_total FROM marts.invoices WHERE invoice_number = %s", full_of) == [(total,)]
    assert {f for (f,) in tuples(staged_conn, "SELECT format FROM marts.invoice_documents WHERE invoice_number = %s",
                                 full)} == {"facturx", "ubl"}
    assert tuples(staged_conn, "SELECT format, passed FROM marts.invoice_validations WHERE invoice_number = %s"
                               " ORDER BY 1", full) == [("cii", True), ("ubl", True)]

    line_id, quantity = tuples(staged_conn, "SELECT line_id, quantity FROM marts.invoice_lines WHERE invoice_number"
                                            " = %s ORDER BY line_id LIMIT 1", partial_of)[0]
    half = (quantity / 2).quantize(Decimal("0.0001"))
    run = credit_note.test(run_conf=request(**{"invoice_number": partial_of, "reason": "quantité erronée",
                                     "settlement": "refund", "lines": [{"line_id": line_id, "quantity": str(half)}]}))
    assert str(run.state) == "success", states(run)
    assert tuples(staged_conn, "SELECT l.line_id, l.quantity, i.payment_terms FROM marts.invoices i JOIN"
                               " marts.invoice_lines l USING (invoice_number) WHERE i.preceding_number = %s",
                  partial_of) == [(line_id, half, "Avoir remboursé par virement sous 30 jours")]


def test_bad_params_are_refused_before_anything_is_issued(credit_note, staged_conn) -> None:
    numbers = tuples(staged_conn, "SELECT count(*) FROM marts.invoice_numbers")
    with pytest.raises(Exception, match="amount") as refused:  # the JSON schema: no run is created
        credit_note.test(run_conf=request(**{"invoice_number": "MS2026-000001", "reason": "x", "amount": "12,5"}))
    assert "ParamValidationError" in type(refused.value).__name__ or "not valid" in str(refused.value).lower() \
        or "does not match" in str(refused.value)
    # what the schema cannot say: lines and an amount together
    run = credit_note.test(run_conf=request(**{"invoice_number": "MS2026-000001", "reason": "x", "amount": "10",
                                     "lines": [{"line_id": "1", "quantity": "1"}]}))
    assert states(run)["check_request"] == "failed" and states(run)["issue_credit_note"] == "upstream_failed"
    assert tuples(staged_conn, "SELECT count(*) FROM marts.invoice_numbers") == numbers


def test_over_crediting_fails_the_run_and_takes_no_number(credit_note, staged_conn) -> None:
    (number, net), = tuples(staged_conn, "SELECT invoice_number, tax_basis_total FROM marts.invoices"
                                         " WHERE processing_rule = 'B2B' ORDER BY invoice_number LIMIT 1")
    numbers = tuples(staged_conn, "SELECT count(*) FROM marts.invoice_numbers")
    run = credit_note.test(run_conf=request(**{"invoice_number": number, "reason": "geste", "amount": str(net + 1)}))
    assert states(run)["issue_credit_note"] == "failed"
    assert tuples(staged_conn, "SELECT count(*) FROM marts.invoice_numbers") == numbers
