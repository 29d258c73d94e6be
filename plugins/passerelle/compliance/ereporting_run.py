"""E-reporting for a filing period: Flux 10 transmissions from the marts, validated, written and recorded.

Transactions (10.1 / 10.3): every B2BINT invoice issued in the period, one by one, and the B2C
invoices aggregated per day, operation category (TLB1 goods, TPS1 services, TNT1 not taxable in France)
and rate, in EUR, credit notes negative. Every amount comes from the issued invoice's stored VAT breakdown
split per operation category (:mod:`passerelle.ereporting.invoice_amounts`), the one source of the four
fluxes. Payments
(10.2 / 10.4): money received in the period on invoices whose VAT is due on receipt (services,
no débits option) — B2BINT unitary, B2C aggregated per day. Domestic B2B invoices are not
e-reported: their payments go to the platform as lifecycle status 212 (see :mod:`.statuses`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from passerelle.documents.validation import has_fatal
from passerelle.ereporting.calendar import FilingPeriod, FlowKind, filing_periods
from passerelle.ereporting.flux10 import (
    B2cCategory, B2cDay, B2cPaymentDay, Platform, RateAmount, RateTotal, Transmission, invoice_payment,
    payments_report, transactions_report,
)
from passerelle.ereporting.invoice_amounts import IssuedAmounts, load_issued
from passerelle.ereporting.payments import cashed_per_rate
from passerelle.invoicing import store
from passerelle.einvoice.amounts import round2
from passerelle.invoicing.seller import SellerConfig
from passerelle.paths import output_dir, write_private
from passerelle.settings import settings

logger = logging.getLogger(__name__)


def platform_from_environment() -> Platform:
    """The seller's approved platform (PA): ``PASSERELLE_PA_MATRICULE`` (4 characters) and ``PASSERELLE_PA_NAME``."""
    configured = settings()  # a matricule of the wrong length is refused there, with the variable named
    if configured.pa_matricule is None:
        raise ValueError("PASSERELLE_PA_MATRICULE must be the 4-character PPF matricule of the seller's platform")
    return Platform(configured.pa_matricule, configured.pa_name)


@dataclass(frozen=True)
class TransmissionOutcome:
    flux: str
    period: FilingPeriod
    path: Path
    records: int
    fatal: int


def record_calendar(conn: Any, seller: SellerConfig, start: date, end: date) -> int:
    """Fill ``marts.filing_calendar`` for the seller's regime over [start, end]."""
    periods = filing_periods(seller.vat_regime, start, end)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM marts.filing_calendar WHERE regime = %s AND period_start BETWEEN %s AND %s",
                    (seller.vat_regime.value, start, end))
        # A range starting mid-period also yields the period that overlaps its start, which an earlier
        # range may have recorded: upsert, so reruns and overlapping ranges never collide.
        cur.executemany("INSERT INTO marts.filing_calendar (regime, kind, period_start, period_end, due_date)"
                        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (regime, kind, period_start)"
                        " DO UPDATE SET period_end = EXCLUDED.period_end, due_date = EXCLUDED.due_date",
                        [(seller.vat_regime.value, p.kind.value, p.period_start, p.period_end, p.due_date)
                         for p in periods])
    conn.commit()
    return len(periods)


def ereport(conn: Any, seller: SellerConfig, platform: Platform, validator: Any, period: FilingPeriod, run_id: str,
            root: Path | None = None) -> TransmissionOutcome | None:
    """Build, validate, write and record the transmission of one filing period (None when there is nothing)."""
    root = root or output_dir() / "ereporting"
    if period.kind is FlowKind.TRANSACTIONS:
        invoices, amounts, days = _transactions(conn, period)
        if not invoices and not days:
            return None
        flux, records = ("10.1+10.3" if invoices and days else "10.1" if invoices else "10.3"), len(invoices) + len(days)
        build = lambda t: transactions_report(t, invoices, days, amounts)  # noqa: E731
    else:
        payments, days = _payments(conn, period)
        if not payments and not days:
            return None
        flux, records = ("10.2+10.4" if payments and days else "10.2" if payments else "10.4"), len(payments) + len(days)
        build = lambda t: payments_report(t, payments, days)  # noqa: E731
    transmission_id = f"{seller.siren}-{period.kind.value[:3].upper()}-{period.period_start:%Y%m%d}-{period.period_end:%Y%m%d}"
    transmission = Transmission(id=transmission_id, created_at=datetime.now(timezone.utc).replace(microsecond=0),
                                platform=platform, declarant_siren=seller.siren, declarant_name=seller.legal_name,
                                period_start=period.period_start, period_end=period.period_end)
    xml = build(transmission)
    findings = validator.validate(xml)
    fatal = sum(1 for f in findings if f.severity == "fatal")
    path = root / f"{transmission_id}.xml"
    write_private(path, xml)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM marts.ereporting_transmissions WHERE transmission_id = %s", (transmission_id,))
        cur.execute("INSERT INTO marts.ereporting_transmissions (transmission_id, flux, regime, period_start, period_end,"
                    " due_date, path, records, valid, fatal_findings, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s)", (transmission_id, flux, seller.vat_regime.value, period.period_start,
                                     period.period_end, period.due_date, str(path), records, not has_fatal(findings),
                                     fatal, run_id))
    conn.commit()
    if fatal:
        logger.warning("e-reporting %s: %d fatal findings: %s", transmission_id, fatal,
                       ", ".join(sorted({f.rule for f in findings if f.severity == 'fatal'})))
    logger.info("e-reporting %s (%s): %d records, %s", transmission_id, flux, records, "valid" if not fatal else "INVALID")
    return TransmissionOutcome(flux, period, path, records, fatal)


def _transactions(conn: Any, period: FilingPeriod) -> tuple[list[Any], dict[str, IssuedAmounts], list[B2cDay]]:
    with conn.cursor() as cur:
        cur.execute("SELECT invoice_number FROM marts.invoices WHERE processing_rule = 'B2BINT' AND status = 'ready'"
                    " AND issue_date BETWEEN %s AND %s ORDER BY invoice_number", (period.period_start, period.period_end))
        numbers = [number for (number,) in cur.fetchall()]
        invoices = [store.load(cur, number) for number in numbers]
        amounts = {issued.number: issued for issued in load_issued(cur, numbers)}
        cur.execute("SELECT invoice_number FROM marts.invoices WHERE processing_rule = 'B2C' AND status = 'ready'"
                    " AND issue_date BETWEEN %s AND %s ORDER BY invoice_number", (period.period_start, period.period_end))
        b2c = load_issued(cur, [number for (number,) in cur.fetchall()])
    return invoices, amounts, b2c_days(b2c)


def b2c_days(issued: list[IssuedAmounts]) -> list[B2cDay]:
    """10.3: per day of issue × operation category, the EUR base and VAT per rate; credit notes negative,
    ``count`` the documents with a part in that day and category."""
    grouped: dict[tuple[date, B2cCategory], dict[Decimal, list[Decimal]]] = defaultdict(dict)
    counts: dict[tuple[date, B2cCategory], set[str]] = defaultdict(set)
    for document in issued:
        for part in document.parts:
            key = (document.issue_date, part.operation)
            totals = grouped[key].setdefault((part.vat_rate or Decimal(0)).quantize(Decimal("0.01")),
                                             [Decimal("0.00"), Decimal("0.00")])
            totals[0] += document.sign * part.base_eur
            totals[1] += document.sign * part.vat_eur
            counts[key].add(document.number)
    return [B2cDay(day, category, tuple(RateTotal(rate, base, vat) for rate, (base, vat) in sorted(rates.items())),
                   len(counts[(day, category)]))
            for (day, category), rates in sorted(grouped.items(), key=lambda item: (item[0][0], item[0][1].value))]


def _payments(conn: Any, period: FilingPeriod) -> tuple[list[Any], list[B2cPaymentDay]]:
    with conn.cursor() as cur:
        cur.execute("SELECT p.invoice_number, p.paid_on, p.amount, i.processing_rule FROM billing.payments p"
                    " JOIN marts.invoices i USING (invoice_number)"
                    " WHERE p.paid_on BETWEEN %s AND %s AND i.vat_point = 'payment' AND i.type_code = '380'"
                    " AND i.processing_rule IN ('B2BINT', 'B2C') AND EXISTS (SELECT FROM marts.invoice_vat_breakdown b"
                    "     WHERE b.invoice_number = i.invoice_number AND b.vat_category = 'S')"
                    " ORDER BY p.paid_on, p.payment_id",
                    (period.period_start, period.period_end))
        rows = cur.fetchall()
        unitary, per_day = [], defaultdict(lambda: defaultdict(Decimal))
        issued = {amounts.number: amounts for amounts in load_issued(cur, sorted({row[0] for row in rows}))}
        for number, paid_on, amount, rule in rows:
            invoice = store.load(cur, number)
            if rule == "B2BINT":
                unitary.append(invoice_payment(invoice, amount, paid_on, issued[number]))
            else:
                for part in cashed_per_rate(invoice, amount, issued[number]):
                    per_day[paid_on][part.rate] += part.amount_incl_vat * (invoice.eur_per_unit or 1)
    days = [B2cPaymentDay(day, tuple(RateAmount(rate, round2(total)) for rate, total in sorted(rates.items())))
            for day, rates in sorted(per_day.items())]
    return unitary, days
