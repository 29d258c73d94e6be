"""Identity resolution of the books (include/sql/identity/ledger_customer_identity.sql): each customer of the
books matched to one CRM customer by SIREN, VAT number or name, or listed with its problem and candidates."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from stdnum import luhn
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import tva as stdnum_tva

from passerelle.quality.validate import validate_table
from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle_sandbox.dataset_dynamics import reference_companies
from passerelle.transform.models import MODELS_BY_NAME, run_model, run_staging
from passerelle.warehouse.ddl import normalise
from tests.db import rows, tuples

MODEL = "ledger_customer_identity"


def siren(seed: int) -> str:
    """A SIREN whose checksum holds (python-stdnum's rules), distinct per seed."""
    base = f"{73_000_000 + seed * 7919:08d}"
    number = base + luhn.calc_check_digit(base)
    assert stdnum_siren.is_valid(number)
    return number


def vat(number: str) -> str:
    """The French VAT number of a SIREN."""
    result = f"FR{(12 + 3 * (int(number) % 97)) % 97:02d}{number}"
    assert stdnum_tva.is_valid(result)
    return result


def add_customer(conn: Any, key: str, name: str | None, *, siren_: str | None = None, vat_: str | None = None) -> None:
    system, _, source_id = key.partition(":")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.customers (customer_key, source_system, source_id, legal_name, customer_type,"
                    " siren, vat_number) VALUES (%s, %s, %s, %s, 'B2B', %s, %s)",
                    (key, system, source_id, name, siren_, vat_))
    conn.commit()


def add_books_customer(conn: Any, source_id: str, name: str | None, *, siren_: str | None = None,
                       vat_: str | None = None, problem: str | None = None, active: bool = True) -> str:
    """A customer of the books as staging.ledger_customers holds it (the SIREN inside the VAT number when the
    notes give only that, as the QuickBooks model does)."""
    key = f"quickbooks:{source_id}"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.ledger_customers (ledger_customer_key, source_system, source_id, display_name,"
                    " company_name, normalised_name, siren, vat_number, identifier_problem, is_active)"
                    " VALUES (%s, 'quickbooks', %s, %s, %s, reference.normalise(%s), %s, %s, %s, %s)",
                    (key, source_id, name, name, name, siren_ or (vat_[4:] if vat_ else None), vat_, problem, active))
    conn.commit()
    return key


def outcomes(conn: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    links = {r["ledger_customer_key"]: r for r in rows(conn, "SELECT * FROM staging.ledger_customer_links")}
    problems = {r["ledger_customer_key"]: r for r in rows(conn, "SELECT * FROM staging.ledger_customer_exceptions")}
    return links, problems


def contents(conn: Any) -> list[tuple]:
    return tuples(conn, "SELECT 'link', l::text FROM staging.ledger_customer_links l UNION ALL "
                        "SELECT 'exception', e::text FROM staging.ledger_customer_exceptions e ORDER BY 1, 2")


@pytest.fixture
def books(warehouse_conn: Any) -> dict[str, str]:
    """One customer of the books per case, and the CRM customers they may be."""
    conn = warehouse_conn
    add_customer(conn, "salesforce:A", "Travaux Vallet SA", siren_=siren(1), vat_=vat(siren(1)))
    add_customer(conn, "salesforce:B", "Boulangerie Martin SARL", siren_=siren(2))
    add_customer(conn, "hubspot:C", "Clinique du Parc", vat_=vat(siren(3)))
    add_customer(conn, "hubspot:D", "Imprimerie Morel", vat_=vat(siren(4)))
    add_customer(conn, "pipedrive:E", "Menuiserie Blanc", siren_=siren(5))
    add_customer(conn, "folk:F", "Dupont Fils", siren_=None)
    add_customer(conn, "salesforce:G", "Leroy Automobiles SAS", siren_=siren(6))
    add_customer(conn, "hubspot:H", "Garage Leroy", siren_=None)
    add_customer(conn, "salesforce:I", "Atelier Roux", siren_=siren(8))
    add_customer(conn, "salesforce:J", "Constructions Vallet SAS", siren_=siren(9))
    add_customer(conn, "dynamics:K", "Vallet BTP", siren_=siren(9), vat_=vat(siren(9)))
    add_customer(conn, "zoho_crm:L", "Ancien Client SA", siren_=siren(10))
    add_customer(conn, "bigin:M", "Pharmacie Lenoir", siren_=siren(11))
    add_customer(conn, "dynamics:N", "Pharmacie Lenoir", siren_=siren(11))
    return {
        "siren": add_books_customer(conn, "1", "VALLET Travaux", siren_=siren(1)),
        "siren_and_name": add_books_customer(conn, "2", "BOULANGERIE MARTIN SARL", siren_=siren(2)),
        "same_vat": add_books_customer(conn, "3", "Clinique Parc", vat_=vat(siren(3))),
        "siren_vs_crm_vat": add_books_customer(conn, "4", "Morel Impression", siren_=siren(4)),
        "vat_vs_crm_siren": add_books_customer(conn, "5", "Blanc Menuiserie", vat_=vat(siren(5))),
        "name": add_books_customer(conn, "6", "DUPONT-FILS"),
        "conflict": add_books_customer(conn, "7", "Garage Leroy", siren_=siren(6)),
        "name_contradicted": add_books_customer(conn, "8", "Atelier Roux", siren_=siren(7)),
        "two_crms": add_books_customer(conn, "9", "Vallet Constructions", siren_=siren(9)),
        "two_crms_same_name": add_books_customer(conn, "10", "Pharmacie Lenoir", siren_=siren(11)),
        "inactive": add_books_customer(conn, "11", "Ancien Client SA (archive)", siren_=siren(10), active=False),
        "unmapped": add_books_customer(conn, "12", "Entreprise Inconnue SARL",
                                       problem="SIREN 123456788 in Notes fails its checksum"),
    }


def test_each_method_links_with_the_confidence_of_the_identity_model(warehouse_conn: Any,
                                                                      books: dict[str, str]) -> None:
    run_model(warehouse_conn, MODEL)
    links, problems = outcomes(warehouse_conn)
    assert set(links) | set(problems) == set(books.values()) and not set(links) & set(problems)
    linked = {case: (links[key]["customer_key"], links[key]["method"], links[key]["confidence"])
              for case, key in books.items() if key in links}
    high, name = Decimal("0.95"), Decimal("0.80")
    assert linked == {
        "siren": ("salesforce:A", "siren", high),  # the name is spelled another way: the SIREN suffices
        "siren_and_name": ("salesforce:B", "siren", high),
        "same_vat": ("hubspot:C", "vat", high),  # the CRM holds the VAT number only
        "siren_vs_crm_vat": ("hubspot:D", "vat", high),  # the CRM's FR VAT number holds the books' SIREN
        "vat_vs_crm_siren": ("pipedrive:E", "siren", high),  # the books' FR VAT number holds the CRM's SIREN
        "name": ("folk:F", "name", name),
        "inactive": ("zoho_crm:L", "siren", high),  # an inactive customer of the books still has payments
    }
    assert links[books["siren_and_name"]]["evidence"] == f'SIREN {siren(2)}; name "boulangerie martin sarl"'
    assert links[books["siren_vs_crm_vat"]]["evidence"] == (f"SIREN {siren(4)} of the books, VAT number "
                                                            f"{vat(siren(4))} in the CRM")


def test_conflicts_ambiguities_and_unmapped_customers_are_listed_with_their_candidates(
        warehouse_conn: Any, books: dict[str, str]) -> None:
    run_model(warehouse_conn, MODEL)
    _, problems = outcomes(warehouse_conn)
    kinds = {case: problems[key]["problem"] for case, key in books.items() if key in problems}
    assert kinds == {"conflict": "conflict", "name_contradicted": "conflict", "two_crms": "ambiguous",
                     "two_crms_same_name": "ambiguous", "unmapped": "unmapped"}

    def candidates(case: str) -> list[tuple[str, str, str]]:
        return [(c["customer_key"], c["legal_name"], c["method"]) for c in problems[books[case]]["candidates"]]

    # the SIREN names one customer, the name another
    conflict = problems[books["conflict"]]
    assert candidates("conflict") == [("hubspot:H", "Garage Leroy", "name"),
                                      ("salesforce:G", "Leroy Automobiles SAS", "siren")]
    assert conflict["detail"] == "the evidence names different customers: name → hubspot:H, siren → salesforce:G"
    # the only customer of that name is another company: its SIREN is not the books'
    contradicted = problems[books["name_contradicted"]]
    assert candidates("name_contradicted") == [("salesforce:I", "Atelier Roux", "name")]
    assert contradicted["detail"] == (f"the name matches, the identifiers differ: name → salesforce:I "
                                      f"(salesforce:I has SIREN {siren(8)}, the books {siren(7)})")
    # the same company in two CRMs: a person chooses, nothing is guessed
    assert candidates("two_crms") == [("dynamics:K", "Vallet BTP", "siren"),
                                      ("salesforce:J", "Constructions Vallet SAS", "siren")]
    assert problems[books["two_crms"]]["detail"].startswith("2 CRM customers match equally: dynamics:K (")
    assert {c[0] for c in candidates("two_crms_same_name")} == {"bigin:M", "dynamics:N"}
    unmapped = problems[books["unmapped"]]
    assert unmapped["candidates"] == []
    assert unmapped["detail"] == ('no CRM customer has the SIREN (none in the books), VAT number (none in the books) '
                                  'or normalised name ("entreprise inconnue sarl") of quickbooks:12 "Entreprise '
                                  'Inconnue SARL"; SIREN 123456788 in Notes fails its checksum')


def test_a_rerun_rebuilds_the_same_outcomes_and_follows_staging(warehouse_conn: Any, books: dict[str, str]) -> None:
    run_model(warehouse_conn, MODEL)
    first = contents(warehouse_conn)
    run_model(warehouse_conn, MODEL)
    assert contents(warehouse_conn) == first
    # a duplicate staging row (staging keys carry no UNIQUE constraint) gives no second outcome
    with warehouse_conn.cursor() as cur:
        cur.execute("INSERT INTO staging.ledger_customers SELECT * FROM staging.ledger_customers "
                    "WHERE ledger_customer_key = %s", (books["siren"],))
        # the CRM duplicate goes away: the same company is now in one CRM only
        cur.execute("DELETE FROM staging.customers WHERE customer_key = 'dynamics:K'")
    warehouse_conn.commit()
    run_model(warehouse_conn, MODEL)
    links, problems = outcomes(warehouse_conn)
    assert (links[books["two_crms"]]["customer_key"], links[books["two_crms"]]["method"]) == ("salesforce:J", "siren")
    assert books["two_crms"] not in problems
    assert len(contents(warehouse_conn)) == len(first)


def test_both_tables_pass_their_suites(warehouse_conn: Any, books: dict[str, str]) -> None:
    run_model(warehouse_conn, MODEL)
    assert MODELS_BY_NAME[MODEL].table == "staging.ledger_customer_links"
    for table in ("staging.ledger_customer_links", "staging.ledger_customer_exceptions"):
        outcome = validate_table(warehouse_conn, table, "run-1")
        assert outcome.success and not outcome.warnings, table
        assert outcome.row_count == {"staging.ledger_customer_links": 7,
                                     "staging.ledger_customer_exceptions": 5}[table]
    # a link to a customer gone from staging is reported, and kept (a warning: the next rebuild settles it)
    with warehouse_conn.cursor() as cur:
        cur.execute("DELETE FROM staging.customers WHERE customer_key = 'folk:F'")
    warehouse_conn.commit()
    outcome = validate_table(warehouse_conn, "staging.ledger_customer_links", "run-2")
    assert [o.rule.id for o in outcome.warnings] == ["ledger_customer_links.customer_exists"]
    assert tuples(warehouse_conn, "SELECT count(*) FROM staging.ledger_customer_links") == [(7,)]


def test_the_sandbox_books_meet_the_crm_companies(raw_conn: Any, sandbox: Any) -> None:
    """The QuickBooks sandbox keeps the CRM reference companies under their names (some with their SIREN or VAT
    number in the notes, one inactive), which Dynamics also holds under names of its own with the same SIREN,
    and customers of its own that no CRM knows."""
    references = {normalise(company["name"]) for company in reference_companies(load(default_dataset_path()))}
    run_staging(raw_conn, ["customers", "ledger_customers"])
    run_model(raw_conn, MODEL)
    links, problems = outcomes(raw_conn)
    books = {r["ledger_customer_key"]: r for r in rows(raw_conn, "SELECT * FROM staging.ledger_customers")}
    assert set(links) | set(problems) == set(books) and not set(links) & set(problems)
    crm = {r["customer_key"]: r
           for r in rows(raw_conn, "SELECT customer_key, legal_name, siren FROM staging.customers")}
    assert {key for key, row in books.items() if row["normalised_name"] in references} == set(links)
    assert all(problem["problem"] == "unmapped" for problem in problems.values())
    for key, link in links.items():
        mine, customer = books[key], crm[link["customer_key"]]
        assert normalise(customer["legal_name"]) == mine["normalised_name"]
        if mine["siren"]:  # the same company in two CRMs: the name tells which record the books keep
            assert (link["method"], link["confidence"], customer["siren"]) == ("siren", Decimal("0.95"), mine["siren"])
            twins = [c for c in crm.values()
                     if c["siren"] == mine["siren"] and c["customer_key"] != customer["customer_key"]]
            assert twins and all(c["customer_key"].startswith("dynamics:") for c in twins)
        else:
            assert (link["method"], link["confidence"]) == ("name", Decimal("0.80"))
    assert {link["method"] for link in links.values()} == {"siren", "name"}
    assert any(not books[key]["is_active"] for key in links)  # inactive customers are linked too
