"""The credit note DAG: a user credits an invoice, in full or in part, from the Airflow UI's trigger form.

Not scheduled: each run is one request, its params checked against their JSON schema before the run
starts (invoice number, reason, settlement ``deduction`` or ``refund``, and optionally either ``lines`` —
line ids with the quantity to credit — or a net ``amount``). ``check_request`` then applies the rules the
schema cannot express (lines or amount, not both) and fails with every problem named; ``issue_credit_note``
numbers, validates and records the credit note (:mod:`passerelle.invoicing.credit`: refused, with its
reason, when it would credit more than the invoice or fails validation — no number consumed) and commits
it with its Factur-X (and CII/UBL per ``PASSERELLE_INVOICE_FORMATS``); ``write_documents`` writes any that
are still missing (a format added later). A retried run
returns the credit note it already issued: the run id identifies the request. The ``marts.invoices`` event
names the credit note's month, so the compliance DAG e-reports it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, Param, chain, get_current_context, task

from passerelle.orchestration.extract_dags import warehouse_connection
from passerelle.orchestration.invoicing_dag import INVOICES_ASSET, write_missing_documents

DAG_ID = "credit_note"
START_DATE = datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))
NUMBER_PATTERN = r"^[A-Za-z0-9+\-_/]{1,35}$"
QUANTITY_PATTERN = r"^\d{1,15}(\.\d{1,4})?$"
MONEY_PATTERN = r"^\d{1,15}(\.\d{1,2})?$"

PARAMS = {
    "invoice_number": Param(type="string", pattern=NUMBER_PATTERN, title="Invoice number",
                            description="The invoice to credit (BT-25), e.g. MS2026-000042."),
    "reason": Param(type="string", minLength=1, maxLength=300, title="Reason",
                    description="Why the invoice is credited; printed on the credit note."),
    "settlement": Param("deduction", type="string", enum=["deduction", "refund"], title="Settlement",
                        description="deduction: from the customer's next payment; refund: by transfer."),
    "lines": Param([], type="array", title="Lines (partial credit)",
                   description='Leave empty for a full credit, or e.g. [{"line_id": "2", "quantity": "1.5"}].',
                   items={"type": "object", "additionalProperties": False, "required": ["line_id", "quantity"],
                          "properties": {"line_id": {"type": "string", "minLength": 1},
                                         "quantity": {"type": "string", "pattern": QUANTITY_PATTERN}}}),
    "amount": Param(None, type=["null", "string"], pattern=MONEY_PATTERN, title="Amount (partial credit)",
                    description="A net amount excluding VAT, e.g. 150.00, spread over the invoice's VAT rates."),
}


def check_request() -> dict[str, Any]:
    from passerelle.invoicing.credit import parse_request

    request = parse_request(dict(get_current_context()["params"]))
    return {"invoice_number": request.invoice_number, "settlement": request.settlement,
            "lines": {line_id: str(quantity) for line_id, quantity in request.lines.items()},
            "amount": None if request.amount is None else str(request.amount)}


def issue_credit_note() -> str:
    from airflow.sdk.exceptions import AirflowFailException

    from passerelle.documents.validation import CiiValidator
    from passerelle.invoicing.credit import CreditRefused, credit_request, parse_request
    from passerelle.invoicing.seller import load_seller

    context = get_current_context()
    request = parse_request(dict(context["params"]))
    conn = warehouse_connection()
    try:
        with CiiValidator() as validator:
            number = credit_request(conn, load_seller(), validator, request, context["run_id"])
        with conn.cursor() as cur:
            cur.execute("SELECT issue_date FROM marts.invoices WHERE invoice_number = %s", (number,))
            issued = cur.fetchone()[0]
        conn.rollback()
    except CreditRefused as refused:
        raise AirflowFailException(str(refused)) from refused  # the request must change: no retry
    finally:
        conn.close()
    first = issued.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    context["outlet_events"][INVOICES_ASSET].extra = {
        "period_start": first.isoformat(), "period_end": last.isoformat(), "credit_note": number,
        "credited": request.invoice_number}
    return number


def write_documents() -> int:
    """The credit note's documents, should one be missing (they are committed with it)."""
    number = get_current_context()["ti"].xcom_pull(task_ids="issue_credit_note")
    return write_missing_documents(numbers=[number])


def build_credit_note_dag() -> DAG:
    with DAG(
        dag_id=DAG_ID,
        description="Credit an issued invoice, in full or in part: numbered, validated credit note (381) and documents",
        doc_md=f"# Credit note\n\n{__doc__}",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # numbers follow issue dates, and a credit must see the ones before it
        params=PARAMS,
        tags=["invoicing", "marts"],
        default_args={"owner": "passerelle", "retries": 2, "retry_delay": timedelta(seconds=30),
                      "execution_timeout": timedelta(minutes=30)},
    ) as dag:
        chain(
            task(check_request, task_id="check_request", retries=0,
                 doc_md="Check the request beyond its JSON schema (lines or amount, not both).")(),
            task(issue_credit_note, task_id="issue_credit_note", outlets=[INVOICES_ASSET],
                 doc_md="Number, validate (XSD, EN 16931, BR-FR) and record the credit note; release fully "
                        "credited items.")(),
            task(write_documents, task_id="write_documents",
                 doc_md="Write the credit note's Factur-X PDF/A-3 (and CII/UBL per PASSERELLE_INVOICE_FORMATS).")(),
        )
    return dag
