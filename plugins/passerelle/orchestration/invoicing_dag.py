"""The invoicing DAG: one run per monthly billing period, backfillable from the Airflow UI or CLI.

The data interval is the billing period (Europe/Paris months). ``check_seller`` fails fast (no retry) on
an invalid seller configuration; ``build_billable_items`` computes what is due by the period's end and
the exceptions, under the seller's issuing lock (never while another run is issuing); ``issue_invoices``
first writes the documents still missing of invoices issued earlier (a retry after a crash, a format
added since), then checks, numbers, validates and records each invoice with its Factur-X PDF (and
CII/UBL on request) in one transaction, so an issued number always has its documents (held drafts keep
their rule ids, reasons and findings and consume no number; one bad draft never stops the others);
``write_documents`` writes documents still missing for any seller's invoices. Rerunning or backfilling a
period issues nothing twice: the ledger (``billing.invoiced_items``) already holds what was billed, and
numbers are tied to their invoice key.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, Asset, chain, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from passerelle.orchestration.extract_dags import warehouse_connection

log = logging.getLogger("airflow.task")
DAG_ID = "invoicing"
PARIS = ZoneInfo("Europe/Paris")
START_DATE = datetime(2026, 1, 1, tzinfo=PARIS)
INVOICES_ASSET = Asset(name="marts.invoices", uri="passerelle://warehouse/marts/invoices", group="marts")


def billing_period() -> tuple[Any, Any]:
    """(first day, last day) of the run's billing period, from its data interval in Paris time."""
    context = get_current_context()
    start = context["data_interval_start"].in_timezone("Europe/Paris").date()
    end = context["data_interval_end"].in_timezone("Europe/Paris").date() - timedelta(days=1)
    return start, end


def check_seller() -> dict[str, Any]:
    """The seller configuration, validated; an invalid one fails at once (retrying cannot fix it), while a
    failure to start the task at all (Airflow not ready yet) is retried like any other task."""
    from airflow.sdk.exceptions import AirflowFailException

    from passerelle.invoicing.seller import SellerConfigError, load_seller

    log.info("checking the seller configuration (PASSERELLE_SELLER_FILE or PASSERELLE_SELLER)")
    try:
        seller = load_seller()
    except SellerConfigError as error:
        raise AirflowFailException(str(error)) from None
    log.info("seller %s (SIREN %s, VAT regime %s): valid", seller.legal_name, seller.siren, seller.vat_regime.value)
    return {"seller": seller.legal_name, "siren": seller.siren, "regime": seller.vat_regime.value}


def build_items() -> dict[str, Any]:
    """Billable items and customer readiness, so issuing holds customers on today's data, not a stale report.

    Both under the seller's issuing lock: a run issuing meanwhile (a backfill, a manual run) finishes
    first, and the items rebuilt after it leave out what it invoiced.
    """
    from passerelle.invoicing.issue import build_billable_items
    from passerelle.invoicing.numbering import issuing_lock
    from passerelle.invoicing.seller import load_seller
    from passerelle.reports.readiness import rebuild_customer_readiness

    _, end = billing_period()
    siren = load_seller().siren
    conn = warehouse_connection()
    try:
        with issuing_lock(conn, siren):
            built = build_billable_items(conn, end, seller_siren=siren)
            rebuild_customer_readiness(conn)
    finally:
        conn.close()
    return built.as_dict()


def issue_invoices() -> dict[str, Any]:
    from passerelle.documents.validation import CiiValidator
    from passerelle.invoicing.issue import issue_period
    from passerelle.invoicing.seller import load_seller

    start, end = billing_period()
    context = get_current_context()
    conn = warehouse_connection()
    try:
        with CiiValidator() as validator:
            outcome = issue_period(conn, load_seller(), validator, period_start=start, period_end=end,
                                   run_id=context["run_id"])
    finally:
        conn.close()
    summary = outcome.as_dict()
    context["outlet_events"][INVOICES_ASSET].extra = {k: v for k, v in summary.items() if k != "held_keys"}
    return summary


def write_missing_documents(numbers: list[str] | None = None) -> int:
    """Write the documents still missing (of ``numbers``, or of every ready invoice) for this run."""
    from passerelle.invoicing.issue import write_documents as write

    conn = warehouse_connection()
    try:
        return write(conn, numbers=numbers, run_id=get_current_context()["run_id"])
    finally:
        conn.close()


def build_invoicing_dag() -> DAG:
    with DAG(
        dag_id=DAG_ID,
        description="Monthly billing: billable items, numbered and validated EN 16931 invoices, Factur-X documents",
        doc_md=f"# Invoicing\n\n{__doc__}",
        schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="Europe/Paris"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # numbers follow issue dates: one period at a time
        dagrun_timeout=timedelta(hours=4),
        tags=["invoicing", "marts"],
        default_args={"owner": "passerelle", "retries": 2, "retry_delay": timedelta(seconds=30),
                      "execution_timeout": timedelta(hours=2)},
    ) as dag:
        chain(
            task(check_seller, task_id="check_seller",
                 doc_md="Load and validate the seller configuration (every problem at once).")(),
            task(build_items, task_id="build_billable_items",
                 doc_md="`include/sql/billing/billable_items.sql`: marts.billable_items and marts.billing_exceptions;"
                        " marts.customer_readiness rebuilt with the issuing checks.")(),
            task(issue_invoices, task_id="issue_invoices", outlets=[INVOICES_ASSET],
                 doc_md="Number, validate (XSD, EN 16931, BR-FR) and record each invoice; hold failing drafts.")(),
            task(write_missing_documents, task_id="write_documents",
                 doc_md="Write the missing Factur-X PDF/A-3 (and CII/UBL per PASSERELLE_INVOICE_FORMATS).")(),
        )
    return dag
