"""One period of every compliance report, read from the warehouse views in one consistent snapshot.

The figures come from the same marts and views BI tools query (migration 0006), so the HTML report can
never disagree with them; this module only selects the period and shapes rows for rendering. Amounts
stay ``Decimal`` (psycopg2 returns ``numeric`` as such).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg2.extensions

TREND_PERIODS = 12  # billing periods shown in the validation trend
TOP_RULES = 10  # failing rules listed
TRANSACTIONS_FLUXES = ("10.1", "10.3", "10.1+10.3")  # the others carry payments


@dataclass(frozen=True)
class ReadinessCount:
    classification: str
    customers: int
    ready: int
    quarantined: int

    @property
    def not_ready(self) -> int:
        return self.customers - self.ready


@dataclass(frozen=True)
class NotReadyCustomer:
    customer_key: str
    legal_name: str | None
    classification: str
    missing: tuple[str, ...]
    in_quarantine: bool
    open_deals: int
    won_deals: int


@dataclass(frozen=True)
class Readiness:
    counts: tuple[ReadinessCount, ...]
    not_ready: tuple[NotReadyCustomer, ...]
    built_at: datetime | None  # None: the table was never built


@dataclass(frozen=True)
class FormatValidation:
    format: str
    documents: int
    passed: int
    failed: int
    pass_rate: Decimal  # percent, one decimal


@dataclass(frozen=True)
class TrendPoint:
    billing_period_end: date
    format: str
    pass_rate: Decimal


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    severity: str
    layer: str
    findings: int
    documents: int
    message: str


@dataclass(frozen=True)
class VatLine:
    month: date
    processing_rule: str
    vat_category: str
    vat_rate: Decimal | None
    vat_due_on: str
    invoices: int
    credit_notes: int
    taxable_eur: Decimal
    vat_eur: Decimal


@dataclass(frozen=True)
class ReceiptLine:
    month: date
    processing_rule: str
    vat_category: str
    vat_rate: Decimal | None
    payments: int
    cashed_eur: Decimal
    taxable_eur: Decimal
    vat_eur: Decimal


@dataclass(frozen=True)
class Transmission:
    transmission_id: str
    flux: str
    regime: str
    period_start: date
    period_end: date
    due_date: date
    records: int
    valid: bool
    fatal_findings: int
    path: str

    @property
    def kind(self) -> str:
        return "transactions" if self.flux in TRANSACTIONS_FLUXES else "payments"


@dataclass(frozen=True)
class Filing:
    regime: str
    kind: str
    period_start: date
    period_end: date
    due_date: date
    transmitted: bool  # a valid transmission of that regime, kind and period exists
    overdue: bool  # not transmitted and due before the report's as-of day


@dataclass(frozen=True)
class StatusCount:
    status_code: int | None  # None: no lifecycle status yet
    label: str | None
    invoices: int


@dataclass(frozen=True)
class ReportData:
    period_start: date
    period_end: date
    as_of: date
    readiness: Readiness
    validation: tuple[FormatValidation, ...]
    trend: tuple[TrendPoint, ...]
    rule_failures: tuple[RuleFailure, ...]
    vat: tuple[VatLine, ...]
    receipts: tuple[ReceiptLine, ...]
    transmissions: tuple[Transmission, ...]
    filings: tuple[Filing, ...]
    statuses: tuple[StatusCount, ...]


def check_period(period_start: date, period_end: date) -> None:
    if period_end < period_start:
        raise ValueError(f"report period: period_end {period_end} is before period_start {period_start}")


def _fetch(cur: Any, query: str, params: dict[str, Any]) -> list[tuple]:
    cur.execute(query, params)
    return cur.fetchall()


def load_report_data(conn: Any, period_start: date, period_end: date, as_of: date) -> ReportData:
    """Every section for the period ``period_start`` .. ``period_end`` (inclusive).

    When ``conn`` is idle the reads share one read-only repeatable-read transaction (every section sees
    the same warehouse state), rolled back at the end; inside a caller's transaction they use its snapshot.
    """
    check_period(period_start, period_end)
    params = {"start": period_start, "end": period_end, "as_of": as_of}
    own_snapshot = not conn.autocommit and conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    try:
        with conn.cursor() as cur:
            if own_snapshot:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return ReportData(
                period_start=period_start, period_end=period_end, as_of=as_of,
                readiness=_readiness(cur),
                validation=tuple(FormatValidation(*row) for row in _fetch(cur, VALIDATION, params)),
                trend=tuple(TrendPoint(*row) for row in _fetch(cur, TREND, params)),
                rule_failures=tuple(RuleFailure(*row) for row in _fetch(cur, RULE_FAILURES, params)),
                vat=tuple(VatLine(*row) for row in _fetch(cur, VAT, params)),
                receipts=tuple(ReceiptLine(*row) for row in _fetch(cur, RECEIPTS, params)),
                transmissions=tuple(Transmission(*row) for row in _fetch(cur, TRANSMISSIONS, params)),
                filings=tuple(Filing(*row) for row in _fetch(cur, FILINGS, params)),
                statuses=tuple(StatusCount(*row) for row in _fetch(cur, STATUSES, params)),
            )
    finally:
        if own_snapshot:
            conn.rollback()


def _readiness(cur: Any) -> Readiness:
    counts = _fetch(cur, """
        SELECT classification, count(*)::integer, count(*) FILTER (WHERE ready)::integer,
               count(*) FILTER (WHERE in_quarantine)::integer
          FROM marts.customer_readiness GROUP BY classification ORDER BY classification""", {})
    not_ready = _fetch(cur, """
        SELECT customer_key, legal_name, classification, missing, in_quarantine, open_deals, won_deals
          FROM marts.customer_readiness WHERE NOT ready
         ORDER BY won_deals + open_deals DESC, classification, legal_name, customer_key""", {})
    [(built_at,)] = _fetch(cur, "SELECT max(built_at) FROM marts.customer_readiness", {})
    return Readiness(
        counts=tuple(ReadinessCount(*row) for row in counts),
        not_ready=tuple(NotReadyCustomer(key, name, kind, tuple(missing), held, open_deals, won)
                        for key, name, kind, missing, held, open_deals, won in not_ready),
        built_at=built_at,
    )


VALIDATION = """
    SELECT format, sum(documents)::integer, sum(passed)::integer, sum(failed)::integer,
           round(100.0 * sum(passed) / sum(documents), 1)
      FROM marts.invoice_validation_summary
     WHERE billing_period_end BETWEEN %(start)s AND %(end)s
     GROUP BY format ORDER BY format"""

# The last TREND_PERIODS billing periods up to the report's end, every format.
TREND = f"""
    SELECT billing_period_end, format, pass_rate
      FROM marts.invoice_validation_summary
     WHERE billing_period_end IN (SELECT DISTINCT billing_period_end FROM marts.invoice_validation_summary
                                   WHERE billing_period_end <= %(end)s
                                   ORDER BY billing_period_end DESC LIMIT {TREND_PERIODS})
     ORDER BY billing_period_end, format"""

RULE_FAILURES = f"""
    SELECT rule, severity, layer, sum(findings)::integer, sum(documents)::integer, min(message)
      FROM marts.invoice_rule_failures
     WHERE billing_period_end BETWEEN %(start)s AND %(end)s
     GROUP BY rule, severity, layer
     ORDER BY severity = 'fatal' DESC, sum(findings) DESC, rule
     LIMIT {TOP_RULES}"""

# VAT views are monthly: the report shows every month the period touches.
VAT = """
    SELECT month, processing_rule, vat_category, vat_rate, vat_due_on, invoices, credit_notes, taxable_eur, vat_eur
      FROM marts.vat_summary
     WHERE month BETWEEN date_trunc('month', %(start)s::date) AND %(end)s
     ORDER BY month, processing_rule, vat_due_on, vat_rate DESC NULLS LAST, vat_category"""

RECEIPTS = """
    SELECT month, processing_rule, vat_category, vat_rate, payments, cashed_eur, taxable_eur, vat_eur
      FROM marts.vat_due_on_receipts
     WHERE month BETWEEN date_trunc('month', %(start)s::date) AND %(end)s
     ORDER BY month, processing_rule, vat_rate DESC NULLS LAST, vat_category"""

# Transmissions and filings whose period overlaps the report's, or that fall due within it.
TRANSMISSIONS = """
    SELECT transmission_id, flux, regime, period_start, period_end, due_date, records, valid, fatal_findings, path
      FROM marts.ereporting_transmissions
     WHERE (period_start <= %(end)s AND period_end >= %(start)s) OR due_date BETWEEN %(start)s AND %(end)s
     ORDER BY period_start, flux, created_at"""

FILINGS = f"""
    SELECT c.regime, c.kind, c.period_start, c.period_end, c.due_date, t.transmitted,
           NOT t.transmitted AND c.due_date < %(as_of)s
      FROM marts.filing_calendar AS c
     CROSS JOIN LATERAL (
            SELECT EXISTS (SELECT FROM marts.ereporting_transmissions AS e
                            WHERE e.valid AND e.regime = c.regime AND e.period_start = c.period_start
                              AND e.period_end = c.period_end
                              AND (e.flux IN {TRANSACTIONS_FLUXES}) = (c.kind = 'transactions')) AS transmitted) AS t
     WHERE (c.period_start <= %(end)s AND c.period_end >= %(start)s) OR c.due_date BETWEEN %(start)s AND %(end)s
     ORDER BY c.due_date, c.regime, c.kind"""

STATUSES = """
    SELECT status_code, status_label, count(*)::integer
      FROM marts.invoice_lifecycle
     WHERE issue_date BETWEEN %(start)s AND %(end)s
     GROUP BY status_code, status_label
     ORDER BY status_code NULLS FIRST"""
