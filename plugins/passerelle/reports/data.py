"""One period of every compliance report, read from the warehouse views in one consistent snapshot.

The figures come from the same marts and views BI tools query (migrations 0006 and 0008), so the HTML report
can never disagree with them; this module only selects the period and shapes rows for rendering. Amounts
stay ``Decimal`` (psycopg2 returns ``numeric`` as such).

Each table has one basis, which says which documents it describes, all within the report's period:

* VAT invoiced: documents issued in the period, by month of issue (BT-2); a credit note on its own issue
  date, amounts negative;
* VAT due on receipts: payments received in the period, by month of receipt;
* invoice validation: drafts and documents of the billing periods ending in the period (a credit note
  belongs to the billing period of the invoice it credits);
* lifecycle statuses: documents issued in the period, by their latest status.

A document with several VAT rates appears in several rows, so the tables' totals count distinct
documents and payments with their own queries instead of adding up the rows' counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg2.extensions

from passerelle.reports.payments import PaymentsSection, load_payments

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
class DocumentCount:
    """Distinct documents (or payments) a table describes: its total row."""

    invoices: int
    credit_notes: int


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
    overdue: bool  # something to file, not transmitted, and due before the report's as-of day
    has_data: bool  # something to file: a B2BINT/B2C document issued, or a payment to report, in the period


@dataclass(frozen=True)
class StatusCount:
    status_code: int | None  # None: no lifecycle status yet
    label: str | None
    invoices: int


@dataclass(frozen=True)
class SetAside:
    """Records a source sent that the warehouse could not store, per stream and reason (still held)."""

    source: str
    stream: str
    reason: str
    records: int
    last_seen_at: datetime


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
    vat_documents: DocumentCount  # distinct invoices and credit notes issued in the period
    receipts: tuple[ReceiptLine, ...]
    receipt_payments: int  # distinct payments received in the period on VAT-on-receipt documents
    receipt_documents: int  # distinct documents they paid
    transmissions: tuple[Transmission, ...]
    filings: tuple[Filing, ...]
    statuses: tuple[StatusCount, ...]
    set_aside: tuple[SetAside, ...] = ()  # raw.quarantined_records: every record held, whatever the period
    payments: PaymentsSection | None = None  # paid, partly paid, overdue, unmatched (reports.payments)


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
            [(receipt_payments, receipt_documents)] = _fetch(cur, RECEIPT_COUNTS, params)
            return ReportData(
                period_start=period_start, period_end=period_end, as_of=as_of,
                readiness=_readiness(cur),
                validation=tuple(FormatValidation(*row) for row in _fetch(cur, VALIDATION, params)),
                trend=tuple(TrendPoint(*row) for row in _fetch(cur, TREND, params)),
                rule_failures=tuple(RuleFailure(*row) for row in _fetch(cur, RULE_FAILURES, params)),
                vat=tuple(VatLine(*row) for row in _fetch(cur, VAT, params)),
                vat_documents=DocumentCount(*_fetch(cur, VAT_DOCUMENTS, params)[0]),
                receipts=tuple(ReceiptLine(*row) for row in _fetch(cur, RECEIPTS, params)),
                receipt_payments=receipt_payments, receipt_documents=receipt_documents,
                transmissions=tuple(Transmission(*row) for row in _fetch(cur, TRANSMISSIONS, params)),
                filings=tuple(Filing(*row) for row in _fetch(cur, FILINGS, params)),
                statuses=tuple(StatusCount(*row) for row in _fetch(cur, STATUSES, params)),
                set_aside=tuple(SetAside(*row) for row in _fetch(cur, SET_ASIDE, params)),
                payments=load_payments(cur, params),
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

# VAT invoiced: the documents issued in the period (BT-2), by month of issue; the same figures as
# marts.vat_summary for a period of whole months. Counts are distinct documents of each row.
VAT = """
    SELECT date_trunc('month', issue_date)::date AS month, processing_rule, vat_category, vat_rate,
           CASE vat_point WHEN 'payment' THEN 'receipts' WHEN 'delivery' THEN 'delivery' ELSE 'debits' END AS due_on,
           count(DISTINCT invoice_number) FILTER (WHERE sign > 0)::integer,
           count(DISTINCT invoice_number) FILTER (WHERE sign < 0)::integer,
           sum(sign * taxable_eur), sum(sign * tax_eur)
      FROM marts.invoice_vat_eur
     WHERE issue_date BETWEEN %(start)s AND %(end)s
     GROUP BY 1, 2, 3, 4, 5
     ORDER BY month, processing_rule, due_on, vat_rate DESC NULLS LAST, vat_category"""

VAT_DOCUMENTS = """
    SELECT count(DISTINCT invoice_number) FILTER (WHERE sign > 0)::integer,
           count(DISTINCT invoice_number) FILTER (WHERE sign < 0)::integer
      FROM marts.invoice_vat_eur
     WHERE issue_date BETWEEN %(start)s AND %(end)s"""

# VAT due on receipts: the payments received in the period, by month of receipt (marts.payment_vat_parts,
# the split status 212 and Flux 10.2/10.4 carry).
RECEIPTS = """
    SELECT date_trunc('month', paid_on)::date AS month, processing_rule, vat_category, vat_rate,
           count(DISTINCT payment_id)::integer, sum(sign * cashed_eur), sum(sign * taxable_eur), sum(sign * vat_eur)
      FROM marts.payment_vat_parts
     WHERE paid_on BETWEEN %(start)s AND %(end)s
     GROUP BY 1, 2, 3, 4
     ORDER BY month, processing_rule, vat_rate DESC, vat_category"""

RECEIPT_COUNTS = """
    SELECT count(DISTINCT payment_id)::integer, count(DISTINCT invoice_number)::integer
      FROM marts.payment_vat_parts
     WHERE paid_on BETWEEN %(start)s AND %(end)s"""

# Transmissions and filings whose period overlaps the report's, or that fall due within it.
TRANSMISSIONS = """
    SELECT transmission_id, flux, regime, period_start, period_end, due_date, records, valid, fatal_findings, path
      FROM marts.ereporting_transmissions
     WHERE (period_start <= %(end)s AND period_end >= %(start)s) OR due_date BETWEEN %(start)s AND %(end)s
     ORDER BY period_start, flux, created_at"""

# A period is due only when there is something to file: for transactions a B2BINT or B2C document issued
# (ready) in it, for payments a payment received in it that Flux 10.2/10.4 carries (same selection as
# passerelle.compliance.ereporting_run). An empty period is "nothing to file", never overdue.
FILINGS = f"""
    SELECT c.regime, c.kind, c.period_start, c.period_end, c.due_date, t.transmitted,
           d.has_data AND NOT t.transmitted AND c.due_date < %(as_of)s, d.has_data
      FROM marts.filing_calendar AS c
     CROSS JOIN LATERAL (
            SELECT EXISTS (SELECT FROM marts.ereporting_transmissions AS e
                            WHERE e.valid AND e.regime = c.regime AND e.period_start = c.period_start
                              AND e.period_end = c.period_end
                              AND (e.flux IN {TRANSACTIONS_FLUXES}) = (c.kind = 'transactions')) AS transmitted) AS t
     CROSS JOIN LATERAL (
            SELECT CASE c.kind
                   WHEN 'transactions' THEN EXISTS (
                        SELECT FROM marts.invoices AS i
                         WHERE i.status = 'ready' AND i.processing_rule IN ('B2BINT', 'B2C')
                           AND i.issue_date BETWEEN c.period_start AND c.period_end)
                   ELSE EXISTS (
                        SELECT FROM billing.payments AS p
                          JOIN marts.invoices AS i ON i.invoice_number = p.invoice_number
                         WHERE p.paid_on BETWEEN c.period_start AND c.period_end AND i.vat_point = 'payment'
                           AND i.type_code = '380' AND i.processing_rule IN ('B2BINT', 'B2C')
                           AND EXISTS (SELECT FROM marts.invoice_vat_breakdown AS b
                                        WHERE b.invoice_number = i.invoice_number AND b.vat_category = 'S'))
                   END AS has_data) AS d
     WHERE (c.period_start <= %(end)s AND c.period_end >= %(start)s) OR c.due_date BETWEEN %(start)s AND %(end)s
     ORDER BY c.due_date, c.regime, c.kind"""

# Documents issued in the period (BT-2), each once, by its latest status.
STATUSES = """
    SELECT status_code, status_label, count(DISTINCT invoice_number)::integer
      FROM marts.invoice_lifecycle
     WHERE issue_date BETWEEN %(start)s AND %(end)s
     GROUP BY status_code, status_label
     ORDER BY status_code NULLS FIRST"""

# Records held back at load because jsonb cannot store them: what is missing from every figure above.
SET_ASIDE = """
    SELECT source, stream, left(reason, 160), count(*)::integer, max(last_seen_at)
      FROM raw.quarantined_records
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3"""
