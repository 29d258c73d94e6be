"""Every Flux 10 transactions figure equals its recomputation from the issued CII files.

The invoices are issued through the production path (numbering, CII validation, marts), their CII files
written, and ``ereport`` run; :mod:`tests.ereporting.flux10_recompute` then reads only the files. Two
data sets: random invoice sets (hypothesis: mixed goods and services, line and document allowances and
charges, credit notes, foreign currencies, B2C and B2B-international), and the sandbox dataset's January
and February with a credit note.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from passerelle.compliance.ereporting_run import ereport
from passerelle.documents.validation import CiiValidator
from passerelle.ereporting.calendar import FilingPeriod, FlowKind, filing_periods
from passerelle.ereporting.flux10 import Platform
from passerelle.ereporting.schematron import Flux10Validator
from passerelle.invoicing.drafts import Draft
from passerelle_dev.examples import load_example_billing
from passerelle.invoicing.credit import credit_invoice
from passerelle.invoicing.issue import build_billable_items, issue_draft, issue_period, write_documents
from passerelle.einvoice.model import AllowanceCharge, Invoice, InvoiceLine, ProcessingRule, VatCategory
from passerelle_dev.samples import BUYER_B2C, example_seller, invoice
from passerelle.warehouse.settings import connect
from tests.ereporting import flux10_artefacts
from tests.ereporting.flux10_recompute import differences, read_documents
from tests.fixtures.warehouse import cloned_database
from tests.invoicing.strategies import DOMESTIC_B2C, EXPORT, INTRA_EU, SELLER, invoices

PLATFORM = Platform("0042", "Plateforme Exemple")
DECADE = (date(2026, 3, 1), date(2026, 3, 10))


@pytest.fixture(scope="module")
def cii_validator():
    with CiiValidator() as validator:
        yield validator


@pytest.fixture(scope="module")
def flux10_validator() -> Flux10Validator:
    return Flux10Validator(flux10_artefacts())


def _sku_convention(invoice: Invoice) -> Invoice:
    """BT-155 as the catalogue gives it: goods are ``MAT-`` SKUs, services anything else."""
    return replace(invoice, lines=tuple(replace(line, seller_item_id=f"{'MAT' if line.is_goods else 'SRV'}-{line.line_id}")
                                        for line in invoice.lines))


def _goods_by_sku(item_id: str | None) -> bool:
    return bool(item_id and item_id.startswith("MAT-"))


def _documents(conn, root: Path) -> list[Path]:
    write_documents(conn, {}, formats=("cii",), root=root)
    with conn.cursor() as cur:
        cur.execute("SELECT path FROM marts.invoice_documents WHERE format = 'cii'")
        return [Path(path) for (path,) in cur.fetchall()]


def _reports(conn, periods: list[FilingPeriod], validator: Flux10Validator, root: Path) -> list[bytes]:
    reports = []
    for period in periods:
        outcome = ereport(conn, SELLER, PLATFORM, validator, period, "recompute", root)
        if outcome is not None:
            assert outcome.fatal == 0, outcome
            reports.append(outcome.path.read_bytes())
    return reports


def _half_cent_tie() -> Invoice:
    """Goods and services netting the same, plus a 1-cent charge: each half is x.xx5, so the leftover cent
    decides (it goes to the goods, the first of equal line nets)."""
    rate = Decimal("20")
    lines = [InvoiceLine("1", "Lampe", Decimal(1), "C62", Decimal("10.00"), VatCategory.STANDARD, rate, is_goods=True),
             InvoiceLine("2", "Pose", Decimal(1), "C62", Decimal("10.00"), VatCategory.STANDARD, rate),
             InvoiceLine("3", "Câble", Decimal(1), "C62", Decimal("5.05"), VatCategory.STANDARD, Decimal("5.5"),
                         is_goods=True),
             InvoiceLine("4", "Réglage", Decimal(1), "C62", Decimal("5.05"), VatCategory.STANDARD, Decimal("5.5"))]
    return invoice(BUYER_B2C, ProcessingRule.B2C, lines, seller=SELLER, allowances_charges=(
        AllowanceCharge(True, Decimal("0.01"), "Frais de port", "FC", vat_category=VatCategory.STANDARD, vat_rate=rate),
        AllowanceCharge(True, Decimal("0.07"), "Frais de port", "FC", vat_category=VatCategory.STANDARD,
                        vat_rate=Decimal("5.5"))))


document_sets = st.lists(st.tuples(invoices(scenarios=(DOMESTIC_B2C, DOMESTIC_B2C, INTRA_EU, EXPORT), max_lines=8),
                                   st.integers(0, 9)), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(documents=document_sets)
@example(documents=[(_half_cent_tie(), 0)])
def test_random_invoice_sets_report_what_their_cii_files_say(documents, warehouse_server_url, _warehouse_template,
                                                             cii_validator, flux10_validator, tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("issued")
    with cloned_database(warehouse_server_url, _warehouse_template, "flux10") as url:
        conn = connect(url)
        try:
            rates: dict[str, Decimal] = {}
            for index, (invoice, offset) in enumerate(sorted(documents, key=lambda d: d[1])):
                day = DECADE[0] + timedelta(days=offset)
                draft = Draft(f"random:{index}", "random-customer", replace(_sku_convention(invoice), issue_date=day),
                              (), *DECADE)
                number, _ = issue_draft(conn, SELLER, cii_validator, draft, "recompute")
                if number and invoice.eur_per_unit is not None:
                    rates[number] = invoice.eur_per_unit
            files = _documents(conn, root)
            period = FilingPeriod(FlowKind.TRANSACTIONS, *DECADE, date(2026, 3, 20))
            reports = _reports(conn, [period], flux10_validator, root)
        finally:
            conn.close()
    issued = read_documents(files)
    for document in issued:
        event(f"issued {document.rule} {document.nature} {document.type_code} {document.currency}")
    event(f"held {len(documents) - len(issued)}")
    problems, compared = differences(reports, issued, _goods_by_sku, rates)
    assert problems == []
    assert compared >= (1 if files else 0)


@pytest.mark.dag
def test_the_sandbox_months_report_what_their_cii_files_say(staged_conn, cii_validator, flux10_validator,
                                                            tmp_path) -> None:
    load_example_billing(staged_conn)
    seller = example_seller()
    for start, end in ((date(2026, 1, 1), date(2026, 1, 31)), (date(2026, 2, 1), date(2026, 2, 28))):
        build_billable_items(staged_conn, end)
        issue_period(staged_conn, seller, cii_validator, period_start=start, period_end=end, run_id="setup")
    with staged_conn.cursor() as cur:
        cur.execute("SELECT invoice_number FROM marts.invoices WHERE processing_rule = 'B2C'"
                    " AND issue_date < DATE '2026-02-01' ORDER BY invoice_number LIMIT 1")
        (b2c,) = cur.fetchone()
    credit_invoice(staged_conn, seller, cii_validator, b2c, "Erreur de facturation", "setup", date(2026, 2, 28))
    files = _documents(staged_conn, tmp_path / "invoices")
    with staged_conn.cursor() as cur:
        # the catalogue's convention for goods (family Matériel or a MAT- SKU), by BT-155 = product key
        cur.execute("SELECT product_key FROM staging.products WHERE family = 'Matériel' OR sku LIKE 'MAT-%%'")
        goods = {key for (key,) in cur.fetchall()}
        cur.execute("SELECT invoice_number, eur_per_unit FROM marts.invoices WHERE eur_per_unit IS NOT NULL")
        rates = dict(cur.fetchall())
    periods = [p for p in filing_periods(seller.vat_regime, date(2026, 1, 1), date(2026, 2, 28))
               if p.kind is FlowKind.TRANSACTIONS]
    reports = _reports(staged_conn, periods, flux10_validator, tmp_path / "ereporting")
    documents = read_documents(files)
    assert {d.rule for d in documents} >= {"B2C", "B2BINT"} and any(d.type_code == "381" for d in documents)
    problems, compared = differences(reports, documents, lambda item: item in goods, rates)
    assert problems == []
    assert compared > 10
