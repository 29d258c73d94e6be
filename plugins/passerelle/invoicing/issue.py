"""Issuing a billing period: drafts → number → validated CII → marts and ledger, in one transaction each.

Per draft, the issue-time checks run first (:mod:`passerelle.invoicing.checks`: identifiers by
python-stdnum, Flux 10 fields, XML-safe text, decimals, customer readiness). Then the number is taken
(counter row locked), the CII is rendered with it and validated against the XSD, the EN 16931 and the
BR-FR schematrons, and the documents (Factur-X, and CII/UBL on request) are rendered. Only then are the
invoice, its findings, its ledger rows, its document files and their ``marts.invoice_documents`` rows
written and committed together: an issued number always has its documents. Files are written under a
temporary name and renamed, before the commit; if the commit fails, they are removed (and the number,
rolled back, is taken again by the next draft, whose files replace them anyway).

A draft that fails anywhere — a check, a fatal finding, or any exception while rendering, validating or
writing — is rolled back (no number consumed, no ledger row) and recorded in ``marts.held_invoices``
with its rule ids and reasons and its findings; the rest of the period is issued. Its items stay
billable, so the next run issues it once the data is fixed. A retry or a backfill finds the items in
the ledger and issues nothing twice; its issue date never precedes the seller's last number (see
``issue_date_for``). :func:`write_documents` still writes documents missing for other reasons (a format
added to ``PASSERELLE_INVOICE_FORMATS`` later, invoices issued before documents were written inline).

Retrying after a crash anywhere (``kill -9`` included) is safe. A period is issued under the seller's
:func:`~passerelle.invoicing.numbering.issuing_lock`, so concurrent runs queue and each reports only the
numbers it issued itself. Under that lock, before anything else, the run removes what a killed run may
have left in the documents folder: temporary files, and documents renamed into place whose transaction
never committed (no ``marts.invoice_documents`` row). Such a file is named after a number that went back
to the counter; it must not survive to be taken for the document of the invoice that number goes to next.
Then the documents still missing of the seller's issued invoices are written (:func:`complete_documents`:
an invoice committed by an earlier run without some of the documents now wanted, such as a format added
before the retry), rendered from the stored invoice exactly as issuing renders them, so the files are
byte for byte those a run never interrupted writes. Then the items already in the ledger are dropped
from ``marts.billable_items``, and issuing resumes with the same drafts, keys and numbers an
uninterrupted run would have used. :func:`build_billable_items` rebuilds those items under the same
lock, so it never rewrites them while an issuer is turning them into invoices. :data:`CRASH_POINTS` names the
steps the crash tests kill a run at (see :mod:`passerelle.crash_points`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from passerelle.crash_points import crash_point
from passerelle.documents.pdf import render_facturx
from passerelle.documents.render import render_cii, render_ubl
from passerelle.documents.validation import Finding, has_fatal
from passerelle.invoicing import store
from passerelle.einvoice.amounts import compute
from passerelle.invoicing.checks import DRAFT, customer_readiness, issue_checks, render_finding
from passerelle.invoicing.checks import finding as checks_finding
from passerelle.invoicing.drafts import Draft, DraftFailure, load_drafts, with_issue_date
from passerelle.einvoice.model import Invoice
from passerelle.invoicing.numbering import issue_number, issuing_lock
from passerelle.invoicing.seller import SellerConfig
from passerelle.paths import open_private, output_dir
from passerelle.settings import settings
from passerelle.warehouse.sql_files import run_sql_file

logger = logging.getLogger(__name__)
FORMATS = ("facturx", "cii", "ubl")
SUFFIXES = {"facturx": ".pdf", "cii": ".cii.xml", "ubl": ".ubl.xml"}
# Where a run may be killed, in the order a draft meets them (kill -9 at each, then retry: see the tests).
CRASH_POINTS = ("period.locked", "draft.checked", "draft.numbered", "draft.saved", "draft.ledger",
                "document.temporary", "draft.documents", "draft.committed", "draft.held")


@dataclass
class PeriodOutcome:
    period_start: date
    period_end: date
    issued: list[str] = field(default_factory=list)  # numbered by this run
    held: dict[str, list[str]] = field(default_factory=dict)  # invoice_key -> fatal rule ids
    already: list[str] = field(default_factory=list)  # drafts found numbered by an earlier run: not counted
    cleaned: list[str] = field(default_factory=list)  # files a killed run left behind, removed first
    completed: list[str] = field(default_factory=list)  # earlier invoices whose missing documents were written

    def as_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "issued": len(self.issued), "held": len(self.held), "numbers": self.issued,
                "held_keys": self.held, "already_issued": len(self.already), "cleaned_files": len(self.cleaned),
                "documents_completed": self.completed}


def document_formats() -> tuple[str, ...]:
    """``PASSERELLE_INVOICE_FORMATS``: comma-separated among facturx, cii, ubl (Factur-X is always written)."""
    wanted = settings().invoice_formats  # validated: an unknown format is refused with the variable named
    return tuple(f for f in FORMATS if f in wanted or f == "facturx")


@dataclass(frozen=True)
class BillableItems:
    """What a rebuild of ``marts.billable_items`` found still to bill."""

    period_end: date
    items: int
    amount: Decimal  # net, summed over currencies: a size, not a total to print
    exceptions: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"period_end": self.period_end.isoformat(), "items": self.items, "amount": str(self.amount),
                "exceptions": self.exceptions, "seconds": round(self.seconds, 2)}


def build_billable_items(conn: Any, period_end: date, *, seller_siren: str | None = None) -> BillableItems:
    """Rebuild marts.billable_items and marts.billing_exceptions for the period ending on ``period_end``.

    With ``seller_siren``, under that seller's issuing lock: an issuer consuming the items finishes
    first, and the rebuild (net of its ledger) leaves out what it invoiced. Pass it wherever an issuer
    may run at the same time (the invoicing DAG does).
    """
    lock = issuing_lock(conn, seller_siren) if seller_siren else contextlib.nullcontext()
    with lock:
        seconds = run_sql_file(conn, "billing/billable_items.sql",
                               period_end=(period_end + timedelta(days=1)).isoformat())
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), coalesce(sum(amount), 0) FROM marts.billable_items")
            items, amount = cur.fetchone()
            cur.execute("SELECT count(*) FROM marts.billing_exceptions")
            exceptions = cur.fetchone()[0]
        conn.commit()
    logger.info("billable items up to %s: %d items (%s net), %d exceptions, in %.2fs", period_end, items, amount,
                exceptions, seconds)
    return BillableItems(period_end, items, amount, exceptions, seconds)


@dataclass(frozen=True)
class DocumentPlan:
    """Which documents an invoice is issued with, where they go, and the validators of the extra formats."""

    formats: tuple[str, ...]
    root: Path
    validators: dict[str, Any] = field(default_factory=dict)  # "ubl": a UblValidator when UBL is written

    @classmethod
    def default(cls, validators: dict[str, Any] | None = None) -> DocumentPlan:
        return cls(document_formats(), output_dir() / "invoices", validators or {})

    @contextlib.contextmanager
    def ready(self) -> Iterator[DocumentPlan]:
        """This plan with the validators its formats need, opened for the block and closed after it."""
        if "ubl" not in self.formats or "ubl" in self.validators:
            yield self
            return
        from passerelle.documents.validation import UblValidator

        with UblValidator() as ubl:
            yield replace(self, validators={**self.validators, "ubl": ubl})


def issue_period(conn: Any, seller: SellerConfig, validator: Any, *, period_start: date, period_end: date,
                 run_id: str, documents: DocumentPlan | None = None) -> PeriodOutcome:
    """Issue every draft of the period (``period_end`` is its last day). Call :func:`build_billable_items` first.

    Runs under the seller's issuing lock (a concurrent run waits, then finds its work done). Files a killed
    run left are removed first, then the missing documents of the seller's earlier invoices are written;
    items already in the ledger are dropped from ``marts.billable_items``, so a retry after a crash (the
    billable items not rebuilt) drafts only what is still to bill.
    """
    outcome = PeriodOutcome(period_start, period_end)
    with (documents or DocumentPlan.default()).ready() as documents, issuing_lock(conn, seller.siren):
        crash_point("period.locked")
        outcome.cleaned = [str(path) for path in remove_orphan_documents(conn, documents.root, seller.invoice_prefix)]
        outcome.completed = sorted({number for number, _ in complete_documents(conn, documents, run_id=run_id,
                                                                                 seller_siren=seller.siren)})
        _drop_invoiced_items(conn)
        failures: list[DraftFailure] = []
        drafts = load_drafts(conn, seller, period_start, period_end, failures)
        logger.info("period %s..%s: %d drafts, %d that could not be built", period_start, period_end, len(drafts),
                    len(failures))
        for failure in failures:
            _tally(outcome, failure, None, _held_failure(conn, failure, run_id))
        for index, draft in enumerate(drafts, 1):
            number, rules, new = _issue_draft(conn, seller, validator, draft, run_id, documents)
            if number and not new:
                outcome.already.append(number)
            else:
                _tally(outcome, draft, number, rules)
            crash_point("draft.committed")
            if index % 25 == 0 or index == len(drafts):
                logger.info("issued %d/%d drafts (%d held)", index, len(drafts), len(outcome.held))
    return outcome


def _drop_invoiced_items(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("DELETE FROM marts.billable_items b USING billing.invoiced_items ii"
                    " WHERE ii.item_key = b.item_key AND ii.credited_by IS NULL")
        if cur.rowcount:
            logger.warning("%d billable items were already invoiced (a retry): left out", cur.rowcount)
    conn.commit()


def _tally(outcome: PeriodOutcome, draft: Draft | DraftFailure, number: str | None, rules: list[str]) -> None:
    if number:
        outcome.issued.append(number)
    else:
        outcome.held[draft.invoice_key] = rules


def issue_date_for(cur: Any, seller_siren: str, wanted: date) -> date:
    """The period's last day, or the seller's last issue date when a backfill comes after later invoices."""
    cur.execute("SELECT max(last_issue_date) FROM audit.invoice_counters WHERE seller_siren = %s", (seller_siren,))
    last = cur.fetchone()[0]
    return max(wanted, last) if last else wanted


def issue_draft(conn: Any, seller: SellerConfig, validator: Any, draft: Draft, run_id: str, *,
                documents: DocumentPlan | None = None) -> tuple[str | None, list[str]]:
    """Issue one draft with its documents, or hold it: returns (number, []) or (None, fatal rule ids).

    Never raises for a problem of the draft itself; only a failure to record the hold (the warehouse
    gone) propagates. A draft numbered before (a retry) returns its number.
    """
    with (documents or DocumentPlan.default()).ready() as plan:  # a UBL plan needs its validator open
        number, rules, _ = _issue_draft(conn, seller, validator, draft, run_id, plan)
    return number, rules


def _issue_draft(conn: Any, seller: SellerConfig, validator: Any, draft: Draft, run_id: str,
                 documents: DocumentPlan) -> tuple[str | None, list[str], bool]:
    """(number, [], True) issued now, (number, [], False) numbered before, (None, rules, False) held."""
    with conn.cursor() as cur:
        checks = issue_checks(draft.invoice, customer_readiness(cur, draft.customer_key))
    conn.rollback()
    if checks:
        return (*_held(conn, draft, draft.invoice, checks, run_id, validated=False), False)
    crash_point("draft.checked")
    written: list[Path] = []
    invoice = draft.invoice
    try:
        with conn.cursor() as cur:
            issued = issue_number(cur, seller_siren=seller.siren, prefix=seller.invoice_prefix,
                                  invoice_key=draft.invoice_key,
                                  issue_date=issue_date_for(cur, seller.siren, draft.invoice.issue_date),
                                  run_id=run_id)
            if not issued.new:
                conn.rollback()
                return issued.invoice_number, [], False
            crash_point("draft.numbered")
            invoice = with_issue_date(draft, issued.invoice_number, issued.issue_date, seller)
            cii = render_cii(invoice)
            findings = validator.validate(cii)
            if has_fatal(findings):
                conn.rollback()
                return (*_held(conn, draft, invoice, findings, run_id, validated=True), False)
            rendered, extra = render_documents(invoice, cii, documents)
            if has_fatal(extra.get("ubl", [])):
                conn.rollback()
                return (*_held(conn, draft, invoice, extra["ubl"], run_id, validated=True, fmt="ubl"), False)
            store.save(cur, invoice, compute(invoice), invoice_key=draft.invoice_key, customer_key=draft.customer_key,
                       status="ready", run_id=run_id, billing_period=(draft.period_start, draft.period_end),
                       item_counts=draft.item_counts())
            crash_point("draft.saved")
            _write_ledger(cur, draft, invoice.number, run_id)
            crash_point("draft.ledger")
            _record_validation(cur, draft.invoice_key, invoice.number, "cii", findings, draft.period_end, run_id)
            for fmt, fmt_findings in extra.items():
                _record_validation(cur, draft.invoice_key, invoice.number, fmt, fmt_findings, draft.period_end, run_id)
            for fmt, content in rendered.items():
                written.append(store_document(cur, documents.root, invoice.number, invoice.issue_date, fmt, content))
            cur.execute("DELETE FROM marts.held_invoices WHERE invoice_key = %s", (draft.invoice_key,))
            crash_point("draft.documents")
        conn.commit()
        return invoice.number, [], True
    except Exception as error:  # one draft never stops the period: it is held with what was raised
        conn.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        logger.exception("draft %s (%s) failed while issuing", draft.invoice_key, draft.customer_key)
        return (*_held(conn, draft, invoice, [render_finding(error)], run_id, validated=False), False)


def render_documents(invoice: Invoice, cii: bytes, documents: DocumentPlan,
                     ) -> tuple[dict[str, bytes], dict[str, list[Finding]]]:
    """Every document of ``invoice`` as bytes, and the findings of the formats validated here (UBL)."""
    rendered: dict[str, bytes] = {}
    findings: dict[str, list[Finding]] = {}
    for fmt in documents.formats:
        rendered[fmt] = _render(invoice, cii, fmt)
        if fmt == "ubl":
            findings["ubl"] = documents.validators["ubl"].validate(rendered[fmt])
    return rendered, findings


def _render(invoice: Invoice, cii: bytes, fmt: str) -> bytes:
    if fmt == "ubl":
        return render_ubl(invoice)
    if fmt == "cii":
        return cii
    return render_facturx(invoice, cii)


def document_path(root: Path, number: str, issue_date: date, fmt: str) -> Path:
    return root / f"{issue_date:%Y}" / f"{issue_date:%m}" / f"{number.replace('/', '_')}{SUFFIXES[fmt]}"


def store_document(cur: Any, root: Path, number: str, issue_date: date, fmt: str, content: bytes) -> Path:
    """Write ``content`` atomically (temporary file, fsync, rename) and record it in the open transaction.

    Call under the seller's issuing lock: :func:`remove_orphan_documents` takes a file without its row
    for a killed run's leftover.
    """
    path = document_path(root, number, issue_date, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(open_private(temporary), "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
            crash_point("document.temporary")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    cur.execute("INSERT INTO marts.invoice_documents (invoice_number, format, path, sha256, bytes)"
                " VALUES (%s, %s, %s, %s, %s)",
                (number, fmt, str(path), hashlib.sha256(content).hexdigest(), len(content)))
    return path


def remove_orphan_documents(conn: Any, root: Path, prefix: str) -> list[Path]:
    """Remove the files of ``prefix``'s numbers under ``root`` that no committed row vouches for.

    A run killed while writing leaves a temporary file; killed between a document's rename and its
    commit, it leaves a document of a number that went back to the counter (or, in :func:`complete_documents`,
    of an invoice still without its row, which that function writes again). Only the seller's own file
    names are considered, so another seller's documents in a shared folder are never touched. Must be
    called under the seller's issuing lock, when no one of the seller is between a rename and a commit.
    """
    stem = prefix.replace("/", "_")
    name = rf"{re.escape(stem)}\d{{4}}-\d{{6}}"
    suffixes = "|".join(re.escape(suffix) for suffix in SUFFIXES.values())
    document = re.compile(rf"(?P<number>{name})(?P<suffix>{suffixes})")
    temporary = re.compile(rf"\.{name}(?:{suffixes})\.\d+\.tmp")
    formats = {suffix: fmt for fmt, suffix in SUFFIXES.items()}
    candidates: dict[tuple[str, str], list[Path]] = {}
    removed: list[Path] = []
    for folder in sorted(root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]")):
        for entry in os.scandir(folder):
            if not entry.is_file(follow_symlinks=False):
                continue
            if temporary.fullmatch(entry.name):
                removed.append(Path(entry.path))
            elif found := document.fullmatch(entry.name):
                number = prefix + found["number"][len(stem):]
                candidates.setdefault((number, formats[found["suffix"]]), []).append(Path(entry.path))
    if candidates:
        with conn.cursor() as cur:
            cur.execute("SELECT invoice_number, format FROM marts.invoice_documents WHERE invoice_number = ANY(%s)",
                        (sorted({number for number, _ in candidates}),))
            recorded = set(cur.fetchall())
        conn.rollback()
        removed += [path for key, paths in candidates.items() if key not in recorded for path in paths]
    for path in removed:
        path.unlink(missing_ok=True)
        logger.warning("removed %s, left by a run killed before it committed", path)
    return removed


def _held(conn: Any, draft: Draft, invoice: Invoice, findings: list[Finding], run_id: str, *, validated: bool,
          fmt: str = "cii") -> tuple[None, list[str]]:
    fatal = [f for f in findings if f.severity == "fatal"]
    rules = sorted({f.rule for f in fatal})
    reasons = [f"{f.rule} ({f.location}): {f.message}" for f in fatal]
    try:
        grand_total = compute(invoice).totals.grand_total
    except Exception:  # the amounts themselves may be what is wrong (too many decimals)
        grand_total = None
    _hold(conn, draft, grand_total, findings, rules, reasons, run_id, fmt if validated else "draft", validated)
    logger.warning("held %s (%s): %s", draft.invoice_key, draft.customer_key, "; ".join(reasons)[:2000])
    return None, rules


def _held_failure(conn: Any, failure: DraftFailure, run_id: str) -> list[str]:
    """Hold a draft that could not even be built, with what was raised."""
    error = failure.error
    finding = checks_finding(DRAFT, "draft", f"the draft could not be built: {type(error).__name__}: {error}")
    reasons = [f"{finding.rule} ({finding.location}): {finding.message}"]
    _hold(conn, failure, None, [finding], [finding.rule], reasons, run_id, "draft", False)
    logger.warning("held %s (%s): %s", failure.invoice_key, failure.customer_key, reasons[0][:2000])
    return [finding.rule]


def write_documents(conn: Any, validators: dict[str, Any] | None = None, *, formats: tuple[str, ...] | None = None,
                    numbers: list[str] | None = None, run_id: str = "manual", root: Path | None = None) -> int:
    """Write every missing document of ready invoices (all, or ``numbers``); returns how many were written.

    ``validators`` maps "ubl" to a UBL validator; when None, one is opened (and closed) if UBL is wanted.
    """
    plan = DocumentPlan(formats or document_formats(), root or output_dir() / "invoices", validators or {})
    if validators is None:
        with plan.ready() as plan:
            return len(complete_documents(conn, plan, numbers=numbers, run_id=run_id))
    return len(complete_documents(conn, plan, numbers=numbers, run_id=run_id))


def complete_documents(conn: Any, documents: DocumentPlan, *, run_id: str, numbers: list[str] | None = None,
                       seller_siren: str | None = None) -> list[tuple[str, str]]:
    """Write the documents of ``documents.formats`` that ready invoices lack; returns (number, format) written.

    Limited to ``numbers`` and/or to one seller's invoices when given. Each document is rendered from the
    stored invoice, as issuing renders it (the renderers are deterministic, so a document written here is
    the one issuing would have written), and committed with its row one at a time. Runs under the issuing
    lock of every seller concerned (re-entrant: an issuing run holding its seller's lock calls it), so it
    never races an issuing run's cleanup.
    """
    written: list[tuple[str, str]] = []
    sellers = sorted({siren for siren, *_ in _missing_documents(conn, documents.formats, numbers, seller_siren)
                      if siren})
    with contextlib.ExitStack() as locks:
        for siren in sellers:  # always in the same order: two writers never wait on each other
            locks.enter_context(issuing_lock(conn, siren))
        for _, number, key, issue_date, period_end, fmt in _missing_documents(conn, documents.formats, numbers,
                                                                              seller_siren):
            with conn.cursor() as cur:
                invoice = store.load(cur, number)
                content = _render(invoice, render_cii(invoice), fmt)
                if fmt == "ubl":
                    _record_validation(cur, key, number, "ubl", documents.validators["ubl"].validate(content),
                                       period_end, run_id)
                store_document(cur, documents.root, number, issue_date, fmt, content)
            conn.commit()
            written.append((number, fmt))
    if written:
        logger.info("wrote %d missing invoice documents under %s", len(written), documents.root)
    return written


def _missing_documents(conn: Any, formats: tuple[str, ...], numbers: list[str] | None,
                       seller_siren: str | None) -> list[tuple]:
    """(seller_siren, number, invoice_key, issue_date, period_end, format) of every document still to write."""
    with conn.cursor() as cur:
        cur.execute("SELECT n.seller_siren, i.invoice_number, i.invoice_key, i.issue_date, i.billing_period_end,"
                    " f.format FROM marts.invoices i LEFT JOIN marts.invoice_numbers n USING (invoice_number)"
                    " CROSS JOIN unnest(%s::text[]) AS f(format)"
                    " WHERE i.status = 'ready' AND (%s::text[] IS NULL OR i.invoice_number = ANY(%s::text[]))"
                    " AND (%s::text IS NULL OR n.seller_siren = %s)"
                    " AND NOT EXISTS (SELECT FROM marts.invoice_documents d"
                    "                  WHERE d.invoice_number = i.invoice_number AND d.format = f.format)"
                    " ORDER BY i.invoice_number, f.format",
                    (list(formats), numbers, numbers, seller_siren, seller_siren))
        wanted = cur.fetchall()
    conn.rollback()
    return wanted


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


def _hold(conn: Any, draft: Draft | DraftFailure, grand_total: Any, findings: list[Finding], rules: list[str], reasons: list[str],
          run_id: str, fmt: str, validated: bool) -> None:
    """Record the draft in ``marts.held_invoices`` with its rules and reasons, and its findings.

    A schematron validation also counts in ``marts.invoice_validations``; issue-time checks and render
    failures (``fmt`` "draft") only file findings, so validation pass rates stay about documents.
    """
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO marts.held_invoices (invoice_key, customer_key, billing_period_end, rules, reasons,"
            " grand_total, currency, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (invoice_key)"
            " DO UPDATE SET rules = EXCLUDED.rules, reasons = EXCLUDED.reasons, grand_total = EXCLUDED.grand_total,"
            " run_id = EXCLUDED.run_id, held_at = now()",
            (draft.invoice_key, draft.customer_key, draft.period_end, rules, reasons, grand_total,
             draft.currency, run_id))
        if validated:
            _record_validation(cur, draft.invoice_key, None, fmt, findings, draft.period_end, run_id)
        else:
            _record_findings(cur, draft.invoice_key, None, fmt, findings, run_id)
        crash_point("draft.held")
    conn.commit()


def _record_validation(cur: Any, invoice_key: str, number: str | None, fmt: str, findings: list[Finding],
                       period_end: date | None, run_id: str) -> None:
    fatal = sum(1 for f in findings if f.severity == "fatal")
    cur.execute("INSERT INTO marts.invoice_validations (invoice_key, invoice_number, format, fatal, warnings, passed,"
                " billing_period_end, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (invoice_key, number, fmt, fatal, len(findings) - fatal, fatal == 0, period_end, run_id))
    _record_findings(cur, invoice_key, number, fmt, findings, run_id)


def _record_findings(cur: Any, invoice_key: str, number: str | None, fmt: str, findings: list[Finding],
                     run_id: str) -> None:
    if findings:
        cur.executemany("INSERT INTO marts.invoice_findings (invoice_key, invoice_number, format, layer, rule, severity,"
                        " location, message, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [(invoice_key, number, fmt, f.layer, f.rule, f.severity, f.location, f.message, run_id)
                         for f in findings])
