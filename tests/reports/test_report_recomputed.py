"""Every table of the compliance report equals its recomputation from the issued CII files and the payments
and statuses recorded, both as :func:`load_report_data` returns it and as the HTML page shows it; and Flux
10.2/10.4 equal their recomputation from the same files and payments.

The sandbox dataset's January and February are issued through the production path (EUR, GBP, USD and CHF
invoices, several with two or three VAT rates, VAT on debits, delivery and receipt), a multi-rate invoice is
credited in February, payments are recorded (whole, in parts, two on one day, one after the period, a refund
on the credit note) and lifecycle statuses set. :mod:`tests.reports.report_recompute` then reads only the files
and the test's inputs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from passerelle.compliance.ereporting_run import ereport
from passerelle.documents.validation import CiiValidator
from passerelle.ereporting.calendar import FlowKind, filing_periods
from passerelle.ereporting.flux10 import Platform
from passerelle.ereporting.schematron import Flux10Validator
from passerelle.invoicing.credit import credit_invoice
from passerelle.invoicing.drafts import Draft
from passerelle_dev.examples import load_example_billing
from passerelle.invoicing.issue import build_billable_items, issue_draft, issue_period, write_documents
from passerelle.einvoice.model import InvoiceLine, ProcessingRule, VatCategory, VatPoint
from passerelle_dev.samples import BUYER_BE, example_seller, invoice
from passerelle.reports.data import ReportData, load_report_data
from passerelle.reports.html import render_report
from tests.ereporting import flux10_artefacts
from tests.ereporting.flux10_recompute import (
    CiiDocument, Payment, cents, payment_differences, read_documents, reported_payments,
)
from tests.reports import add_event, add_payment
from tests.reports.report_recompute import (
    Table, html_lifecycle, html_tables, html_vat_invoiced, html_vat_on_receipts, lifecycle, vat_invoiced,
    vat_on_receipts,
)

JANUARY, FEBRUARY = (date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 2, 1), date(2026, 2, 28))
PLATFORM = Platform("0042", "Plateforme Exemple")
AS_OF = date(2026, 3, 15)


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def _issue(conn, seller) -> None:
    load_example_billing(conn)
    with CiiValidator() as validator:
        for start, end in (JANUARY, FEBRUARY):
            build_billable_items(conn, end)
            issue_period(conn, seller, validator, period_start=start, period_end=end, run_id="setup")
        with conn.cursor() as cur:
            # A January B2C invoice with several rates, VAT on receipt: credited in full at the end of February.
            cur.execute("""SELECT i.invoice_number FROM marts.invoices i
                            WHERE i.processing_rule = 'B2C' AND i.vat_point = 'payment' AND i.issue_date <= %s
                              AND (SELECT count(*) FROM marts.invoice_vat_breakdown b
                                    WHERE b.invoice_number = i.invoice_number) > 1
                            ORDER BY i.invoice_number LIMIT 1""", (JANUARY[1],))
            (credited,) = cur.fetchone()
        credit_invoice(conn, seller, validator, credited, "Erreur de facturation", "setup", FEBRUARY[1])
        # A service taxed in France for a Belgian company (a training day in Paris and its meals), VAT on
        # receipt: Flux 10.2 carries its payments.
        lines = [InvoiceLine("1", "Formation à Paris", Decimal(1), "DAY", Decimal("1234.57"), VatCategory.STANDARD,
                             Decimal("20")),
                 InvoiceLine("2", "Repas", Decimal(3), "C62", Decimal("23.45"), VatCategory.STANDARD, Decimal("10"))]
        training = replace(invoice(BUYER_BE, ProcessingRule.B2BINT, lines, seller=seller, issued=date(2026, 2, 20)),
                           vat_point=VatPoint.PAYMENT, exemptions={})  # standard-rated: no exemption
        number, _ = issue_draft(conn, seller, validator,
                                Draft("training:1", "training-customer", training, (), *FEBRUARY), "setup")
        if not number:
            with conn.cursor() as cur:
                cur.execute("SELECT rules, reasons FROM marts.held_invoices")
                raise AssertionError(cur.fetchall())


def _grand_total(document: CiiDocument) -> Decimal:
    return sum((row.base + row.tax for row in document.vat), Decimal(0))


def _pay_and_set_statuses(conn, documents: list[CiiDocument]) -> tuple[list[Payment], list[tuple]]:
    """Payments on every document taxed on receipt, in several shapes; statuses on every document."""
    payments: list[Payment] = []
    events: list[tuple[str, int, datetime]] = []

    def pay(number: str, day: date, amount: Decimal) -> int:
        payments.append(Payment(number, day, amount))
        return add_payment(conn, number, day, str(amount))

    def status(number: str, code: int, at: datetime, **extra) -> None:
        events.append((number, code, at))
        add_event(conn, number, code, at, **extra)

    on_receipt = [d for d in sorted(documents, key=lambda d: d.number) if d.vat_point == "payment"]
    for index, document in enumerate(on_receipt):
        total, january = _grand_total(document), document.issue_date <= JANUARY[1]
        if document.type_code == "381":  # the refund of the credit note, the day it is issued
            pay(document.number, document.issue_date, total)
        elif index % 3 == 0:  # whole: early February for January's invoices, else the day of issue
            paid = pay(document.number, date(2026, 2, 5) if january else document.issue_date, total)
            if document.rule == "B2B":
                status(document.number, 212, _at(payments[-1].paid_on, 15), source="payments", payment_id=paid)
        elif index % 3 == 1 or document.rule == "B2BINT":  # two thirds in two payments on one day, the rest never
            third = cents(total / 3)
            day = date(2026, 2, 10) if january else FEBRUARY[1]
            pay(document.number, day, third)
            pay(document.number, day, third)
        else:  # a seventh in the period, the rest after it
            seventh = cents(total / 7)
            pay(document.number, FEBRUARY[1], seventh)
            pay(document.number, date(2026, 3, 3), total - seventh)
    for index, document in enumerate(sorted(documents, key=lambda d: d.number)):
        if index % 4 == 3:
            continue  # no status yet
        status(document.number, 200, _at(document.issue_date, 9))
        if index % 5 == 1:
            status(document.number, 210, _at(document.issue_date, 18), source="buyer", reason_code="TX_TVA_ERR",
                   reason="Taux de TVA erroné")
    return payments, events


def _data_vat(data: ReportData) -> Table:
    rows = {}
    for line in data.vat:
        key = (line.month.strftime("%Y-%m"), line.processing_rule, line.vat_category, line.vat_rate, line.vat_due_on)
        assert key not in rows, key
        rows[key] = (line.invoices, line.credit_notes, line.taxable_eur, line.vat_eur)
    return Table(rows, (data.vat_documents.invoices, data.vat_documents.credit_notes,
                        sum((line.taxable_eur for line in data.vat), Decimal(0)),
                        sum((line.vat_eur for line in data.vat), Decimal(0))))


def _data_receipts(data: ReportData) -> Table:
    rows = {}
    for line in data.receipts:
        key = (line.month.strftime("%Y-%m"), line.processing_rule, line.vat_category, line.vat_rate)
        assert key not in rows, key
        rows[key] = (line.payments, line.cashed_eur, line.taxable_eur, line.vat_eur)
    return Table(rows, (data.receipt_payments, *(sum((r[i] for r in rows.values()), Decimal(0)) for i in (1, 2, 3))))


def _data_lifecycle(data: ReportData) -> Table:
    return Table({(s.status_code,): (s.invoices,) for s in data.statuses}, (sum(s.invoices for s in data.statuses),))


@pytest.mark.dag
def test_report_tables_and_payment_fluxes_equal_their_recomputation_from_the_issued_files(staged_conn,
                                                                                           tmp_path: Path) -> None:
    seller = example_seller()
    _issue(staged_conn, seller)
    write_documents(staged_conn, {}, formats=("cii",), root=tmp_path / "invoices")
    with staged_conn.cursor() as cur:
        cur.execute("SELECT path FROM marts.invoice_documents WHERE format = 'cii'")
        documents = read_documents(Path(path) for (path,) in cur.fetchall())
        cur.execute("SELECT invoice_number, eur_per_unit FROM marts.invoices WHERE eur_per_unit IS NOT NULL")
        eur_per_unit = dict(cur.fetchall())
    by_number = {d.number: d for d in documents}
    # The data set holds what the report must get right.
    assert any(d.type_code == "381" and len(d.vat) > 1 for d in documents)
    assert {d.currency for d in documents} >= {"EUR", "GBP", "USD", "CHF"}
    assert sum(1 for d in documents if len(d.vat) > 1) >= 5
    assert {d.vat_point for d in documents} >= {"delivery", "payment"}
    payments, events = _pay_and_set_statuses(staged_conn, documents)

    for start, end in ((JANUARY[0], FEBRUARY[1]), FEBRUARY, (date(2026, 2, 10), date(2026, 2, 28))):
        data = load_report_data(staged_conn, start, end, AS_OF)
        want_vat = vat_invoiced(documents, start, end, eur_per_unit)
        want_receipts = vat_on_receipts(by_number, payments, start, end, eur_per_unit)
        want_lifecycle = lifecycle(documents, start, end, events)
        assert _data_vat(data) == want_vat, (start, end)
        assert _data_receipts(data) == want_receipts, (start, end)
        assert _data_lifecycle(data) == want_lifecycle, (start, end)

        tables = html_tables(render_report(data, "fr"))
        assert html_vat_invoiced(tables["TVA facturée, par mois d'émission (BT-2)"]) == want_vat
        assert html_vat_on_receipts(tables["TVA exigible sur les encaissements, par date d'encaissement"]) == \
            want_receipts
        assert html_lifecycle(tables["Documents émis, par date d'émission (BT-2)"]) == want_lifecycle

    # The whole period: a multi-rate document counts once in the total, the credit note on its own day.
    whole = vat_invoiced(documents, JANUARY[0], FEBRUARY[1], eur_per_unit)
    assert whole.total[:2] == (sum(1 for d in documents if d.type_code == "380"),
                               sum(1 for d in documents if d.type_code == "381"))
    assert sum(row[0] + row[1] for row in whole.rows.values()) > sum(whole.total[:2])
    assert vat_invoiced(documents, *JANUARY, eur_per_unit).total[1] == 0
    assert vat_invoiced(documents, *FEBRUARY, eur_per_unit).total[1] == 1
    assert vat_on_receipts(by_number, payments, *FEBRUARY, eur_per_unit).total[0] > 5

    # Flux 10.2 / 10.4 of January to March from the same files and payments.
    validator = Flux10Validator(flux10_artefacts())
    reports = []
    for period in filing_periods(seller.vat_regime, JANUARY[0], date(2026, 3, 31)):
        if period.kind is FlowKind.PAYMENTS:
            outcome = ereport(staged_conn, seller, PLATFORM, validator, period, "recompute", tmp_path / "ereporting")
            if outcome is not None:
                assert outcome.fatal == 0, outcome
                reports.append(outcome.path.read_bytes())
    problems, compared = payment_differences(reports, documents, payments, eur_per_unit)
    assert problems == []
    read = [reported_payments(content) for content in reports]
    assert any(unitary for _, _, unitary, _ in read) and any(daily for _, _, _, daily in read), read
    assert compared == sum(len(unitary) + len(daily) for _, _, unitary, daily in read)
