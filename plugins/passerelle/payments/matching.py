"""Match the payments of the books (staging.ledger_*) to the invoices Passerelle issued, never guessing.

Each application of a payment to an invoice of the books is matched to the issued invoice (``marts.invoices``,
type 380) carrying the same number (``DocNumber`` = BT-1) when all of these hold, else it is listed in
``marts.unmatched_payments`` with the reason:

- the number is one Passerelle issued (``unknown_number`` / ``foreign_number`` for QuickBooks' own numbering,
  ``not_an_invoice`` for a credit note's number);
- the customer is the buyer: the books' customer is linked to the invoice's CRM customer
  (``staging.ledger_customer_links``, identity resolution of the books), else SIREN when both sides have one,
  else VAT number, else the normalised name (``customer_differs``); same currency (``currency_differs``);
  same total in the books as issued
  (``total_differs``: another document under the same number);
- the amount settled does not exceed what is still due after the payments already recorded (``exceeds_due``).

What counts is the money received: a payment settling one invoice net of a credit memo records the invoice's
line less the credit (the credit memo is no cash); netting spread over several invoices cannot be split without
guessing (``netting_ambiguous``). A remainder applied to nothing (over-payment, or a payment naming no invoice)
is listed as ``unapplied``.

A match is one ``billing.payments`` row keyed by its provenance (source, payment id, ``<line>:<link>``), so a
rerun changes nothing. When the books change, a match not yet behind a 212 status follows them (updated, or
removed when the payment was deleted or no longer matches). Once a 212 was recorded for it (it may already be
filed in Flux 10.4), it is **not** removed: it stays counted and is listed (``deleted_after_212`` /
``changed_after_212``) for a person to correct both the status and the report; an automatic reversal would
leave a filed status contradicting the books without anyone knowing.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

ISSUED_NUMBER = re.compile(r"^[A-Za-z0-9]{0,10}\d{4}-\d{6}$")
"""The shape of numbers Passerelle issues: ``<prefix><year>-<6-digit sequence>`` (marts.invoice_numbers)."""
ZERO = Decimal("0.00")

APPLICATIONS_SQL = """
SELECT a.source_system, a.payment_id, a.line_number || ':' || a.link_number AS source_line,
       a.linked_type, a.linked_id, a.amount,
       p.paid_on, p.currency, p.reference, p.note, p.unapplied_amount,
       c.display_name AS customer_name, c.siren, c.vat_number, c.normalised_name, l.customer_key AS linked_customer_key,
       d.source_id IS NOT NULL AS document_known, d.document_type, d.document_number, d.total_amount AS document_total,
       i.invoice_number, i.type_code, i.currency AS invoice_currency, i.grand_total, i.due_payable,
       i.customer_key AS buyer_customer_key, i.buyer_name, i.buyer_siren, i.buyer_vat_number,
       reference.normalise(i.buyer_name) AS buyer_normalised
  FROM staging.ledger_payment_applications AS a
  JOIN staging.ledger_payments AS p ON p.ledger_payment_key = a.ledger_payment_key
  LEFT JOIN staging.ledger_customers AS c ON c.ledger_customer_key = p.ledger_customer_key
  LEFT JOIN staging.ledger_customer_links AS l ON l.ledger_customer_key = p.ledger_customer_key
  LEFT JOIN staging.ledger_invoices AS d
         ON d.source_system = a.source_system AND d.source_id = a.linked_id AND d.document_type = a.linked_type
  LEFT JOIN marts.invoices AS i ON i.invoice_number = d.document_number
 ORDER BY p.paid_on, a.source_system, length(a.payment_id), a.payment_id, a.line_number, a.link_number
"""
UNAPPLIED_SQL = """
SELECT p.source_system, p.source_id AS payment_id, p.paid_on, p.currency, p.unapplied_amount, p.note, p.reference,
       c.display_name AS customer_name
  FROM staging.ledger_payments AS p
  LEFT JOIN staging.ledger_customers AS c ON c.ledger_customer_key = p.ledger_customer_key
 WHERE p.unapplied_amount > 0
"""
RECORDED_SQL = """
SELECT bp.payment_id, bp.source, bp.source_payment_id, bp.source_line, bp.invoice_number, bp.paid_on, bp.amount,
       bp.reference, EXISTS (SELECT FROM billing.lifecycle_events e WHERE e.payment_id = bp.payment_id) AS has_212
  FROM billing.payments AS bp
 WHERE bp.source IS NOT NULL
"""
OTHER_PAID_SQL = "SELECT invoice_number, sum(amount) FROM billing.payments WHERE source IS NULL GROUP BY invoice_number"
"""Payments recorded by hand (or by the bank): they count in what is still due."""


@dataclass(frozen=True)
class Match:
    """What one application records in billing.payments."""

    invoice_number: str
    paid_on: date
    amount: Decimal
    reference: str | None


@dataclass(frozen=True)
class Unmatched:
    source_system: str
    payment_id: str
    source_line: str | None
    paid_on: date | None
    amount: Decimal | None
    currency: str | None
    customer_name: str | None
    document_number: str | None
    invoice_number: str | None
    reason_code: str
    reason: str


@dataclass
class MatchOutcome:
    """Counts of one matching run (``matched`` = applications recorded in billing.payments after the run)."""

    matched: int = 0
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    unmatched: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {"matched": self.matched, "inserted": self.inserted, "updated": self.updated, "removed": self.removed,
                "unmatched": sum(self.unmatched.values()), "unmatched_by_reason": dict(sorted(self.unmatched.items()))}


def _rows(conn: Any, query: str) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(query)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def _described(name: str | None, siren: str | None, note: str | None) -> str:
    """``'Name' (SIREN 123456789, note)``, leaving out what is unknown."""
    details = ", ".join(part for part in (f"SIREN {siren}" if siren else None, note) if part)
    return f"'{name}'" + (f" ({details})" if details else "")


def customer_problem(row: dict[str, Any]) -> str | None:
    """Why the customer of the books is not the invoice's buyer (None when it is).

    A link of the books' customer to the invoice's CRM customer settles it: identity resolution matched them on
    evidence that agrees, while the books may hold no identifier and spell the name their own way. Without
    one, identifiers first, then the name. A link to another CRM customer refuses nothing by itself: the same
    company may be in two CRMs.
    """
    linked = row["linked_customer_key"]
    if linked is not None and linked == row["buyer_customer_key"]:
        return None
    books = _described(row["customer_name"], row["siren"], f"linked to CRM customer {linked}" if linked else None)
    buyer = _described(row["buyer_name"], row["buyer_siren"],
                       f"CRM customer {row['buyer_customer_key']}" if linked and row["buyer_customer_key"] else None)
    if row["siren"] and row["buyer_siren"]:
        same = row["siren"] == row["buyer_siren"]
    elif row["vat_number"] and row["buyer_vat_number"]:
        same = row["vat_number"] == row["buyer_vat_number"].replace(" ", "").upper()
    else:
        same = bool(row["normalised_name"]) and row["normalised_name"] == row["buyer_normalised"]
    return None if same else f"the books' customer {books} is not the invoice's buyer {buyer}"


def _where(row: dict[str, Any]) -> str:
    return f"{row['source_system']} payment {row['payment_id']} line {row['source_line']}"


def _invoice_problem(row: dict[str, Any]) -> tuple[str, str] | None:
    """(reason_code, reason) when the linked document cannot be an issued invoice of this customer."""
    where, number = _where(row), row["document_number"]
    if not row["document_known"]:
        return ("unknown_document", f"{where}: LinkedTxn names {row['linked_type']} {row['linked_id']}, which the "
                                    "books do not hold (deleted or not extracted yet)")
    if row["invoice_number"] is None:
        if number and ISSUED_NUMBER.match(number):
            return ("unknown_number", f"{where}: invoice {number} of the books was never issued by Passerelle")
        return ("foreign_number", f"{where}: invoice DocNumber {number!r} is in the books' own numbering, not a "
                                  "number Passerelle issued: write the issued number in DocNumber")
    if row["type_code"] != "380":
        return ("not_an_invoice", f"{where}: {number} is a credit note (type {row['type_code']}), not an invoice")
    problem = customer_problem(row)
    if problem:
        return "customer_differs", f"{where}, invoice {number}: {problem}"
    if row["currency"] and row["currency"] != row["invoice_currency"]:
        return ("currency_differs", f"{where}, invoice {number}: paid in {row['currency']}, invoiced in "
                                    f"{row['invoice_currency']}")
    if row["document_total"] is not None and row["document_total"] != row["grand_total"]:
        return ("total_differs", f"{where}, invoice {number}: TotalAmt {row['document_total']} in the books, "
                                 f"{row['grand_total']} issued: another document carries this number")
    return None


def decide(applications: list[dict[str, Any]], recorded: dict[tuple[str, str, str], dict[str, Any]],
           other_paid: dict[str, Decimal]) -> tuple[dict[tuple[str, str, str], Match], list[Unmatched]]:
    """The matches wanted and the unmatched applications, in payment order (what is due moves as matches add up).

    ``recorded`` are the rows matched by earlier runs; those behind a 212 are frozen (see the module doc).
    """
    frozen = {key: row for key, row in recorded.items() if row["has_212"]}
    paid: dict[str, Decimal] = defaultdict(lambda: ZERO, other_paid)
    for row in frozen.values():
        paid[row["invoice_number"]] += row["amount"]
    by_payment: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in applications:
        by_payment[(row["source_system"], row["payment_id"])].append(row)
    wanted: dict[tuple[str, str, str], Match] = {}
    unmatched: list[Unmatched] = []

    def refuse(row: dict[str, Any], code: str, reason: str) -> None:
        unmatched.append(Unmatched(row["source_system"], row["payment_id"], row["source_line"], row["paid_on"],
                                   row["amount"], row["currency"], row["customer_name"], row["document_number"],
                                   row["invoice_number"], code, reason))

    for (source, payment_id), rows in by_payment.items():
        invoices = [r for r in rows if r["linked_type"] == "Invoice"]
        credit = sum((r["amount"] for r in rows if r["linked_type"] == "CreditMemo"), ZERO)
        for row in rows:
            key = (source, payment_id, row["source_line"])
            if row["linked_type"] != "Invoice":
                if not invoices:
                    document = row["document_number"] or row["linked_id"]
                    refuse(row, "not_an_invoice", f"{_where(row)}: applies {row['linked_type']} {document} to no "
                                                  "invoice (a refund is not a payment received)")
                continue  # a credit memo netted against this payment's invoice: no money received for it
            problem = _invoice_problem(row)
            if problem is None and credit and len(invoices) > 1:
                problem = ("netting_ambiguous", f"{_where(row)}: credit memos of {credit} are netted against "
                                                f"{len(invoices)} invoices; which invoice they reduce is not said")
            cash = row["amount"] - credit
            if problem is None and cash <= 0:
                problem = ("netting_ambiguous", f"{_where(row)}: the credit memos ({credit}) cover the whole "
                                                f"line ({row['amount']}): no money was received for "
                                                f"{row['document_number']}")
            if problem is None and key not in frozen:
                due = row["due_payable"] - paid[row["invoice_number"]]
                if row["amount"] > due:
                    problem = ("exceeds_due", f"{_where(row)}: settles {row['amount']} of invoice "
                                              f"{row['invoice_number']}, of which only {due} is still due "
                                              f"({row['due_payable']} less {paid[row['invoice_number']]} received)")
            if problem is not None:
                if key in frozen:
                    old = frozen[key]
                    refuse(row, "changed_after_212", f"{_where(row)}: now refused ({problem[1]}), but {old['amount']} "
                                                     f"was recorded for {old['invoice_number']} and a 212 status "
                                                     "filed: correct the status and the e-reporting by hand")
                    wanted[key] = Match(old["invoice_number"], old["paid_on"], old["amount"], old["reference"])
                else:
                    refuse(row, *problem)
                continue
            match = Match(row["invoice_number"], row["paid_on"], cash, row["reference"])
            if key in frozen:
                old = frozen[key]
                if (old["invoice_number"], old["paid_on"], old["amount"]) != (match.invoice_number, match.paid_on,
                                                                              match.amount):
                    refuse(row, "changed_after_212", f"{_where(row)}: now {match.amount} on {match.paid_on} for "
                                                     f"{match.invoice_number}, but {old['amount']} on {old['paid_on']} "
                                                     f"for {old['invoice_number']} was recorded and a 212 status "
                                                     "filed: correct the status and the e-reporting by hand")
                wanted[key] = Match(old["invoice_number"], old["paid_on"], old["amount"], old["reference"])
                continue
            wanted[key] = match
            paid[match.invoice_number] += match.amount
    live = {(r["source_system"], r["payment_id"], r["source_line"]) for r in applications}
    for key, old in frozen.items():
        if key not in live:
            unmatched.append(Unmatched(key[0], key[1], key[2], old["paid_on"], old["amount"], None, None,
                                       old["invoice_number"], old["invoice_number"], "deleted_after_212",
                                       f"{key[0]} payment {key[1]} line {key[2]} is no longer in the books, but "
                                       f"{old['amount']} was recorded for {old['invoice_number']} and a 212 status "
                                       "filed: it stays counted until the status and the e-reporting are corrected "
                                       "by hand"))
            wanted[key] = Match(old["invoice_number"], old["paid_on"], old["amount"], old["reference"])
    return wanted, unmatched


def _unapplied(row: dict[str, Any]) -> Unmatched:
    named = re.findall(r"[A-Za-z]{0,10}\d{4}-\d{6}", row["note"] or "")
    hint = (f"; its note names {', '.join(named)}: apply it to that invoice in the books if that is right "
            "(Passerelle does not guess)" if named else "")
    return Unmatched(row["source_system"], row["payment_id"], None, row["paid_on"], row["unapplied_amount"],
                     row["currency"], row["customer_name"], None, None, "unapplied",
                     f"{row['source_system']} payment {row['payment_id']}: {row['unapplied_amount']} "
                     f"{row['currency'] or ''} applied to no invoice (UnappliedAmt){hint}".replace("  ", " "))


def match_payments(conn: Any, run_id: str) -> MatchOutcome:
    """Match every payment of the staged books, update billing.payments and marts.unmatched_payments; commits."""
    outcome = MatchOutcome()
    try:
        with conn.cursor() as cur:
            # one matcher at a time; readers of billing.payments carry on
            cur.execute("LOCK TABLE billing.payments IN SHARE ROW EXCLUSIVE MODE")
        recorded = {(r["source"], r["source_payment_id"], r["source_line"]): r for r in _rows(conn, RECORDED_SQL)}
        other_paid = {r["invoice_number"]: r["sum"] for r in _rows(conn, OTHER_PAID_SQL)}
        wanted, unmatched = decide(_rows(conn, APPLICATIONS_SQL), recorded, other_paid)
        unmatched += [_unapplied(r) for r in _rows(conn, UNAPPLIED_SQL)]
        with conn.cursor() as cur:
            for key, old in recorded.items():
                new = wanted.get(key)
                if new is None:
                    cur.execute("DELETE FROM billing.payments WHERE payment_id = %s", (old["payment_id"],))
                    outcome.removed += 1
                elif (old["invoice_number"], old["paid_on"], old["amount"], old["reference"]) != (
                        new.invoice_number, new.paid_on, new.amount, new.reference):
                    cur.execute("UPDATE billing.payments SET invoice_number = %s, paid_on = %s, amount = %s, "
                                "reference = %s, recorded_at = now() WHERE payment_id = %s",
                                (new.invoice_number, new.paid_on, new.amount, new.reference, old["payment_id"]))
                    outcome.updated += 1
            for key, new in wanted.items():
                if key not in recorded:
                    cur.execute("INSERT INTO billing.payments (invoice_number, paid_on, amount, reference, source, "
                                "source_payment_id, source_line) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                (new.invoice_number, new.paid_on, new.amount, new.reference, *key))
                    outcome.inserted += 1
            cur.execute("DELETE FROM marts.unmatched_payments")  # rebuilt whole: this module alone writes it
            for item in unmatched:
                cur.execute("INSERT INTO marts.unmatched_payments (source_system, payment_id, source_line, paid_on, "
                            "amount, currency, customer_name, document_number, invoice_number, reason_code, reason, "
                            "run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                            (item.source_system, item.payment_id, item.source_line, item.paid_on, item.amount,
                             item.currency, item.customer_name, item.document_number, item.invoice_number,
                             item.reason_code, item.reason, run_id))
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    outcome.matched = len(wanted)
    outcome.unmatched = Counter(item.reason_code for item in unmatched)
    log.info("payments matched: %s", outcome.summary())
    return outcome
