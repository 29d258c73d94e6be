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

import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from passerelle_dev.console import print_table
from passerelle_dev.examples import load_example_billing, use_example_configuration
from passerelle.paths import output_dir

PARIS = ZoneInfo("Europe/Paris")
PERIOD_ENDS = (datetime(2026, 2, 1, tzinfo=PARIS), datetime(2026, 3, 1, tzinfo=PARIS))


def run(dags: dict[str, Any], conn: Any, sandbox: Any) -> bool:
    from passerelle.documents.validation import CiiValidator
    from passerelle.invoicing.credit import credit_invoice
    from passerelle.invoicing.seller import load_seller
    from passerelle.orchestration.runner import run_interval

    use_example_configuration()
    load_example_billing(conn)
    ok = True
    print("\ninvoicing (monthly billing periods) and compliance")
    for index, end in enumerate(PERIOD_ENDS):
        t0 = time.monotonic()
        result = run_interval(dags["invoicing"], end)
        print(f"  invoicing {end - timedelta(days=1):%Y-%m}: {result.state} in {time.monotonic() - t0:.1f}s")
        ok &= str(result.state) == "success"
        if index == 0:
            paid = pay_in_the_books(dags, conn, sandbox, date(2026, 2, 20))
            with conn.cursor() as cur:
                cur.execute("SELECT min(invoice_number) FROM marts.invoices WHERE processing_rule = 'B2B'"
                            " AND invoice_number NOT IN (SELECT invoice_number FROM billing.payments)")
                target = cur.fetchone()[0]
            conn.rollback()
            with CiiValidator() as validator:
                credit = credit_invoice(conn, load_seller(), validator, target, "quantité facturée erronée",
                                        "demo-credit", issue_date=date(2026, 2, 10))
            print(f"  payments matched from QuickBooks: {paid}; credit note {credit} cancels {target} "
                  "(its items are billed again)")
    for end in PERIOD_ENDS:
        t0 = time.monotonic()
        result = run_interval(dags["compliance"], end)
        print(f"  compliance {end - timedelta(days=1):%Y-%m}: {result.state} in {time.monotonic() - t0:.1f}s")
        ok &= str(result.state) == "success"
    print_outcome(conn)
    return ok


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
    print(f"  QuickBooks: {len(chosen)} issued invoices booked and paid; extract_quickbooks {extract.state}; "
          f"payments matched {outcome.matched}, unmatched {sum(outcome.unmatched.values())} "
          f"({', '.join(f'{code} {n}' for code, n in sorted(outcome.unmatched.items()))})")
    return outcome.matched


def print_outcome(conn: Any) -> None:

    def rows(query: str) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(query)
            result = cur.fetchall()
        conn.rollback()
        return result

    print_table("e-invoicing readiness (marts.customer_readiness)", ("classification", "customers", "ready", "not ready"),
                rows("SELECT classification, count(*), count(*) FILTER (WHERE ready), count(*) FILTER (WHERE NOT ready)"
                     " FROM marts.customer_readiness GROUP BY 1 ORDER BY 1"))
    print_table("invoices issued (marts.invoices)", ("type", "rule", "currency", "invoices", "net", "VAT", "VAT in EUR"),
                rows("SELECT type_code, processing_rule, currency, count(*), sum(tax_basis_total), sum(tax_total),"
                     " sum(coalesce(tax_total_eur, tax_total)) FROM marts.invoices GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"))
    print_table("validation pass rate per format (marts.invoice_validations)", ("format", "documents", "passed", "rate"),
                rows("SELECT format, count(*), count(*) FILTER (WHERE passed),"
                     " round(100.0 * count(*) FILTER (WHERE passed) / count(*), 1) || ' %'"
                     " FROM marts.invoice_validations GROUP BY 1 ORDER BY 1"))
    print_table("held invoices (marts.held_invoices)", ("invoice key", "rules"),
                rows("SELECT invoice_key, array_to_string(rules, ', ') FROM marts.held_invoices") or [("none", "")])
    print_table("billing exceptions (marts.billing_exceptions)", ("kind", "count", "example reason"),
                rows("SELECT kind, count(*), left(min(reason), 90) FROM marts.billing_exceptions GROUP BY 1 ORDER BY 1"))
    print_table("payments from the books (billing.payments, marts.unmatched_payments)", ("outcome", "payments", "amount"),
                rows("SELECT 'matched', count(*), sum(amount) FROM billing.payments WHERE source IS NOT NULL"
                     " UNION ALL SELECT 'unmatched: ' || reason_code, count(*), sum(amount)"
                     " FROM marts.unmatched_payments GROUP BY reason_code ORDER BY 1"))
    print_table("e-reporting (marts.ereporting_transmissions)", ("flux", "period", "due", "records", "valid", "file"),
                rows("SELECT flux, period_start || '..' || period_end, due_date, records, valid, path"
                     " FROM marts.ereporting_transmissions ORDER BY period_start, flux"))
    documents = rows("SELECT format, count(*), min(path) FROM marts.invoice_documents GROUP BY 1 ORDER BY 1")
    print_table("documents written (marts.invoice_documents)", ("format", "files", "first"), documents)
    print(f"\ninvoice documents: {output_dir() / 'invoices'}")
    print(f"e-reporting files: {output_dir() / 'ereporting'}")
    for path in sorted((output_dir() / "reports").glob("*.html")):
        print(f"compliance report: {path}")
