"""Payments of the QuickBooks sandbox matched to the invoices issued on a real warehouse: every case, reruns,
deletions, and the matched totals recomputed from the emulator's JSON alone."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from passerelle.compliance.statuses import cashed_statuses
from passerelle.payments.matching import match_payments
from tests.db import rows, tuples
from tests.payments.scenario import PAID_ON, book_cases, issue_january, load_books


@pytest.fixture
def books(staged_conn: Any, sandbox: Any) -> tuple[Any, Any]:
    invoices = issue_january(staged_conn)
    with staged_conn.cursor() as cur:  # the sandbox was reset: its token chain starts again from the seed
        cur.execute("DELETE FROM audit.oauth_refresh_tokens")
    staged_conn.commit()
    cases = book_cases(staged_conn, sandbox, invoices)
    load_books(staged_conn, sandbox, day=1)
    return staged_conn, cases


def recorded(conn: Any) -> dict[str, list[tuple]]:
    """billing.payments from QuickBooks per payment id: (invoice, amount, line)."""
    found: dict[str, list[tuple]] = defaultdict(list)
    for row in rows(conn, "SELECT * FROM billing.payments WHERE source = 'quickbooks' ORDER BY source_line"):
        found[row["source_payment_id"]].append((row["invoice_number"], row["amount"], row["source_line"]))
    return found


def unmatched(conn: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for payment_id, code in tuples(conn, "SELECT payment_id, reason_code FROM marts.unmatched_payments"):
        found[payment_id].add(code)
    return found


def test_every_case_is_matched_or_listed_with_its_reason_and_a_rerun_changes_nothing(books) -> None:
    conn, cases = books
    first = match_payments(conn, "run-1")
    got, listed = recorded(conn), unmatched(conn)
    p, inv = cases.payments, cases.invoices
    why = {name: tuples(conn, "SELECT reason FROM marts.unmatched_payments WHERE payment_id = %s", payment)
           for name, payment in p.items()}
    assert got[p["full"]] == [(inv["full"][0].number, inv["full"][0].grand_total, "1:1")]
    half = (inv["partial"][0].grand_total / 2).quantize(Decimal("0.01"))
    assert got[p["partial"]] == [(inv["partial"][0].number, half, "1:1")]
    assert got[p["two_invoices"]] == [(i.number, i.grand_total, f"{n}:1") for n, i in enumerate(inv["two_invoices"], 1)]
    assert got[p["over"]] == [(inv["over"][0].number, inv["over"][0].grand_total, "1:1")], why["over"]
    assert listed[p["over"]] == {"unapplied"}  # the 50.00 over-payment
    netted = inv["netted"][0]  # the money received is the invoice less the credit memo
    assert got[p["netted"]] == [(netted.number, netted.grand_total - Decimal("120.00"), "1:1")], why["netted"]
    for case, reason in (("customer_differs", "customer_differs"), ("unknown_number", "unknown_number"),
                         ("foreign_number", "foreign_number"), ("exceeds_due", "exceeds_due"),
                         ("unapplied", "unapplied")):
        assert p[case] not in got, case
        assert listed[p[case]] == {reason}, why[case]
    reasons = dict(tuples(conn, "SELECT payment_id, reason FROM marts.unmatched_payments WHERE source_line IS NOT NULL"))
    assert "'Entreprise Sans Rapport SARL'" in reasons[p["customer_differs"]]
    assert "F-2026-118" in reasons[p["foreign_number"]] and "MS2026-009999" in reasons[p["unknown_number"]]
    note = tuples(conn, "SELECT reason FROM marts.unmatched_payments WHERE payment_id = %s", p["unapplied"])[0][0]
    assert "310.00" in note and "names MS2026-" in note
    # the dataset's own drawn invoices collide with issued numbers: listed, never matched
    assert first.unmatched["customer_differs"] + first.unmatched["total_differs"] > 1
    before = tuples(conn, "SELECT payment_id, invoice_number, amount, recorded_at FROM billing.payments ORDER BY 1")
    again = match_payments(conn, "run-2")
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0) and again.matched == first.matched
    assert tuples(conn, "SELECT payment_id, invoice_number, amount, recorded_at FROM billing.payments ORDER BY 1") == before
    assert again.unmatched == first.unmatched


def plain(name: str) -> str:
    """Lower case, accents and punctuation dropped (the test's own spelling rule)."""
    letters = unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()
    return " ".join("".join(c if c.isalnum() else " " for c in letters).split())


def test_matched_totals_agree_with_the_emulator_json_recomputed_independently(books, sandbox) -> None:
    """The expected sums per invoice come from the emulator's records and the issued invoices only."""
    conn, _ = books
    match_payments(conn, "run-1")
    control = sandbox.vendors["quickbooks"].control
    docs = {r["Id"]: r for r in control.records("Invoice") + control.records("CreditMemo")}
    customers = {c["Id"]: c for c in control.records("Customer")}
    issued = {r["invoice_number"]: r for r in rows(conn, "SELECT invoice_number, buyer_name, grand_total, due_payable"
                                                         " FROM marts.invoices WHERE type_code = '380'")}
    already = dict(tuples(conn, "SELECT invoice_number, sum(amount) FROM billing.payments WHERE source IS NULL"
                                " GROUP BY 1"))
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for payment in sorted(control.records("Payment"), key=lambda p: (p["TxnDate"], len(p["Id"]), p["Id"])):
        links = [(Decimal(str(line["Amount"])), link) for line in payment["Line"] for link in line["LinkedTxn"]]
        credit = sum((amount for amount, link in links if link["TxnType"] == "CreditMemo"), Decimal("0"))
        invoices = [(amount, docs[link["TxnId"]]) for amount, link in links if link["TxnType"] == "Invoice"]
        who = plain(customers[payment["CustomerRef"]["value"]]["DisplayName"])
        for amount, doc in invoices:
            mine = issued.get(doc["DocNumber"])
            if (mine is None or plain(mine["buyer_name"]) != who or Decimal(str(doc["TotalAmt"])) != mine["grand_total"]
                    or (credit and len(invoices) > 1)):
                continue
            left = mine["due_payable"] - already.get(doc["DocNumber"], 0) - expected.get(doc["DocNumber"], 0)
            if amount <= left:
                expected[doc["DocNumber"]] += amount - credit
    got = dict(tuples(conn, "SELECT invoice_number, sum(amount) FROM billing.payments WHERE source = 'quickbooks'"
                            " GROUP BY 1"))
    assert got == dict(expected) and len(got) >= 7


def test_payments_deleted_or_changed_in_the_books_follow_unless_a_212_was_filed(books, sandbox) -> None:
    conn, cases = books
    match_payments(conn, "run-1")
    p, inv = cases.payments, cases.invoices
    deleted, kept, over, partial = inv["deleted_later"][0], inv["full"][0], inv["over"][0], inv["partial"][0]
    assert recorded(conn)[p["deleted_later"]]
    with conn.cursor() as cur:  # a 212 was filed for the full payment and the over-payment
        cur.execute("INSERT INTO billing.lifecycle_events (invoice_number, status_code, event_at, source, payment_id)"
                    " SELECT invoice_number, 212, paid_on, 'payments', payment_id FROM billing.payments"
                    " WHERE source_payment_id IN (%s, %s)", (p["full"], p["over"]))
    conn.commit()
    control = sandbox.vendors["quickbooks"].control
    control.set_clock("2026-03-03T00:30:00Z")
    control.delete("Payment", p["deleted_later"])
    control.delete("Payment", p["full"])

    def apply(case: str, amount: Decimal) -> None:
        line = control.record("Payment", p[case])["Line"][0]
        control.update("Payment", p[case], {"Line": [{"Amount": str(amount), "LinkedTxn": line["LinkedTxn"]}]})

    apply("partial", Decimal("100.00"))  # no 212 yet: the match follows the books
    apply("over", over.grand_total - Decimal("10.00"))  # a 212 was filed: it stays, listed
    load_books(conn, sandbox, day=2)
    outcome = match_payments(conn, "run-3")
    assert (outcome.removed, outcome.updated) == (1, 1)
    got = recorded(conn)
    assert got[p["partial"]] == [(partial.number, Decimal("100.00"), "1:1")]
    assert got[p["over"]] == [(over.number, over.grand_total, "1:1")]
    assert unmatched(conn)[p["over"]] == {"changed_after_212", "unapplied"}
    assert p["deleted_later"] not in got
    assert tuples(conn, "SELECT count(*) FROM billing.payments WHERE invoice_number = %s", deleted.number) == [(0,)]
    assert got[p["full"]] == [(kept.number, kept.grand_total, "1:1")]  # still counted: its 212 was filed
    assert unmatched(conn)[p["full"]] == {"deleted_after_212"}
    assert tuples(conn, "SELECT amount_paid, last_paid_on FROM marts.invoice_lifecycle WHERE invoice_number = %s",
                  kept.number) == [(kept.grand_total, PAID_ON)]
    assert cashed_statuses(conn) >= 0  # nothing left to refer to a removed payment
    assert tuples(conn, "SELECT count(*) FROM billing.lifecycle_events e LEFT JOIN billing.payments p USING "
                        "(payment_id) WHERE e.payment_id IS NOT NULL AND p.payment_id IS NULL") == [(0,)]
