"""Credit notes (381): full, by lines and quantities, or by an amount, each referencing its invoice (BG-3).

A credit note goes the way an invoice does: numbered by :func:`~passerelle.invoicing.numbering.issue_number`
in the transaction that records it, validated (XSD, EN 16931, BR-FR) before anything is committed — a failing
one consumes no number and its findings are recorded — and its documents are rendered and written in that
same transaction (:func:`~passerelle.invoicing.issue.render_documents`), so its number always has them.
E-reporting finds it in ``marts.invoices`` as a 381 with its preceding number.

* full: every line still uncredited, at its remaining quantity;
* lines: ``{line_id: quantity}``, each at most what is left of that line; a credit note line keeps the
  invoice line's id (BT-126), which is how later credit notes know what is left;
* amount: a net amount (excluding VAT) spread over the invoice's VAT rates in proportion to their bases,
  one line per rate: a commercial gesture, which releases no item.

The credit notes of an invoice never total more than it (checked on BT-112, refused with both figures).
The items of a line credited in full are released (``credited_by``) and billed again by the next run.
BT-20 states the settlement (deduction from the next payment, or refund by transfer) and BT-9 is left out,
so the document never reads as payable. Invoice numbers are never changed nor reused: a correction is a
credit note plus a new invoice.

CLI: ``python -m passerelle.invoicing.credit MS2026-000042 --reason "..." [--line 2=1.5 ...|--amount 100]
[--settlement refund|deduction]`` on ``$WAREHOUSE_URL`` with the seller of the environment.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from passerelle.documents.render import render_cii
from passerelle.documents.validation import has_fatal
from passerelle.errors import PasserelleError
from passerelle.invoicing import store
from passerelle.einvoice.amounts import business_process, compute, round2
from passerelle.invoicing.issue import (
    DocumentPlan, _record_validation, issue_date_for, remove_orphan_documents, render_documents, store_document,
    write_documents,
)
from passerelle.invoicing.mentions import DEDUCTION, SETTLEMENTS, credit_terms
from passerelle.einvoice.model import CREDIT_NOTE, AllowanceCharge, Invoice, InvoiceLine, Note, PrecedingInvoice
from passerelle.invoicing.numbering import issue_number, issuing_lock
from passerelle.invoicing.seller import NUMBER_CHARSET, SellerConfig

logger = logging.getLogger(__name__)
ZERO = Decimal("0")
AMOUNT_LINE = "R"  # line ids of an amount credit note: R1, R2... never an invoice line's id
MONEY = re.compile(r"^\d{1,15}(\.\d{1,2})?$")
QUANTITY = re.compile(r"^\d{1,15}(\.\d{1,4})?$")
MAX_REASON = 300


class CreditRefused(PasserelleError, ValueError):
    """The credit note cannot be issued as asked; the message says why. ``rules``: fatal validation rules."""

    def __init__(self, message: str, rules: list[str] | None = None) -> None:
        super().__init__(message)
        self.rules = rules or []


@dataclass(frozen=True)
class CreditRequest:
    """What a user asks for, checked: at most one of ``lines`` and ``amount`` (neither: a full credit)."""

    invoice_number: str
    reason: str
    settlement: str = DEDUCTION
    lines: dict[str, Decimal] = field(default_factory=dict)
    amount: Decimal | None = None
    issue_date: date | None = None


def parse_request(params: dict[str, Any]) -> CreditRequest:
    """A :class:`CreditRequest` from the DAG's params or the CLI's arguments; every problem at once."""
    problems = []
    number = str(params.get("invoice_number") or "").strip()
    if not number or len(number) > 35 or not NUMBER_CHARSET.match(number):
        problems.append(f"invoice_number {number!r} is not an invoice number (1 to 35 of [A-Za-z0-9+-_/])")
    reason = str(params.get("reason") or "").strip()
    if not reason or len(reason) > MAX_REASON:
        problems.append(f"reason is required (1 to {MAX_REASON} characters)")
    settlement = params.get("settlement") or DEDUCTION
    if settlement not in SETTLEMENTS:
        problems.append(f"settlement {settlement!r} must be one of {', '.join(SETTLEMENTS)}")
    lines: dict[str, Decimal] = {}
    for entry in params.get("lines") or []:
        line_id, quantity = str(entry.get("line_id", "")).strip(), str(entry.get("quantity", "")).strip()
        if not line_id or not QUANTITY.match(quantity) or Decimal(quantity) <= 0:
            problems.append(f"line {line_id or '?'}: quantity {quantity!r} must be a positive number (4 decimals max)")
        elif line_id in lines:
            problems.append(f"line {line_id} is given twice")
        else:
            lines[line_id] = Decimal(quantity)
    amount = None
    if params.get("amount") not in (None, ""):
        text = str(params["amount"]).strip()
        if not MONEY.match(text) or Decimal(text) <= 0:
            problems.append(f"amount {text!r} must be a positive amount excluding VAT (2 decimals max)")
        else:
            amount = Decimal(text)
    if lines and amount is not None:
        problems.append("give either lines or an amount, not both")
    issue_date = params.get("issue_date")
    if isinstance(issue_date, str) and issue_date:
        try:
            issue_date = date.fromisoformat(issue_date)
        except ValueError:
            problems.append(f"issue_date {issue_date!r} is not a date (YYYY-MM-DD)")
    if problems:
        raise CreditRefused("credit note request refused: " + "; ".join(problems))
    return CreditRequest(number, reason, settlement, lines, amount, issue_date or None)


def credit_invoice(conn: Any, seller: SellerConfig, validator: Any, invoice_number: str, reason: str, run_id: str,
                   issue_date: date | None = None, *, lines: dict[str, Decimal] | None = None,
                   amount: Decimal | None = None, settlement: str = DEDUCTION,
                   documents: DocumentPlan | None = None) -> str:
    """Issue a credit note on ``invoice_number`` with its documents, in one transaction; returns its number.

    ``run_id`` identifies the request: asking again with the same one (an Airflow retry) returns the credit
    note already issued. ``issue_date`` defaults to today, never before the invoice nor the last number.
    Runs under the seller's issuing lock, after removing what a killed run left in the documents folder.
    """
    with (documents or DocumentPlan.default()).ready() as plan, issuing_lock(conn, seller.siren):
        remove_orphan_documents(conn, plan.root, seller.invoice_prefix)
        return _credit(conn, seller, validator, invoice_number, reason, run_id, issue_date, lines, amount, settlement,
                       plan)


def _credit(conn: Any, seller: SellerConfig, validator: Any, invoice_number: str, reason: str, run_id: str,
            issue_date: date | None, lines: dict[str, Decimal] | None, amount: Decimal | None, settlement: str,
            plan: DocumentPlan) -> str:
    key = f"credit:{invoice_number}:{run_id}"
    written: list[Path] = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT n.invoice_number FROM marts.invoice_numbers n JOIN marts.invoices i USING"
                        " (invoice_number) WHERE n.invoice_key = %s", (key,))
            done = cur.fetchone()
            if done:
                conn.rollback()
                return done[0]
            # one credit request per invoice at a time: the over-credit check must see the others
            cur.execute("SELECT 1 FROM marts.invoices WHERE invoice_number = %s FOR UPDATE", (invoice_number,))
            try:
                original = store.load(cur, invoice_number)
            except LookupError:
                raise CreditRefused(f"invoice {invoice_number} is not an issued invoice") from None
            if original.is_credit_note:
                raise CreditRefused(f"{invoice_number} is a credit note; only invoices can be credited")
            cur.execute("SELECT coalesce(sum(grand_total), 0), count(*) FROM marts.invoices"
                        " WHERE preceding_number = %s AND type_code = %s", (invoice_number, CREDIT_NOTE))
            credited_total, previous = cur.fetchone()
            credited = _credited_quantities(cur, invoice_number)
            credit_lines, allowances = _credit_lines(original, credited, lines, amount, previous > 0)
            cur.execute("SELECT customer_key, billing_period_start, billing_period_end FROM marts.invoices"
                        " WHERE invoice_number = %s", (invoice_number,))
            customer_key, period_start, period_end = cur.fetchone()
            wanted = max(issue_date or date.today(), original.issue_date)
            issued = issue_number(cur, seller_siren=seller.siren, prefix=seller.invoice_prefix, invoice_key=key,
                                  issue_date=issue_date_for(cur, seller.siren, wanted), run_id=run_id)
            used = {(line.vat_category, _rate(line.vat_rate)) for line in credit_lines}
            what = (f"avoir partiel sur la facture {original.number}" if lines or amount is not None
                    else f"avoir annulant la facture {original.number}")
            credit = replace(
                original, number=issued.invoice_number, type_code=CREDIT_NOTE, issue_date=issued.issue_date,
                due_date=issued.issue_date, lines=tuple(credit_lines), allowances_charges=allowances,
                business_process=business_process(credit_lines),
                payment_terms=credit_terms(settlement, seller.payment_terms_days),
                preceding=(PrecedingInvoice(original.number, original.issue_date),),
                exemptions={k: v for k, v in original.exemptions.items() if k in used},
                notes=original.notes + (Note("AAI", f"{what[0].upper()}{what[1:]} : {reason}"),),
                prepaid_amount=ZERO, rounding_amount=ZERO)
            computed = compute(credit)
            invoiced = compute(original).totals.grand_total
            if credited_total + computed.totals.grand_total > invoiced:
                raise CreditRefused(
                    f"credit notes on {invoice_number} would total {credited_total + computed.totals.grand_total} "
                    f"{original.currency}, more than the invoice's {invoiced} ({credited_total} already credited)")
            cii = render_cii(credit)
            findings = validator.validate(cii)
            if has_fatal(findings):
                rules = sorted({f.rule for f in findings if f.severity == "fatal"})
                conn.rollback()  # the number goes back to the counter
                with conn.cursor() as log:
                    _record_validation(log, key, None, "cii", findings, period_end, run_id)
                conn.commit()
                raise CreditRefused(f"credit note on {invoice_number} fails validation: {', '.join(rules)}", rules)
            store.save(cur, credit, computed, invoice_key=key, customer_key=customer_key, status="ready",
                       run_id=run_id, billing_period=(period_start, period_end) if period_start else None)
            released = _release(cur, invoice_number, credit.number, credited, credit_lines, original)
            _record_validation(cur, key, credit.number, "cii", findings, period_end, run_id)
            # its documents in the same transaction: an issued number always has them
            rendered, extra = render_documents(credit, cii, plan)
            for fmt, fmt_findings in extra.items():
                if has_fatal(fmt_findings):
                    raise CreditRefused(f"credit note on {invoice_number} fails {fmt} validation: "
                                        + ", ".join(sorted({f.rule for f in fmt_findings if f.severity == "fatal"})))
                _record_validation(cur, key, credit.number, fmt, fmt_findings, period_end, run_id)
            for fmt, content in rendered.items():
                written.append(store_document(cur, plan.root, credit.number, credit.issue_date, fmt, content))
        conn.commit()
    except Exception:
        conn.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        raise
    logger.info("credit note %s on %s (%s, %s lines, %d items released): %s", credit.number, invoice_number,
                settlement, len(credit_lines), released, reason)
    return credit.number


def credit_request(conn: Any, seller: SellerConfig, validator: Any, request: CreditRequest, run_id: str) -> str:
    return credit_invoice(conn, seller, validator, request.invoice_number, request.reason, run_id, request.issue_date,
                          lines=request.lines or None, amount=request.amount, settlement=request.settlement)


def _credited_quantities(cur: Any, invoice_number: str) -> dict[str, Decimal]:
    """Quantity already credited per invoice line (credit note lines keep the invoice line's id)."""
    cur.execute("SELECT l.line_id, sum(l.quantity) FROM marts.invoice_lines l JOIN marts.invoices i"
                " ON i.invoice_number = l.invoice_number WHERE i.preceding_number = %s AND i.type_code = %s"
                " AND l.line_id NOT LIKE %s GROUP BY l.line_id", (invoice_number, CREDIT_NOTE, AMOUNT_LINE + "%"))
    return {line_id: quantity for line_id, quantity in cur.fetchall()}


def _credit_lines(original: Invoice, credited: dict[str, Decimal], wanted: dict[str, Decimal] | None,
                  amount: Decimal | None, partly_credited: bool) -> tuple[list[InvoiceLine], tuple[AllowanceCharge, ...]]:
    by_id = {line.line_id: line for line in original.lines}
    left = {line_id: line.quantity - credited.get(line_id, ZERO) for line_id, line in by_id.items()}
    if amount is not None:
        return _amount_lines(original, amount), ()
    if not wanted:
        wanted = {line_id: quantity for line_id, quantity in left.items() if quantity > 0}
        if not wanted:
            raise CreditRefused(f"invoice {original.number} is already fully credited")
    problems = [f"line {line_id} is not a line of invoice {original.number} (lines: {', '.join(by_id)})"
                for line_id in wanted if line_id not in by_id]
    problems += [f"line {line_id}: {quantity} asked, only {left[line_id]} left to credit"
                 for line_id, quantity in wanted.items() if line_id in by_id and quantity > left[line_id]]
    if problems:
        raise CreditRefused(f"credit note on {original.number} refused: " + "; ".join(problems))
    whole = not partly_credited and all(wanted.get(line_id) == line.quantity for line_id, line in by_id.items())
    if original.allowances_charges and not whole:
        raise CreditRefused(f"invoice {original.number} has document-level allowances or charges: credit it in "
                            "full or by amount")
    lines = [_scaled(by_id[line_id], quantity) for line_id, quantity in wanted.items()]
    return sorted(lines, key=lambda line: (len(line.line_id), line.line_id)), (original.allowances_charges
                                                                               if whole else ())


def _scaled(line: InvoiceLine, quantity: Decimal) -> InvoiceLine:
    """The invoice line for ``quantity``: percentage allowances/charges on the new base, fixed ones pro rata."""
    if quantity == line.quantity:
        return line
    items = []
    for item in line.allowances_charges:
        if item.percent is not None and item.base_amount is not None:
            base = round2(quantity * line.net_price)
            items.append(replace(item, base_amount=base, amount=round2(base * item.percent / 100)))
        else:
            items.append(replace(item, amount=round2(item.amount * quantity / line.quantity)))
    return replace(line, quantity=quantity, allowances_charges=tuple(items))


def _amount_lines(original: Invoice, amount: Decimal) -> list[InvoiceLine]:
    """``amount`` spread over the invoice's (category, rate) bases, the cents left by rounding to the largest."""
    rows = [row for row in compute(original).vat_breakdown if row.taxable_amount > 0]
    base = sum((row.taxable_amount for row in rows), ZERO)
    if amount > base:
        raise CreditRefused(f"amount {amount} exceeds the invoice's net total {base} {original.currency}")
    shares = [round2(amount * row.taxable_amount / base) for row in rows]
    shares[max(range(len(rows)), key=lambda i: rows[i].taxable_amount)] += amount - sum(shares, ZERO)
    lines = []
    for index, (row, share) in enumerate(zip(rows, shares), 1):
        goods = all(line.is_goods for line in original.lines
                    if (line.vat_category, _rate(line.vat_rate)) == (row.category, _rate(row.rate)))
        rate = "" if row.rate is None else f" ({format(row.rate.normalize(), 'f')} %)"
        lines.append(InvoiceLine(f"{AMOUNT_LINE}{index}", f"Remise sur facture {original.number}{rate}",
                                 Decimal("1"), "C62", share, row.category, row.rate, is_goods=goods))
    return [line for line in lines if line.net_price > 0]


def _release(cur: Any, invoice_number: str, credit_number: str, before: dict[str, Decimal],
             lines: list[InvoiceLine], original: Invoice) -> int:
    """Mark the items of lines now credited in full, so they are billed again; returns how many."""
    quantities = {line.line_id: line.quantity for line in original.lines}
    full = [line.line_id for line in lines if line.line_id in quantities
            and before.get(line.line_id, ZERO) + line.quantity == quantities[line.line_id]]
    if not full:
        return 0
    cur.execute("UPDATE billing.invoiced_items SET credited_by = %s WHERE invoice_number = %s"
                " AND line_id = ANY(%s) AND credited_by IS NULL", (credit_number, invoice_number, full))
    return cur.rowcount


def _rate(rate: Decimal | None) -> Decimal | None:
    return None if rate is None else rate.quantize(Decimal("0.01"))


def main(argv: list[str] | None = None) -> int:
    """CLI: issue one credit note and write its documents; exit 2 with the reason when it is refused."""
    parser = argparse.ArgumentParser(prog="python -m passerelle.invoicing.credit",
                                     description="Issue a full or partial credit note (381) on an invoice.")
    parser.add_argument("invoice_number")
    parser.add_argument("--reason", required=True, help="why the invoice is credited (printed on the document)")
    parser.add_argument("--line", action="append", default=[], metavar="LINE_ID=QUANTITY",
                        help="credit this quantity of this invoice line (repeatable)")
    parser.add_argument("--amount", help="credit this net amount excluding VAT, spread over the invoice's rates")
    parser.add_argument("--settlement", choices=SETTLEMENTS, default=DEDUCTION)
    parser.add_argument("--issue-date", help="YYYY-MM-DD (default: today)")
    parser.add_argument("--run-id", help="request id: the same id never issues twice (default: a new one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        lines = [dict(zip(("line_id", "quantity"), entry.split("=", 1))) for entry in args.line]
        request = parse_request({"invoice_number": args.invoice_number, "reason": args.reason, "lines": lines,
                                 "amount": args.amount, "settlement": args.settlement, "issue_date": args.issue_date})
        number = run_request(request, args.run_id or f"cli-{uuid.uuid4().hex[:12]}")
    except CreditRefused as refused:
        print(refused, file=sys.stderr)
        return 2
    print(number)
    return 0


def run_request(request: CreditRequest, run_id: str, *, conn: Any = None) -> str:
    """Issue ``request`` on the warehouse (``$WAREHOUSE_URL`` unless ``conn``) and write its documents."""
    from passerelle.documents.validation import CiiValidator
    from passerelle.invoicing.seller import load_seller
    from passerelle.warehouse.settings import connect, warehouse_url

    own = conn is None
    conn = conn or connect(warehouse_url())
    try:
        with CiiValidator() as validator:
            number = credit_request(conn, load_seller(), validator, request, run_id)
        write_documents(conn, numbers=[number], run_id=run_id)  # only if one is missing (issued before this)
        return number
    finally:
        if own:
            conn.close()


if __name__ == "__main__":
    sys.exit(main())
