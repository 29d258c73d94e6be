"""Billing a period on the sandbox dataset: items, exceptions, numbered and validated invoices, ledger, credit notes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.drafts import load_drafts
from passerelle_dev.examples import load_example_billing
from passerelle.invoicing.credit import credit_invoice
from passerelle.invoicing.issue import build_billable_items, issue_draft, issue_period
from passerelle.einvoice.model import AllowanceCharge, InvoiceLine, VatCategory
from passerelle.invoicing.vat import EXPORT_SERVICES
from tests.db import tuples
from passerelle_dev.samples import example_seller

JANUARY = (date(2026, 1, 1), date(2026, 1, 31))
FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))


@pytest.fixture(scope="module")
def validator():
    with CiiValidator() as v:
        yield v


@pytest.fixture(autouse=True)
def output(tmp_path, monkeypatch):
    """Documents are written with each invoice: into a folder of the test's own."""
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def billing(staged_conn):
    load_example_billing(staged_conn)
    return staged_conn


def run_period(conn, validator, period, run_id="test"):
    build_billable_items(conn, period[1])
    return issue_period(conn, example_seller(), validator, period_start=period[0], period_end=period[1], run_id=run_id)


def test_period_issues_valid_numbered_invoices_with_exact_totals(billing, validator) -> None:
    outcome = run_period(billing, validator, FEBRUARY)
    assert len(outcome.issued) > 20 and not outcome.held, outcome.held
    numbers = tuples(billing, "SELECT sequence FROM marts.invoice_numbers ORDER BY sequence")
    assert [n for (n,) in numbers] == list(range(1, len(outcome.issued) + 1))  # no gap
    assert tuples(billing, "SELECT count(*) FROM marts.invoice_validations WHERE NOT passed") == [(0,)]
    # BR-CO-10/13/14/15/16 hold in the marts, not only in the documents
    broken = tuples(billing, """
        SELECT i.invoice_number FROM marts.invoices i
         WHERE i.line_total <> (SELECT sum(net_amount) FROM marts.invoice_lines l WHERE l.invoice_number = i.invoice_number)
            OR i.tax_basis_total <> i.line_total - i.allowance_total + i.charge_total
            OR i.tax_total <> (SELECT sum(tax_amount) FROM marts.invoice_vat_breakdown b WHERE b.invoice_number = i.invoice_number)
            OR i.tax_basis_total <> (SELECT sum(taxable_amount) FROM marts.invoice_vat_breakdown b WHERE b.invoice_number = i.invoice_number)
            OR i.grand_total <> i.tax_basis_total + i.tax_total
            OR i.due_payable <> i.grand_total - i.prepaid_amount + i.rounding_amount""")
    assert broken == []
    kinds = dict(tuples(billing, "SELECT processing_rule, count(*) FROM marts.invoices GROUP BY 1"))
    assert set(kinds) == {"B2B", "B2BINT", "B2C"}
    # several rates on one invoice, exempt and reverse-charge lines, other currencies with BT-111 in EUR
    assert tuples(billing, "SELECT count(*) > 0 FROM (SELECT invoice_number FROM marts.invoice_vat_breakdown "
                           "WHERE vat_category = 'S' GROUP BY 1 HAVING count(*) > 1) x") == [(True,)]
    categories = {c for (c,) in tuples(billing, "SELECT DISTINCT vat_category FROM marts.invoice_vat_breakdown")}
    assert {"S", "E", "AE", "G"} <= categories
    assert tuples(billing, "SELECT count(*) FROM marts.invoices WHERE currency <> 'EUR' AND tax_total_eur IS NULL") == [(0,)]
    assert tuples(billing, "SELECT count(*) > 0 FROM marts.invoices WHERE currency <> 'EUR'") == [(True,)]
    # every billable item is in the ledger exactly once
    assert tuples(billing, "SELECT count(*) FROM marts.billable_items") == \
        tuples(billing, "SELECT count(*) FROM billing.invoiced_items")


def test_exceptions_name_what_cannot_be_invoiced(billing, validator) -> None:
    run_period(billing, validator, FEBRUARY)
    kinds = dict(tuples(billing, "SELECT kind, count(*) FROM marts.billing_exceptions GROUP BY 1"))
    assert {"unmapped_project", "quarantined", "customer_not_ready"} <= set(kinds), kinds
    reasons = [r for (r,) in tuples(billing, "SELECT reason FROM marts.billing_exceptions WHERE kind = 'customer_not_ready'")]
    assert any("siren missing" in r for r in reasons)
    # nothing of an excepted customer was invoiced
    assert tuples(billing, """SELECT count(*) FROM marts.invoices i JOIN marts.billing_exceptions e
                               ON e.customer_key = i.customer_key AND e.kind = 'customer_not_ready'""") == [(0,)]


def test_rates_follow_the_documented_precedence(billing, validator) -> None:
    build_billable_items(billing, FEBRUARY[1])
    (time_key, project, person), = tuples(
        billing, "SELECT source_key, project_key, person_key FROM marts.billable_items WHERE item_kind = 'time' "
                 "AND rate_source = 'default' ORDER BY source_key LIMIT 1")
    assert project is not None
    with billing.cursor() as cur:
        cur.execute("INSERT INTO billing.rate_cards (scope, scope_key, hourly_rate) VALUES ('person', %s, 95)", (person,))
    billing.commit()
    build_billable_items(billing, FEBRUARY[1])
    assert tuples(billing, "SELECT unit_price, rate_source FROM marts.billable_items WHERE source_key = %s",
                  time_key) == [(Decimal("95.0000"), "person")]
    with billing.cursor() as cur:
        cur.execute("INSERT INTO billing.rate_cards (scope, scope_key, hourly_rate) VALUES ('project', %s, 110)",
                    (project,))
    billing.commit()
    build_billable_items(billing, FEBRUARY[1])
    assert tuples(billing, "SELECT unit_price, rate_source FROM marts.billable_items WHERE source_key = %s",
                  time_key) == [(Decimal("110.0000"), "project")]


def test_reruns_and_backfills_issue_nothing_twice_and_leave_no_gap(billing, validator) -> None:
    first = run_period(billing, validator, JANUARY, "jan")
    second = run_period(billing, validator, FEBRUARY, "feb")
    assert first.issued and second.issued
    again = run_period(billing, validator, FEBRUARY, "feb-retry")
    backfill = run_period(billing, validator, JANUARY, "jan-backfill")
    assert again.issued == [] and backfill.issued == []
    rows = tuples(billing, "SELECT sequence, issue_date FROM marts.invoice_numbers ORDER BY sequence")
    assert [s for s, _ in rows] == list(range(1, len(first.issued) + len(second.issued) + 1))
    assert [d for _, d in rows] == sorted(d for _, d in rows)  # chronological
    assert tuples(billing, "SELECT count(*) FROM (SELECT item_key FROM billing.invoiced_items GROUP BY 1 "
                           "HAVING count(*) > 1) d") == [(0,)]


def test_fatal_finding_holds_the_draft_without_consuming_a_number(billing, validator) -> None:
    seller = example_seller()
    build_billable_items(billing, FEBRUARY[1])
    drafts = load_drafts(billing, seller, *FEBRUARY)
    b2b = next(d for d in drafts if d.invoice.processing_rule.value == "B2B")
    no_siren = replace(b2b, invoice=replace(b2b.invoice, buyer=replace(b2b.invoice.buyer, siren=None)))
    line = b2b.invoice.lines[0]
    six = InvoiceLine(line.line_id, line.item_name, line.quantity, line.unit_code, line.net_price, line.vat_category,
                      Decimal("6"))
    bad_rate = replace(b2b, invoice_key=b2b.invoice_key + ":rate", invoice=replace(b2b.invoice, lines=(six,)))
    assert issue_draft(billing, seller, validator, no_siren, "t")[0] is None
    number, rules = issue_draft(billing, seller, validator, bad_rate, "t")
    assert number is None and any(r.startswith("BR-FR-16") for r in rules), rules
    held = dict(tuples(billing, "SELECT invoice_key, rules FROM marts.held_invoices"))
    assert any(r.startswith("BR-FR-11") for r in held[b2b.invoice_key])
    assert tuples(billing, "SELECT count(*) FROM marts.invoice_numbers") == [(0,)]
    assert tuples(billing, "SELECT count(*) FROM billing.invoiced_items") == [(0,)]
    findings = tuples(billing, "SELECT rule, severity, message FROM marts.invoice_findings WHERE invoice_key = %s",
                      b2b.invoice_key)
    assert any(r.startswith("BR-FR-11") and s == "fatal" and m for r, s, m in findings)
    # the real draft, fixed, is issued under the same key with the first number
    number, _ = issue_draft(billing, seller, validator, b2b, "t")
    assert number == "MS2026-000001"
    assert tuples(billing, "SELECT count(*) FROM marts.held_invoices WHERE invoice_key = %s", b2b.invoice_key) == [(0,)]


def test_credit_note_references_the_invoice_and_frees_its_items(billing, validator) -> None:
    seller = example_seller()
    outcome = run_period(billing, validator, FEBRUARY)
    original = outcome.issued[0]
    (total, customer), = tuples(billing, "SELECT grand_total, customer_key FROM marts.invoices WHERE invoice_number = %s",
                                original)
    credit = credit_invoice(billing, seller, validator, original, "erreur de quantité", "credit")
    assert tuples(billing, "SELECT type_code, preceding_number, grand_total FROM marts.invoices WHERE invoice_number = %s",
                  credit) == [("381", original, total)]
    assert credit_invoice(billing, seller, validator, original, "retry", "credit") == credit  # same request
    with pytest.raises(ValueError, match="already fully credited"):
        credit_invoice(billing, seller, validator, original, "twice", "credit-again")
    assert tuples(billing, "SELECT count(*) FROM billing.invoiced_items WHERE invoice_number = %s AND credited_by IS NULL",
                  original) == [(0,)]
    # the next run bills the credited items again, on a new invoice with a new number
    rerun = run_period(billing, validator, FEBRUARY, "reissue")
    assert len(rerun.issued) == 1 and rerun.issued[0] not in (original, credit)
    assert tuples(billing, "SELECT grand_total, customer_key FROM marts.invoices WHERE invoice_number = %s",
                  rerun.issued[0]) == [(total, customer)]


def _customer(drafts, used, predicate):
    draft = next(d for d in drafts if d.customer_key not in used and predicate(d))
    used.add(draft.customer_key)
    return draft.customer_key


def test_broken_drafts_are_held_with_their_reason_and_the_period_is_issued(billing, validator, output) -> None:
    seller = example_seller()
    build_billable_items(billing, FEBRUARY[1])
    drafts = load_drafts(billing, seller, *FEBRUARY)
    used: set[str] = set()
    eur = lambda d: d.invoice.currency == "EUR"  # noqa: E731
    b2b = lambda d: eur(d) and d.invoice.processing_rule.value == "B2B" and d.invoice.buyer.siret  # noqa: E731
    control = _customer(drafts, used, eur)
    glyph = _customer(drafts, used, eur)
    bad_siret = _customer(drafts, used, b2b)
    bad_address = _customer(drafts, used, b2b)
    no_rate = next(d.invoice.currency for d in drafts if not eur(d))
    with billing.cursor() as cur:
        cur.execute("UPDATE staging.customers SET legal_name = 'Acme\x0bIndustries' WHERE customer_key = %s", (control,))
        cur.execute("UPDATE staging.customers SET legal_name = legal_name || ' 𝄞' WHERE customer_key = %s", (glyph,))
        cur.execute("UPDATE staging.customers SET siret = left(siret, 13) || ((right(siret, 1)::int + 1) %% 10)"
                    " WHERE customer_key = %s", (bad_siret,))
        cur.execute("UPDATE staging.customers SET einvoicing_address = siren || '#compta' WHERE customer_key = %s",
                    (bad_address,))
        cur.execute("DELETE FROM billing.exchange_rates WHERE currency = %s", (no_rate,))
    billing.commit()
    broken = {control: "PASSERELLE-XML-CHAR", glyph: "PASSERELLE-PDF-GLYPH", bad_siret: "PASSERELLE-ID-SIRET_BT-46",
              bad_address: "BR-FR-23_BT-49"}
    outcome = issue_period(billing, seller, validator, period_start=FEBRUARY[0], period_end=FEBRUARY[1], run_id="t")

    held = {key: (customer, rules, reasons) for key, customer, rules, reasons in tuples(
        billing, "SELECT invoice_key, customer_key, rules, reasons FROM marts.held_invoices")}
    by_customer = {customer: rules for customer, rules, _ in held.values()}
    for customer, rule in broken.items():
        assert rule in by_customer.get(customer, []), (customer, by_customer.get(customer))
    rendering = [rules for customer, rules, _ in held.values() if customer not in broken]
    assert rendering and all(rules == ["PASSERELLE-RENDER"] for rules in rendering), rendering  # no EUR rate
    assert all(reasons for _, _, reasons in held.values())
    assert any("U+000B" in r for _, _, reasons in held.values() for r in reasons)
    assert set(outcome.held) == set(held) and len(outcome.issued) == len(drafts) - len(held) > 20
    # every issued number has its document, written and recorded with the invoice; numbers have no gap
    sequences = [s for (s,) in tuples(billing, "SELECT sequence FROM marts.invoice_numbers ORDER BY sequence")]
    assert sequences == list(range(1, len(outcome.issued) + 1))
    documents = dict(tuples(billing, "SELECT invoice_number, path FROM marts.invoice_documents WHERE format = 'facturx'"))
    assert set(documents) == set(outcome.issued)
    assert all(Path(path).read_bytes().startswith(b"%PDF") for path in documents.values())
    assert all(Path(path).stat().st_mode & 0o777 == 0o600 for path in documents.values())  # customer data
    assert not list(output.rglob("*.tmp"))
    findings = tuples(billing, "SELECT DISTINCT rule FROM marts.invoice_findings WHERE layer = 'issue'")
    assert ("PASSERELLE-XML-CHAR",) in findings

    # an Airflow retry (billable items not rebuilt) and a full rerun are clean: nothing twice, same holds
    retry = issue_period(billing, seller, validator, period_start=FEBRUARY[0], period_end=FEBRUARY[1], run_id="retry")
    build_billable_items(billing, FEBRUARY[1])
    rerun = issue_period(billing, seller, validator, period_start=FEBRUARY[0], period_end=FEBRUARY[1], run_id="rerun")
    assert retry.issued == [] and rerun.issued == [] and set(retry.held) == set(held)
    # rebuilt, the items of a currency without a rate become a billing exception instead of drafts
    assert {held[key][0] for key in rerun.held} == set(broken)
    assert tuples(billing, "SELECT count(*) FROM marts.invoice_numbers") == [(len(outcome.issued),)]


def test_a_draft_that_cannot_be_built_is_held_and_the_others_are_issued(billing, validator, output) -> None:
    seller = example_seller()
    build_billable_items(billing, FEBRUARY[1])
    [(customer,)] = tuples(billing, "SELECT min(customer_key) FROM marts.billable_items WHERE currency = 'EUR'"
                                    " AND item_kind <> 'time'")
    with billing.cursor() as cur:  # 6 % is no French rate: building the line's VAT raises
        cur.execute("UPDATE marts.billable_items SET vat_rate = 6 WHERE customer_key = %s AND item_kind <> 'time'",
                    (customer,))
    billing.commit()
    with pytest.raises(ValueError, match="vat_rate"):
        load_drafts(billing, seller, *FEBRUARY)  # on its own, building says why
    outcome = issue_period(billing, seller, validator, period_start=FEBRUARY[0], period_end=FEBRUARY[1], run_id="t")
    held = tuples(billing, "SELECT customer_key, rules, reasons FROM marts.held_invoices")
    assert held and {c for c, _, _ in held} == {customer}
    assert all(rules == ["PASSERELLE-DRAFT"] and "vat_rate" in reasons[0] and "6" in reasons[0]
               for _, rules, reasons in held)
    assert set(outcome.held) == {key for (key,) in tuples(billing, "SELECT invoice_key FROM marts.held_invoices")}
    assert len(outcome.issued) > 20
    sequences = [s for (s,) in tuples(billing, "SELECT sequence FROM marts.invoice_numbers ORDER BY sequence")]
    assert sequences == list(range(1, len(outcome.issued) + 1))


def test_amounts_beyond_the_cent_are_refused_not_rounded(billing, validator) -> None:
    seller = example_seller()
    build_billable_items(billing, FEBRUARY[1])
    draft = next(d for d in load_drafts(billing, seller, *FEBRUARY) if d.invoice.currency == "EUR")
    line = draft.invoice.lines[0]
    allowance = AllowanceCharge(False, Decimal("0.015"), "Geste commercial", "95")
    odd = replace(draft, invoice=replace(draft.invoice, lines=(replace(line, allowances_charges=(allowance,)),)))
    number, rules = issue_draft(billing, seller, validator, odd, "t")
    assert number is None and rules == ["BR-DEC-24"]
    assert tuples(billing, "SELECT count(*) FROM marts.invoice_numbers") == [(0,)]


def test_full_line_description_is_carried_in_bt_154(billing, validator) -> None:
    seller = example_seller()
    build_billable_items(billing, FEBRUARY[1])
    draft = next(d for d in load_drafts(billing, seller, *FEBRUARY) if d.invoice.currency == "EUR")
    text = "Prestation détaillée. " * 60  # 1 320 characters
    line = replace(draft.invoice.lines[0], description=text)
    long = replace(draft, invoice=replace(draft.invoice, lines=(line,) + draft.invoice.lines[1:]))
    number, rules = issue_draft(billing, seller, validator, long, "t")
    assert number and not rules
    assert tuples(billing, "SELECT description FROM marts.invoice_lines WHERE invoice_number = %s AND line_id = %s",
                  number, line.line_id) == [(text,)]


def test_a_non_eu_buyer_keeps_its_tax_identifier_and_an_invalid_one_is_held(billing, validator) -> None:
    seller = example_seller()
    build_billable_items(billing, FEBRUARY[1])
    draft = next(d for d in load_drafts(billing, seller, *FEBRUARY) if d.invoice.processing_rule.value == "B2BINT"
                 and d.invoice.currency == "EUR")
    us = replace(draft.invoice.buyer, vat_number="US123456789",
                 address=replace(draft.invoice.buyer.address, country_code="US"))
    lines = tuple(replace(line, vat_category=VatCategory.EXPORT) for line in draft.invoice.lines)
    exemptions = {(VatCategory.EXPORT, Decimal("0.00")): EXPORT_SERVICES}
    american = replace(draft, invoice=replace(draft.invoice, buyer=us, lines=lines, exemptions=exemptions,
                                              delivery_address=None))
    missing = replace(american, invoice_key=american.invoice_key + ":none",
                      invoice=replace(american.invoice, buyer=replace(us, vat_number=None)))
    wrong = replace(american, invoice_key=american.invoice_key + ":ch",
                    invoice=replace(american.invoice, buyer=replace(us, vat_number="US12345678")))
    assert issue_draft(billing, seller, validator, missing, "t") == (None, ["G6.28"])
    assert issue_draft(billing, seller, validator, wrong, "t") == (None, ["PASSERELLE-ID-VAT_BT-48"])
    number, rules = issue_draft(billing, seller, validator, american, "t")
    assert number and not rules, rules
    assert tuples(billing, "SELECT buyer_vat_number FROM marts.invoices WHERE invoice_number = %s", number) == [
        ("US123456789",)]


def test_one_draft_issued_on_its_own_writes_and_validates_ubl(billing, validator, output, monkeypatch) -> None:
    """Called without a plan, issue_draft opens the validators its formats need (UBL here)."""
    monkeypatch.setenv("PASSERELLE_INVOICE_FORMATS", "facturx,ubl")
    seller = example_seller()
    build_billable_items(billing, FEBRUARY[1])
    draft = next(d for d in load_drafts(billing, seller, *FEBRUARY) if d.invoice.currency == "EUR")
    number, rules = issue_draft(billing, seller, validator, draft, "alone")
    assert number and rules == []
    assert sorted(f for (f,) in tuples(billing, "SELECT format FROM marts.invoice_documents")) == ["facturx", "ubl"]
    assert tuples(billing, "SELECT passed FROM marts.invoice_validations WHERE format = 'ubl'") == [(True,)]
