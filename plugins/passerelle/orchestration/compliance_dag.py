"""The compliance DAG: readiness, lifecycle statuses, e-reporting (Flux 10) and the period's report.

Triggered whenever the invoicing DAG publishes ``marts.invoices``; a manual or backfill run reports
on the month before its logical date. Tasks: ``customer_readiness`` rebuilds the per-customer
e-invoicing readiness; ``filing_calendar`` lists the periods due under the seller's VAT regime;
``match_payments`` matches the payments of the books (``staging.ledger_payments``, QuickBooks) to the issued
invoices into ``billing.payments``, listing the rest in ``marts.unmatched_payments``;
``cashed_statuses`` then adds the 212 status owed for each payment of a domestic invoice taxed on receipt;
``ereporting`` builds, validates and writes the Flux 10 transmissions of every filing period ending in
the month; ``report`` writes the HTML report with charts under the output folder, in the language of the
run's ``report_language`` parameter (``fr`` or ``en``; unset: ``PASSERELLE_REPORT_LANGUAGE``, French by default).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, Param, chain, get_current_context, task

from passerelle.orchestration.extract_dags import warehouse_connection
from passerelle.orchestration.invoicing_dag import INVOICES_ASSET

DAG_ID = "compliance"
START_DATE = datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))


def report_month() -> tuple[date, date]:
    """The month reported on: the billing period of the triggering invoices, else the month before the run."""
    context = get_current_context()
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            extra = event.extra or {}
            if extra.get("period_start"):
                return date.fromisoformat(extra["period_start"]), date.fromisoformat(extra["period_end"])
    logical = context["logical_date"].in_timezone("Europe/Paris").date()
    end = logical.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def _with_conn(body: Any) -> Any:
    conn = warehouse_connection()
    try:
        return body(conn)
    finally:
        conn.close()


def customer_readiness() -> None:
    from passerelle.reports.readiness import rebuild_customer_readiness

    _with_conn(rebuild_customer_readiness)


def filing_calendar() -> int:
    from passerelle.compliance.ereporting_run import record_calendar
    from passerelle.invoicing.seller import load_seller

    start, end = report_month()
    return _with_conn(lambda conn: record_calendar(conn, load_seller(), start - timedelta(days=62),
                                                   end + timedelta(days=62)))


def match_payments() -> dict[str, Any]:
    from passerelle.payments.matching import match_payments as match

    run_id = get_current_context()["run_id"]
    return _with_conn(lambda conn: match(conn, run_id).summary())


def cashed_statuses() -> int:
    from passerelle.compliance.statuses import cashed_statuses as add

    return _with_conn(add)


def ereporting() -> list[dict[str, Any]]:
    from passerelle.compliance.ereporting_run import ereport, platform_from_environment
    from passerelle.ereporting.calendar import filing_periods
    from passerelle.ereporting.schematron import Flux10Validator
    from passerelle.invoicing.seller import load_seller

    seller, platform = load_seller(), platform_from_environment()
    start, end = report_month()
    run_id = get_current_context()["run_id"]
    validator = Flux10Validator()
    periods = [p for p in filing_periods(seller.vat_regime, start, end) if start <= p.period_end <= end]
    outcomes = _with_conn(lambda conn: [ereport(conn, seller, platform, validator, p, run_id) for p in periods])
    done = [{"flux": o.flux, "period_end": o.period.period_end.isoformat(), "records": o.records, "fatal": o.fatal,
             "path": str(o.path)} for o in outcomes if o]
    invalid = [o for o in done if o["fatal"]]
    if invalid:
        raise RuntimeError(f"Flux 10 transmissions with fatal findings: {invalid}")
    return done


def report() -> str:
    from passerelle.paths import output_dir
    from passerelle.reports.html import write_report

    start, end = report_month()
    language = (get_current_context().get("params") or {}).get("report_language")
    return str(_with_conn(lambda conn: write_report(conn, start, end, output_dir() / "reports", language=language)))


def build_compliance_dag() -> DAG:
    with DAG(
        dag_id=DAG_ID,
        description="E-invoicing readiness, lifecycle statuses, Flux 10 e-reporting and the monthly compliance report",
        doc_md=f"# Compliance\n\n{__doc__}",
        schedule=[INVOICES_ASSET],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        tags=["compliance", "ereporting", "marts"],
        params={"report_language": Param(None, type=["null", "string"], enum=[None, "fr", "en"],
                                         description="Language of the report; unset: PASSERELLE_REPORT_LANGUAGE.")},
        default_args={"owner": "passerelle", "retries": 2, "retry_delay": timedelta(seconds=30),
                      "execution_timeout": timedelta(hours=1)},
    ) as dag:
        readiness = task(customer_readiness, task_id="customer_readiness",
                         doc_md="Rebuild marts.customer_readiness (`include/sql/reports/customer_readiness.sql`).")()
        calendar = task(filing_calendar, task_id="filing_calendar",
                        doc_md="marts.filing_calendar for the seller's VAT regime.")()
        payments = task(match_payments, task_id="match_payments",
                        doc_md="Payments of the books matched to issued invoices (billing.payments); the rest in "
                               "marts.unmatched_payments with the reason.")()
        statuses = task(cashed_statuses, task_id="cashed_statuses",
                        doc_md="Status 212 for payments of domestic invoices taxed on receipt.")()
        payments >> statuses
        flux10 = task(ereporting, task_id="ereporting",
                      doc_md="Flux 10 transmissions (10.1/10.3 transactions, 10.2/10.4 payments), XSD + schematron.")()
        html = task(report, task_id="report", trigger_rule="all_done",
                    doc_md="The month's HTML compliance report with charts (written even if e-reporting failed).")()
        chain([readiness, calendar, statuses], flux10, html)
    return dag
