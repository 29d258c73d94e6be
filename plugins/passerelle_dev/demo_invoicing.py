"""The invoicing half of ``make demo``: two monthly billing periods, payments from the books, a credit note, compliance.

January is invoiced; the bookkeeper then types a third of its invoices, and every B2C one taxed on receipt, into
the QuickBooks sandbox and records their payments there on 20 February (:mod:`passerelle_dev.books`); the
QuickBooks extract DAG reads them, the ledger staging models are rebuilt and the payments are matched to the
issued invoices (:mod:`passerelle.payments.matching`; the sandbox's own drawn books reuse issued numbers, so
those payments are listed as unmatched with their reason). One invoice is cancelled by a credit note on
10 February (its items are billed again, corrected, in February); February is invoiced; the compliance DAG
(matching again, then 212 statuses and Flux 10) reports on each month. Everything printed comes from the warehouse.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from passerelle_dev.console import print_table
from passerelle_dev.demo_output import Progress, console, say, totals
from passerelle_dev.examples import load_example_billing, use_example_configuration
from passerelle.paths import output_dir

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")
PERIOD_ENDS = (datetime(2026, 2, 1, tzinfo=PARIS), datetime(2026, 3, 1, tzinfo=PARIS))


def run(dags: dict[str, Any], conn: Any, sandbox: Any, progress: Progress) -> bool:
    from passerelle.documents.validation import CiiValidator
    from passerelle.invoicing.credit import credit_invoice
    from passerelle.invoicing.seller import load_seller
    from passerelle.orchestration.runner import run_interval

    use_example_configuration()
    load_example_billing(conn)
    ok = True
    for index, end in enumerate(PERIOD_ENDS):
        month = end - timedelta(days=1)
        with progress.stage(f"invoicing {month:%Y-%m}") as counts:
            result = run_interval(dags["invoicing"], end)
            counts[""] = result.state
            counts.update(month_counts(conn, month))
        ok &= str(result.state) == "success"
        if index == 0:
            with progress.stage("payments from QuickBooks") as counts:
                counts["matched"] = pay_in_the_books(dags, conn, sandbox, date(2026, 2, 20))
            with progress.stage("credit note") as counts:
                with conn.cursor() as cur:
                    cur.execute("SELECT min(invoice_number) FROM marts.invoices WHERE processing_rule = 'B2B'"
                                " AND invoice_number NOT IN (SELECT invoice_number FROM billing.payments)")
                    target = cur.fetchone()[0]
                conn.rollback()
                with CiiValidator() as validator:
                    credit = credit_invoice(conn, load_seller(), validator, target, "quantité facturée erronée",
                                            "demo-credit", issue_date=date(2026, 2, 10))
                counts[""] = f"{credit} cancels {target} (its items are billed again)"
    for end in PERIOD_ENDS:
        with progress.stage(f"compliance {end - timedelta(days=1):%Y-%m}") as counts:
            result = run_interval(dags["compliance"], end)
            counts[""] = result.state
        ok &= str(result.state) == "success"
    return ok


def month_counts(conn: Any, month: datetime) -> dict[str, object]:
    """Invoices issued and held for the billing period of ``month``."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM marts.invoices WHERE billing_period_end = %s", (month.date(),))
        issued = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM marts.held_invoices WHERE billing_period_end = %s", (month.date(),))
        held = cur.fetchone()[0]
    conn.rollback()
    return {"invoices issued": issued, "held": held}


def pay_in_the_books(dags: dict[str, Any], conn: Any, sandbox: Any, paid_on: date) -> int:
    """A third of the invoices, and every B2C one taxed on receipt (so the demo files Flux 10.4), booked and paid
    in QuickBooks; then extracted, staged and matched. Returns the payments matched."""
    from passerelle.payments.matching import match_payments
    from passerelle.quality.validate import validate_staging
    from passerelle.transform.models import run_staging
    from passerelle.orchestration.runner import run_interval
    from passerelle_dev.books import Books, issued_invoices

    control = sandbox.vendors["quickbooks"].control
    books = Books(control)
    chosen = [i for i in issued_invoices(conn) if i.number[-1] in "147"
              or (i.processing_rule == "B2C" and i.vat_point == "payment")]
    for invoice in chosen:
        record = books.book(invoice)
        books.pay(record["CustomerRef"]["value"], paid_on, [(record, invoice.due_payable)])
    end = control.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    control.set_clock(end + timedelta(minutes=30))
    extract = run_interval(dags["extract_quickbooks"], end)
    ledger = ["ledger_customers", "ledger_invoices", "ledger_payments"]
    run_staging(conn, ledger)  # the ledger models of the transform DAG, alone: nothing else changed
    validate_staging(conn, "demo-books", tables=[f"staging.{name}" for name in ledger])
    outcome = match_payments(conn, "demo-books")
    log.info("QuickBooks: %d issued invoices booked and paid; extract_quickbooks %s; payments matched %d, "
             "unmatched %s", len(chosen), extract.state, outcome.matched, dict(sorted(outcome.unmatched.items())))
    return outcome.matched


def print_outcome(conn: Any) -> None:
    """Invoices issued and held, documents and their validation, payments, e-reporting, the files' paths."""

    def rows(query: str) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(query)
            result = cur.fetchall()
        conn.rollback()
        return result

    out = console()
    print_table("invoices issued (marts.invoices)", ("type", "rule", "currency", "invoices", "net", "VAT", "VAT in EUR"),
                rows("SELECT type_code, processing_rule, currency, count(*), sum(tax_basis_total), sum(tax_total),"
                     " sum(coalesce(tax_total_eur, tax_total)) FROM marts.invoices GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"),
                numeric_from=3, file=out)
    say()
    say("held invoices by rule: " + totals(rows(
        "SELECT rule, count(*) FROM marts.held_invoices, unnest(rules) AS rule GROUP BY 1 ORDER BY 1")))
    say("customers ready for e-invoicing: " + totals(rows(
        "SELECT classification, count(*) FILTER (WHERE ready) || '/' || count(*) FROM marts.customer_readiness"
        " GROUP BY 1 ORDER BY 1")))
    say("documents passing validation: " + totals(rows(
        "SELECT format, count(*) FILTER (WHERE passed) || '/' || count(*) FROM marts.invoice_validations"
        " GROUP BY 1 ORDER BY 1")))
    say("billing exceptions: " + totals(rows(
        "SELECT kind, count(*) FROM marts.billing_exceptions GROUP BY 1 ORDER BY 1")))
    say("payments from the books: " + totals(rows(
        "SELECT 'matched', count(*) FROM billing.payments WHERE source IS NOT NULL"
        " UNION ALL SELECT 'unmatched ' || reason_code, count(*)"
        " FROM marts.unmatched_payments GROUP BY reason_code ORDER BY 1")))
    print_table("e-reporting (marts.ereporting_transmissions)", ("flux", "period", "due", "records", "valid", "file"),
                [(flux, period, due, records, valid, Path(path).name if path else "") for flux, period, due, records,
                 valid, path in rows("SELECT flux, period_start || '..' || period_end, due_date, records, valid, path"
                                     " FROM marts.ereporting_transmissions ORDER BY period_start, flux")],
                file=out)
    say()
    say("documents written: " + totals(rows("SELECT format, count(*) FROM marts.invoice_documents GROUP BY 1 ORDER BY 1"))
        + f" in {output_dir() / 'invoices'}; e-reporting files in {output_dir() / 'ereporting'}")
    for path in sorted((output_dir() / "reports").glob("*.html")):
        say(f"compliance report: {path}")
