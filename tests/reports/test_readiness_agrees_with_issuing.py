"""marts.customer_readiness and issuing agree, customer by customer, on the sandbox dataset plus customers
broken after validation (bad SIREN check digit, bad VAT key, a US company with and without a tax
identifier, a control character in the name): the report calls a customer ready exactly when issuing's
checks find nothing, every problem issuing finds is in the report's words, and a billing period issues
the ready customers and holds the others with their reasons."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from stdnum import vatin
from stdnum.fr import siren as stdnum_siren
from stdnum.us import ein

from passerelle.documents.validation import CiiValidator
from passerelle.invoicing.checks import READINESS, customer_readiness, issue_checks
from passerelle.invoicing.drafts import load_drafts
from passerelle_dev.examples import load_example_billing
from passerelle.invoicing.issue import build_billable_items, issue_period
from passerelle_dev.samples import example_seller
from passerelle.reports.readiness import rebuild_customer_readiness
from tests.db import rows, tuples

FEBRUARY = (date(2026, 2, 1), date(2026, 2, 28))
US_EIN = "US123456789"


@pytest.fixture(scope="module")
def validator():
    with CiiValidator() as v:
        yield v


@pytest.fixture(autouse=True)
def output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path))
    return tmp_path


def pick(conn: Any, where: str, count: int) -> list[str]:
    """``count`` staged customers matching ``where``, in key order."""
    found = [key for (key,) in tuples(conn, f"SELECT customer_key FROM staging.customers WHERE {where}"
                                            " ORDER BY customer_key LIMIT %s", count)]
    assert len(found) == count, where
    return found


def break_customers(conn: Any) -> dict[str, str]:
    """Spoil staged customers after validation, as a late CRM edit would; returns key -> what was done."""
    complete = ("customer_type = 'B2B' AND billing_country_code = 'FR' AND siren IS NOT NULL AND siret IS NOT NULL"
                " AND vat_number = 'FR' || right(vat_number, 11) AND einvoicing_address IS NOT NULL"
                " AND billing_street IS NOT NULL AND billing_city IS NOT NULL AND billing_postcode IS NOT NULL")
    bad_siren, bad_key, control = pick(conn, complete, 3)
    us_with_id, us_without_id = pick(conn, "billing_country_code <> 'FR' AND vat_number IS NOT NULL", 2)
    with conn.cursor() as cur:
        cur.execute("UPDATE staging.customers SET siren = left(siren, 8) || ((right(siren, 1)::int + 1) %% 10)"
                    " WHERE customer_key = %s", (bad_siren,))
        cur.execute("UPDATE staging.customers SET vat_number = 'FR' || lpad(((substr(vat_number, 3, 2)::int + 1)"
                    " %% 100)::text, 2, '0') || siren WHERE customer_key = %s", (bad_key,))
        cur.execute("UPDATE staging.customers SET legal_name = 'Acme' || chr(11) || 'Industries'"
                    " WHERE customer_key = %s", (control,))
        for key, tax_id in ((us_with_id, US_EIN), (us_without_id, None)):
            cur.execute("UPDATE staging.customers SET customer_type = 'B2B_INTL', billing_country_code = 'US',"
                        " billing_country_raw = 'United States', vat_number = %s, siren = NULL, siret = NULL,"
                        " delivery_street = NULL, delivery_postcode = NULL, delivery_city = NULL,"
                        " delivery_country_code = NULL WHERE customer_key = %s", (tax_id, key))
    conn.commit()
    return {bad_siren: "bad SIREN", bad_key: "bad VAT key", control: "control character",
            us_with_id: "US with tax id", us_without_id: "US without tax id"}


def bill_every_customer(conn: Any) -> None:
    """One service item for every staged customer the period has nothing for (not-ready customers are
    billing exceptions, not drafts): every customer then goes through drafting and issuing's checks."""
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO marts.billable_items (item_key, item_kind, source_key, customer_key, billing_mode,
                                                         billable_on, item_name, is_goods, unit_code, quantity,
                                                         unit_price, discount_percent, amount, currency, vat_rate,
                                                         period_end)
                       SELECT 'probe:' || c.customer_key, 'deal_line', 'probe:' || c.customer_key, c.customer_key,
                              'fixed', DATE '2026-02-15', 'Audit de conformité', false, 'C62', 1, 100, 0, 100.00,
                              'EUR', 20, DATE '2026-03-01'
                         FROM staging.customers c
                        WHERE NOT EXISTS (SELECT FROM marts.billable_items b WHERE b.customer_key = c.customer_key)""")
    conn.commit()


def held_reason(finding: Any) -> str:
    return f"{finding.rule} ({finding.location}): {finding.message}"


def test_readiness_is_issuings_verdict_and_a_period_holds_exactly_the_customers_not_ready(
        staged_conn: Any, validator: Any, output: Path) -> None:
    load_example_billing(staged_conn)
    broken = break_customers(staged_conn)
    by_case = {case: key for key, case in broken.items()}
    # The broken values are broken by stdnum itself, the US tax id valid as an EIN.
    spoiled = dict(tuples(staged_conn, "SELECT customer_key, siren FROM staging.customers WHERE customer_key = %s",
                          by_case["bad SIREN"]))
    assert not stdnum_siren.is_valid(spoiled[by_case["bad SIREN"]])
    [(bad_vat,)] = tuples(staged_conn, "SELECT vat_number FROM staging.customers WHERE customer_key = %s",
                          by_case["bad VAT key"])
    assert not vatin.is_valid(bad_vat) and ein.is_valid(US_EIN[2:])

    build_billable_items(staged_conn, FEBRUARY[1])
    # The billable items already leave out the US company without a tax identifier (its items, if any, are a
    # billing exception naming G6.28).
    missing_id = by_case["US without tax id"]
    assert tuples(staged_conn, "SELECT count(*) FROM marts.billable_items WHERE customer_key = %s", missing_id) == [(0,)]
    assert all("G6.28" in reason for (reason,) in tuples(
        staged_conn, "SELECT reason FROM marts.billing_exceptions WHERE kind = 'customer_not_ready'"
                     " AND customer_key = %s", missing_id))
    bill_every_customer(staged_conn)
    rebuild_customer_readiness(staged_conn)
    readiness = {row["customer_key"]: row for row in rows(staged_conn, "SELECT * FROM marts.customer_readiness")}

    seller = example_seller()
    drafts = load_drafts(staged_conn, seller, *FEBRUARY)
    staged = {key for (key,) in tuples(staged_conn, "SELECT customer_key FROM staging.customers")}
    assert {d.customer_key for d in drafts} == staged and len(staged) > 60
    with staged_conn.cursor() as cur:
        for draft in drafts:
            row = readiness[draft.customer_key]
            own = issue_checks(draft.invoice)  # what issuing finds by itself, before reading the report
            as_issued = issue_checks(draft.invoice, customer_readiness(cur, draft.customer_key))
            assert row["ready"] == (as_issued == []), (row, as_issued)
            assert row["ready"] <= (own == []), (row, own)  # ready: issuing's own checks find nothing
            # whatever issuing's checks find, the report lists in the same words
            assert {held_reason(f) for f in own} <= set(row["missing"]), (row["missing"], own)
            assert row["classification"] == draft.invoice.processing_rule.value
    staged_conn.rollback()
    # Customers held in quarantine are not ready, and never drafted.
    quarantined = {key for key, row in readiness.items() if row["in_quarantine"]}
    assert quarantined and not quarantined & staged and not any(readiness[k]["ready"] for k in quarantined)

    expected = {"bad SIREN": "PASSERELLE-ID-SIREN_BT-47", "bad VAT key": "PASSERELLE-ID-VAT_BT-48",
                "control character": "PASSERELLE-XML-CHAR", "US without tax id": "G6.28"}
    for case, rule in expected.items():
        row = readiness[by_case[case]]
        assert not row["ready"] and any(item.startswith(rule + " (") for item in row["missing"]), (case, row)
    assert any("U+000B at character 5" in item for item in readiness[by_case["control character"]]["missing"])
    us = readiness[by_case["US with tax id"]]
    assert us["ready"] and us["vat_valid"] and us["classification"] == "B2BINT" and us["is_eu"] is False, us

    outcome = issue_period(staged_conn, seller, validator, period_start=FEBRUARY[0], period_end=FEBRUARY[1],
                           run_id="agreement")
    held = {key: (customer, rules, reasons) for key, customer, rules, reasons in tuples(
        staged_conn, "SELECT invoice_key, customer_key, rules, reasons FROM marts.held_invoices")}
    not_ready = {key for key in staged if not readiness[key]["ready"]}
    assert {customer for customer, _, _ in held.values()} == not_ready and set(outcome.held) == set(held)
    assert not_ready >= set(by_case.values()) - {by_case["US with tax id"]}
    for customer, rules, reasons in held.values():
        assert READINESS in rules, (customer, rules)
        assert any(reason.startswith(READINESS) and all(item in reason for item in readiness[customer]["missing"])
                   for reason in reasons), (customer, reasons)
    for case, rule in expected.items():
        assert any(rule in rules for customer, rules, _ in held.values() if customer == by_case[case]), case

    issued = dict(tuples(staged_conn, "SELECT invoice_number, customer_key FROM marts.invoices"))
    assert set(issued) == set(outcome.issued) and set(issued.values()) == staged - not_ready
    assert by_case["US with tax id"] in issued.values()
    assert tuples(staged_conn, "SELECT buyer_vat_number FROM marts.invoices WHERE customer_key = %s",
                  by_case["US with tax id"]) == [(US_EIN,)]
    documents = dict(tuples(staged_conn, "SELECT invoice_number, path FROM marts.invoice_documents"
                                         " WHERE format = 'facturx'"))
    assert set(documents) == set(issued)
    assert all(Path(path).read_bytes().startswith(b"%PDF") for path in documents.values())
    assert tuples(staged_conn, "SELECT count(*) FROM billing.invoiced_items WHERE invoice_number IS NULL") == [(0,)]
