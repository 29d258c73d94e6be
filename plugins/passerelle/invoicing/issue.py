"""Issuing a billing period: drafts → number → validated CII → marts and ledger, in one transaction each.

Per draft, the number is taken (counter row locked), the CII is rendered with it and validated against
the XSD, the EN 16931 and the BR-FR schematrons; only then are the invoice, its findings and its ledger
rows written and committed together. A draft with a fatal finding is rolled back — no number consumed,
no ledger row — and recorded in ``marts.held_invoices`` with its findings: its items stay billable, so
the next run issues it once the data is fixed. A retry or a backfill finds the items in the ledger and
issues nothing twice; its issue date never precedes the seller's last number (see ``issue_date_for``).
Documents are written afterwards by :func:`write_documents`, which only looks at what is missing, so a
crash between the two steps is healed by the next run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from passerelle.documents.pdf import render_facturx
from passerelle.documents.render import render_cii, render_ubl
from passerelle.documents.validation import Finding, has_fatal
from passerelle.invoicing import store
from passerelle.invoicing.amounts import compute
from passerelle.invoicing.drafts import Draft, load_drafts, with_issue_date
from passerelle.invoicing.model import CREDIT_NOTE, Note, PrecedingInvoice
from passerelle.invoicing.numbering import issue_number
from passerelle.invoicing.seller import SellerConfig
from passerelle.paths import output_dir
from passerelle.transform.models import run_sql_file

logger = logging.getLogger(__name__)
FORMATS = ("facturx", "cii", "ubl")


@dataclass
class PeriodOutcome:
    period_start: date
    period_end: date
    issued: list[str] = field(default_factory=list)
    held: dict[str, list[str]] = field(default_factory=dict)  # invoice_key -> fatal rule ids

    def as_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "issued": len(self.issued), "held": len(self.held), "numbers": self.issued,
                "held_keys": self.held}


def document_formats() -> tuple[str, ...]:
    """``PASSERELLE_INVOICE_FORMATS``: comma-separated among facturx, cii, ubl (Factur-X is always written)."""
    wanted = [f.strip().lower() for f in os.environ.get("PASSERELLE_INVOICE_FORMATS", "facturx").split(",") if f.strip()]
    unknown = sorted(set(wanted) - set(FORMATS))
    if unknown:
        raise ValueError(f"PASSERELLE_INVOICE_FORMATS: unknown format(s) {unknown}; use {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in wanted or f == "facturx")


def build_billable_items(conn: Any, period_end: date) -> None:
    """Rebuild marts.billable_items and marts.billing_exceptions for the period ending on ``period_end``."""
    seconds = run_sql_file(conn, "billing/billable_items.sql", period_end=(period_end + timedelta(days=1)).isoformat())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(sum(amount), 0) FROM marts.billable_items")
        items, amount = cur.fetchone()
        cur.execute("SELECT count(*) FROM marts.billing_exceptions")
        exceptions = cur.fetchone()[0]
    conn.commit()
    logger.info("billable items up to %s: %d items (%s net), %d exceptions, in %.2fs", period_end, items, amount,
                exceptions, seconds)


def issue_period(conn: Any, seller: SellerConfig, validator: Any, *, period_start: date, period_end: date,
                 run_id: str) -> PeriodOutcome:
    """Issue every draft of the period (``period_end`` is its last day). Call :func:`build_billable_items` first."""
    outcome = PeriodOutcome(period_start, period_end)
    drafts = load_drafts(conn, seller, period_start, period_end)
    logger.info("period %s..%s: %d drafts", period_start, period_end, len(drafts))
    for index, draft in enumerate(drafts, 1):
        number, rules = issue_draft(conn, seller, validator, draft, run_id)
        if number:
            outcome.issued.append(number)
        else:
            outcome.held[draft.invoice_key] = rules
        if index % 25 == 0 or index == len(drafts):
            logger.info("issued %d/%d drafts (%d held)", index, len(drafts), len(outcome.held))
    return outcome


def issue_date_for(cur: Any, seller_siren: str, wanted: date) -> date:
    """The period's last day, or the seller's last issue date when a backfill comes after later invoices."""
    cur.execute("SELECT max(last_issue_date) FROM audit.invoice_counters WHERE seller_siren = %s", (seller_siren,))
    last = cur.fetchone()[0]
    return max(wanted, last) if last else wanted


def issue_draft(conn: Any, seller: SellerConfig, validator: Any, draft: Draft, run_id: str) -> tuple[str | None, list[str]]:
    try:
        with conn.cursor() as cur:
            issued = issue_number(cur, seller_siren=seller.siren, prefix=seller.invoice_prefix,
                                  invoice_key=draft.invoice_key,
                                  issue_date=issue_date_for(cur, seller.siren, draft.invoice.issue_date),
                                  run_id=run_id)
            if not issued.new:
                conn.rollback()
                return issued.invoice_number, []
            invoice = with_issue_date(draft, issued.invoice_number, issued.issue_date, seller)
            findings = validator.validate(render_cii(invoice))
            if has_fatal(findings):
                conn.rollback()
                rules = sorted({f.rule for f in findings if f.severity == "fatal"})
                _hold(conn, draft, compute(invoice), findings, rules, run_id)
                logger.warning("held %s (%s): fatal %s", draft.invoice_key, draft.customer_key, ", ".join(rules))
                return None, rules
            store.save(cur, invoice, compute(invoice), invoice_key=draft.invoice_key, customer_key=draft.customer_key,
                       status="ready", run_id=run_id, billing_period=(draft.period_start, draft.period_end),
                       item_counts=draft.item_counts())
            _write_ledger(cur, draft, invoice.number, run_id)
            _record_validation(cur, draft.invoice_key, invoice.number, "cii", findings, draft.period_end, run_id)
            cur.execute("DELETE FROM marts.held_invoices WHERE invoice_key = %s", (draft.invoice_key,))
        conn.commit()
        return invoice.number, []
    except Exception:
        conn.rollback()
        raise


def credit_invoice(conn: Any, seller: SellerConfig, validator: Any, invoice_number: str, reason: str, run_id: str,
                   issue_date: date | None = None) -> str:
    """Cancel an issued invoice with a credit note (381) referencing it (BT-25/26); its items become billable again.

    Invoice numbers are never changed nor reused: a correction is this credit note plus a new invoice,
    which the next billing run issues from the corrected data.
    """
    with conn.cursor() as cur:
        original = store.load(cur, invoice_number)
        if original.is_credit_note:
            raise ValueError(f"{invoice_number} is a credit note; only invoices can be credited")
        cur.execute("SELECT invoice_number FROM marts.invoices WHERE preceding_number = %s AND type_code = %s",
                    (invoice_number, CREDIT_NOTE))
        if cur.fetchone():
            raise ValueError(f"invoice {invoice_number} already has a credit note")
        cur.execute("SELECT customer_key, billing_period_start, billing_period_end FROM marts.invoices"
                    " WHERE invoice_number = %s", (invoice_number,))
        customer_key, period_start, period_end = cur.fetchone()
        key = f"credit:{invoice_number}"
        wanted = issue_date_for(cur, seller.siren, max(issue_date or original.issue_date, original.issue_date))
        issued = issue_number(cur, seller_siren=seller.siren, prefix=seller.invoice_prefix, invoice_key=key,
                              issue_date=wanted, run_id=run_id)
        credit = replace(original, number=issued.invoice_number, type_code=CREDIT_NOTE, issue_date=issued.issue_date,
                         due_date=issued.issue_date,
                         preceding=(PrecedingInvoice(original.number, original.issue_date),),
                         notes=original.notes + (Note("AAI", f"Avoir annulant la facture {original.number} : {reason}"),))
        findings = validator.validate(render_cii(credit))
        if has_fatal(findings):
            conn.rollback()
            raise ValueError(f"credit note for {invoice_number} fails validation: "
                             + ", ".join(sorted({f.rule for f in findings if f.severity == 'fatal'})))
        store.save(cur, credit, compute(credit), invoice_key=key, customer_key=customer_key, status="ready",
                   run_id=run_id, billing_period=(period_start, period_end) if period_start else None)
        cur.execute("UPDATE billing.invoiced_items SET credited_by = %s WHERE invoice_number = %s AND credited_by IS NULL",
                    (credit.number, invoice_number))
        _record_validation(cur, key, credit.number, "cii", findings, period_end, run_id)
    conn.commit()
    logger.info("credit note %s cancels %s (%s)", credit.number, invoice_number, reason)
    return credit.number


def write_documents(conn: Any, validators: dict[str, Any], *, formats: tuple[str, ...] | None = None,
                    numbers: list[str] | None = None, run_id: str = "manual", root: Path | None = None) -> int:
    """Write every missing document of ready invoices (all, or ``numbers``); returns how many were written."""
    formats = formats or document_formats()
    root = root or output_dir() / "invoices"
    written = 0
    with conn.cursor() as cur:
        cur.execute("SELECT i.invoice_number, i.invoice_key, i.issue_date, i.billing_period_end, f.format"
                    " FROM marts.invoices i CROSS JOIN unnest(%s::text[]) AS f(format)"
                    " WHERE i.status = 'ready' AND (%s::text[] IS NULL OR i.invoice_number = ANY(%s::text[]))"
                    " AND NOT EXISTS (SELECT FROM marts.invoice_documents d"
                    "                  WHERE d.invoice_number = i.invoice_number AND d.format = f.format)"
                    " ORDER BY i.invoice_number, f.format", (list(formats), numbers, numbers))
        wanted = cur.fetchall()
    for number, key, issue_date, period_end, fmt in wanted:
        with conn.cursor() as cur:
            invoice = store.load(cur, number)
            cii = render_cii(invoice)
            if fmt == "ubl":
                content = render_ubl(invoice)
                _record_validation(cur, key, number, "ubl", validators["ubl"].validate(content), period_end, run_id)
            elif fmt == "cii":
                content = cii
            else:
                content = render_facturx(invoice, cii)
            suffix = {"facturx": ".pdf", "cii": ".cii.xml", "ubl": ".ubl.xml"}[fmt]
            path = root / f"{issue_date:%Y}" / f"{issue_date:%m}" / f"{number.replace('/', '_')}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            cur.execute("INSERT INTO marts.invoice_documents (invoice_number, format, path, sha256, bytes)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        (number, fmt, str(path), hashlib.sha256(content).hexdigest(), len(content)))
        conn.commit()
        written += 1
    if written:
        logger.info("wrote %d invoice documents under %s", written, root)
    return written


def _write_ledger(cur: Any, draft: Draft, number: str, run_id: str) -> None:
    """The ledger rows of an invoice, in its transaction; time items are selected set-wise, as drafted."""
    cur.executemany(
        "INSERT INTO billing.invoiced_items (item_key, invoice_number, line_id, source_key, amount, run_id)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        [(item_key, number, line_id, source_key, amount, run_id) for item_key, line_id, source_key, amount in draft.items])
    for group in draft.time_groups:
        cur.execute(
            "INSERT INTO billing.invoiced_items (item_key, invoice_number, line_id, source_key, amount, run_id)"
            " SELECT item_key, %s, %s, source_key, amount, %s FROM marts.billable_items"
            " WHERE item_kind = 'time' AND customer_key = %s AND currency = %s AND project_key = %s"
            " AND unit_price = %s AND vat_rate = %s AND item_name = %s AND billable_on <= %s",
            (number, group.line_id, run_id, draft.customer_key, draft.invoice.currency, group.project_key,
             group.unit_price, group.vat_rate, group.item_name, draft.period_end))
        if cur.rowcount != group.count:
            raise RuntimeError(f"invoice {number} line {group.line_id}: {cur.rowcount} time items in the ledger, "
                               f"{group.count} drafted (marts.billable_items changed during the run)")


def _hold(conn: Any, draft: Draft, computed: Any, findings: list[Finding], rules: list[str], run_id: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO marts.held_invoices (invoice_key, customer_key, billing_period_end, rules, grand_total,"
            " currency, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (invoice_key) DO UPDATE SET"
            " rules = EXCLUDED.rules, grand_total = EXCLUDED.grand_total, run_id = EXCLUDED.run_id, held_at = now()",
            (draft.invoice_key, draft.customer_key, draft.period_end, rules, computed.totals.grand_total,
             draft.invoice.currency, run_id))
        _record_validation(cur, draft.invoice_key, None, "cii", findings, draft.period_end, run_id)
    conn.commit()


def _record_validation(cur: Any, invoice_key: str, number: str | None, fmt: str, findings: list[Finding],
                       period_end: date | None, run_id: str) -> None:
    fatal = sum(1 for f in findings if f.severity == "fatal")
    cur.execute("INSERT INTO marts.invoice_validations (invoice_key, invoice_number, format, fatal, warnings, passed,"
                " billing_period_end, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (invoice_key, number, fmt, fatal, len(findings) - fatal, fatal == 0, period_end, run_id))
    if findings:
        cur.executemany("INSERT INTO marts.invoice_findings (invoice_key, invoice_number, format, layer, rule, severity,"
                        " location, message, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [(invoice_key, number, fmt, f.layer, f.rule, f.severity, f.location, f.message, run_id)
                         for f in findings])
