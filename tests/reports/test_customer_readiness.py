"""marts.customer_readiness: the identifier functions agree with python-stdnum, every customer the sandbox
dataset spoils on purpose is flagged with the right item, clean customers are ready."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from psycopg2.extras import Json
from stdnum import luhn, vatin
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret
from stdnum.fr import tva as stdnum_tva

from passerelle.quality.gx_context import GX_DIR_ENV
from passerelle.quality.validate import validate_staging
from passerelle.reports.readiness import rebuild_customer_readiness
from passerelle_sandbox.dataset import default_dataset_path, load
from passerelle.transform.models import run_staging
from tests.db import rows, tuples

AS_OF = date(2026, 3, 2)  # end of the extracted window
ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # stdnum.fr.tva's key alphabet


@pytest.fixture(autouse=True)
def gx_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Great Expectations writes its context to a temporary folder."""
    monkeypatch.setenv(GX_DIR_ENV, str(tmp_path / "gx"))
    return tmp_path / "gx"


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def with_luhn(body: str) -> str:
    return body + luhn.calc_check_digit(body)


def sample_identifiers(rng: random.Random) -> dict[str, list[str]]:
    """Valid, broken and odd-shaped SIRENs, SIRETs and French VAT numbers (La Poste, Monaco, letter keys)."""
    odd = ["", "12345678", "1234567890", "ABCDEFGHI", "12345678A", "７３２８２９３２０", "73282932 "]
    sirens = [with_luhn(digits(rng, 8)) for _ in range(1500)] + [digits(rng, 9) for _ in range(1500)] + odd
    valid_sirens = [s for s in sirens if stdnum_siren.is_valid(s) and len(s) == 9]
    sirets = [with_luhn(rng.choice(valid_sirens) + digits(rng, 4)) for _ in range(1000)]
    sirets += [digits(rng, 14) for _ in range(1000)]
    sirets += ["356000000" + digits(rng, 5) for _ in range(500)] + ["35600000000048", "35600000000049"]
    sirets += [with_luhn(digits(rng, 9) + digits(rng, 4)) for _ in range(500)] + odd + ["3560000000abcd"]
    vats = ["FR" + stdnum_siren.to_tva(s) for s in sirens if len(s) == 9 and s.isdigit()]
    vats += ["FR" + rng.choice(ALPHABET) + rng.choice(ALPHABET) + rng.choice(valid_sirens) for _ in range(2000)]
    vats += ["FR" + digits(rng, 2) + "000" + digits(rng, 6) for _ in range(500)]  # Monaco
    vats += ["FR" + rng.choice(ALPHABET) + rng.choice(ALPHABET) + "000" + digits(rng, 6) for _ in range(500)]
    vats += ["fr44732829320", "FR4473282932", "FRIO732829320", "FR44 732829320", "DE136695976", "FR"] + odd
    return {"siren": sirens, "siret": sirets, "vat": vats}


def test_identifier_functions_agree_with_stdnum(warehouse_conn: Any) -> None:
    samples = sample_identifiers(random.Random(20260301))
    stdnum_checks = {
        # The warehouse holds compact values: stdnum's verdict on the value exactly as written.
        "siren": lambda v: stdnum_siren.is_valid(v) and stdnum_siren.compact(v) == v,
        "siret": lambda v: stdnum_siret.is_valid(v) and stdnum_siret.compact(v) == v,
        "vat": lambda v: v.startswith("FR") and stdnum_tva.is_valid(v) and "FR" + stdnum_tva.compact(v) == v,
    }
    functions = {"siren": "reference.siren_valid", "siret": "reference.siret_valid", "vat": "reference.fr_vat_valid"}
    for kind, values in samples.items():
        found = dict(tuples(warehouse_conn, f"SELECT v, {functions[kind]}(v) FROM unnest(%s::text[]) AS v", values))
        expected = {value: stdnum_checks[kind](value) for value in values}
        assert found == expected, kind
        # Both verdicts occur in numbers, so the comparison is not one-sided.
        assert 300 < sum(expected.values()) < len(values) - 300, kind
    assert any(v.startswith("356000000") and stdnum_checks["siret"](v) for v in samples["siret"])  # La Poste
    assert any(v[2] in ALPHABET[10:] and stdnum_checks["vat"](v) for v in samples["vat"])  # letter keys

    sirens = [s for s in samples["siren"] if len(s) == 9 and s.isascii() and s.isdigit()]
    numbers = dict(tuples(warehouse_conn, "SELECT s, reference.fr_vat_number(s) FROM unnest(%s::text[]) AS s", sirens))
    assert numbers == {s: "FR" + stdnum_siren.to_tva(s) for s in sirens}
    assert tuples(warehouse_conn, "SELECT reference.fr_vat_number('73282932'), reference.siren_valid(NULL)") == [
        (None, None)]


@pytest.fixture(scope="module")
def dataset() -> dict[str, Any]:
    return load(default_dataset_path())


def crm_customers(dataset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every CRM customer by warehouse key: identifiers as the dataset serves them, deals won."""
    customers = {}
    opportunities = dataset["salesforce"]["objects"]["Opportunity"]
    for account in dataset["salesforce"]["objects"]["Account"]:
        customers[f"salesforce:{account['Id']}"] = {
            "siren": account["SIREN__c"], "siret": account["SIRET__c"], "vat": account["VAT_Number__c"],
            "won": sum(1 for o in opportunities if o["AccountId"] == account["Id"] and o["IsWon"]),
        }
    for company in dataset["hubspot"]["objects"]["companies"]:
        p = company["properties"]
        customers[f"hubspot:{company['id']}"] = {"siren": p["siren"], "siret": p["siret"], "vat": p["vat_number"]}
    return customers


def expected_problems(problem: str, ids: dict[str, Any]) -> list[str]:
    """What the readiness row must list for a customer spoiled with ``problem``: issuing's findings worded as
    marts.held_invoices words them, and the report's own items."""
    siren, siret, vat = ids["siren"], ids["siret"], ids["vat"]
    if problem == "invalid_siren_checksum":  # the SIRET and VAT number built on it fail stdnum too
        return [f"PASSERELLE-ID-SIREN_BT-47 (buyer.siren): buyer SIREN '{siren}' is invalid (checksum)",
                f"PASSERELLE-ID-SIRET_BT-46 (buyer.siret): buyer SIRET '{siret}' is invalid (checksum)",
                f"PASSERELLE-ID-VAT_BT-48 (buyer.vat_number): buyer VAT/tax number '{vat}' is invalid (checksum)"]
    if problem == "vat_siren_mismatch":
        return [f"PASSERELLE-ID-VAT_BT-48 (buyer.vat_number): buyer VAT number '{vat}' is not built on the SIREN"
                f" '{siren}' (expected FR{stdnum_siren.to_tva(siren)})"]
    if problem == "invalid_siret":
        return [f"PASSERELLE-ID-SIRET_BT-46 (buyer.siret): buyer SIRET '{siret}' is invalid (checksum)"]
    return {
        "missing_siren": ["SIREN: missing", "e-invoicing address (BT-49): missing"],
        "missing_address": ["billing street: missing", "billing postcode: missing", "billing city: missing"],
        "missing_einvoicing_address": ["e-invoicing address (BT-49): missing"],
    }[problem]


def test_dataset_anomalies_are_flagged_and_clean_customers_ready(raw_conn: Any, dataset: dict[str, Any]) -> None:
    run_staging(raw_conn)
    validate_staging(raw_conn, "readiness-run", as_of=AS_OF)
    rebuild_customer_readiness(raw_conn)

    every_row = {row["customer_key"]: row for row in rows(raw_conn, "SELECT * FROM marts.customer_readiness")}
    # Staged and quarantined customers alike: one row per CRM customer, whichever CRM it comes from.
    staged = {row[0] for row in tuples(raw_conn, """
        SELECT customer_key FROM staging.customers
        UNION SELECT record_key FROM quality.quarantine WHERE table_name = 'staging.customers' AND released_at IS NULL""")}
    assert set(every_row) == staged
    # The committed dataset's CRMs (the sources built from the seed have anomalies of their own).
    readiness = {key: row for key, row in every_row.items() if key.split(":")[0] in ("salesforce", "hubspot")}
    customers = crm_customers(dataset)
    assert set(readiness) == set(customers)
    quarantined = {row[0] for row in tuples(raw_conn, """SELECT DISTINCT record_key FROM quality.quarantine
                                                        WHERE table_name = 'staging.customers' AND released_at IS NULL""")
                   if row[0].split(":")[0] in ("salesforce", "hubspot")}
    assert {key for key, row in readiness.items() if row["in_quarantine"]} == quarantined and quarantined

    anomalies = {f"{a['vendor']}:{a['id']}": a["problem"] for a in dataset["anomalies"]}
    assert len(anomalies) == 12
    for key, problem in anomalies.items():
        row = readiness[key]
        assert row["missing"] == expected_problems(problem, customers[key]), (problem, row)
        assert row["ready"] is False and row["classification"] == "B2B", (problem, row)
    by_problem = {problem: [readiness[k] for k, p in anomalies.items() if p == problem] for problem in set(anomalies.values())}
    assert all(r["siren_valid"] is False and r["in_quarantine"] for r in by_problem["invalid_siren_checksum"])
    assert all(r["quarantine_rules"] == ["customers.siren_checksum", "customers.siret_checksum",
                                         "customers.vat_number_checksum"] for r in by_problem["invalid_siren_checksum"])
    assert all(r["siret_valid"] is False and r["siren_valid"] and r["quarantine_rules"] == ["customers.siret_checksum"]
               for r in by_problem["invalid_siret"])
    assert all(r["siren"] is None and r["siren_valid"] is None and not r["in_quarantine"]
               for r in by_problem["missing_siren"])
    assert all(r["vat_matches_siren"] is False and r["vat_valid"] for r in by_problem["vat_siren_mismatch"])
    assert all(r["address_complete"] is False for r in by_problem["missing_address"])
    assert all(r["einvoicing_address_present"] is False for r in by_problem["missing_einvoicing_address"])

    clean = {key: row for key, row in readiness.items() if key not in anomalies}
    assert all(row["ready"] and row["missing"] == [] for row in clean.values()), [
        row for row in clean.values() if not row["ready"]]
    classes = {row["classification"] for row in clean.values()}
    assert classes == {"B2B", "B2BINT", "B2C"}
    # A clean French company: every check true, the VAT number is the one stdnum derives from the SIREN.
    french = next(row for row in clean.values() if row["classification"] == "B2B")
    assert (french["siren_valid"], french["siret_valid"], french["siret_matches_siren"], french["vat_valid"],
            french["vat_matches_siren"], french["address_complete"], french["einvoicing_address_present"]) == (
        True, True, True, True, True, True, True)
    assert french["vat_number"] == "FR" + stdnum_siren.to_tva(french["siren"])
    # Every verdict on the real data, from every CRM, is stdnum's.
    for row in every_row.values():
        if row["vat_number"]:
            assert row["vat_valid"] == stdnum_vat_valid(row["vat_number"]), row
        if row["siret"]:
            assert row["siret_valid"] == stdnum_siret.is_valid(row["siret"]), row

    # Deals won are counted for quarantined customers too (their deals are quarantined as orphans).
    for key, row in readiness.items():
        if key.startswith("salesforce:"):
            assert row["won_deals"] == customers[key]["won"], key
    assert sum(row["won_deals"] for key, row in readiness.items() if row["in_quarantine"]) > 0


def stdnum_vat_valid(value: str) -> bool:
    """The quality suite's definition: any country's VAT number, compact, with its prefix."""
    return vatin.is_valid(value) and vatin.compact(value) == value


def insert_customer(conn: Any, key: str, **values: Any) -> None:
    row = {"customer_key": key, "source_system": key.partition(":")[0], "source_id": key.partition(":")[2],
           "legal_name": "Dupont Conseil SAS", "customer_type": "B2B", "siren": "732829320",
           "siret": "73282932000074", "vat_number": "FR44732829320", "billing_street": "12 rue de la Paix",
           "billing_city": "Paris", "billing_postcode": "75002", "billing_country_code": "FR",
           "billing_country_raw": "France", "einvoicing_address": "732829320", **values}
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO staging.customers ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                    list(row.values()))
    conn.commit()


def test_classification_and_requirements_per_kind(warehouse_conn: Any) -> None:
    insert_customer(warehouse_conn, "salesforce:typeless", customer_type=None)
    insert_customer(warehouse_conn, "salesforce:nobody", customer_type=None, siren=None, siret=None, vat_number=None,
                    einvoicing_address=None)
    insert_customer(warehouse_conn, "hubspot:be-no-vat", customer_type="B2B_INTL", siren=None, siret=None,
                    vat_number=None, einvoicing_address=None, billing_country_code="BE", billing_country_raw="Belgium")
    insert_customer(warehouse_conn, "hubspot:ch-no-vat", customer_type="B2B_INTL", siren=None, siret=None,
                    vat_number=None, einvoicing_address=None, billing_country_code="CH",
                    billing_country_raw="Switzerland")
    insert_customer(warehouse_conn, "hubspot:person", customer_type="B2C", siren=None, siret=None, vat_number=None,
                    einvoicing_address=None, billing_city=None, billing_country_code=None,
                    billing_country_raw="Atlantide")
    insert_customer(warehouse_conn, "hubspot:other-siret", siret="44306184100047")
    rebuild_customer_readiness(warehouse_conn)

    found = {row["customer_key"]: row for row in rows(warehouse_conn, "SELECT * FROM marts.customer_readiness")}
    assert found["salesforce:typeless"]["classification"] == "B2B" and found["salesforce:typeless"]["ready"]
    assert found["salesforce:nobody"]["classification"] == "B2B"
    assert found["salesforce:nobody"]["missing"] == [
        "customer type: missing (B2B, B2B_INTL or B2C)", "SIREN: missing", "e-invoicing address (BT-49): missing"]
    assert found["hubspot:be-no-vat"]["classification"] == "B2BINT"
    assert found["hubspot:be-no-vat"]["missing"] == [
        "G6.28 (buyer.vat_number): a buyer outside France needs its EU VAT number (BT-48): Flux 10 reports it as "
        "the buyer's identifier"]
    # Outside the EU too: Flux 10 identifies the buyer by its tax identifier (issuing holds it as G6.28).
    assert found["hubspot:ch-no-vat"]["is_eu"] is False and not found["hubspot:ch-no-vat"]["ready"]
    assert found["hubspot:ch-no-vat"]["missing"] == [
        "G6.28 (buyer.vat_number): a buyer outside France needs its tax identifier (BT-48): Flux 10 reports it as "
        "the buyer's identifier"]
    assert found["hubspot:person"]["classification"] == "B2C"
    assert found["hubspot:person"]["missing"] == [
        "billing city: missing", "billing country: 'Atlantide' is not a known country",
        "G2.01 (buyer.address.country_code): buyer country 'None' is not an ISO 3166-1 alpha-2 code"]
    assert found["hubspot:other-siret"]["siret_valid"] is True
    assert found["hubspot:other-siret"]["missing"] == [
        "PASSERELLE-ID-SIRET_BT-46 (buyer.siret): buyer SIRET '44306184100047' does not start with the SIREN "
        "'732829320'"]


def test_quarantined_duplicates_and_other_rules_are_reported(warehouse_conn: Any) -> None:
    """A duplicate key is quarantined with every copy in row_data; its reason joins the missing items, and its
    quarantined deals still count."""
    copy = {"customer_key": "hubspot:dup", "source_system": "hubspot", "source_id": "dup", "legal_name": "Dup SAS",
            "customer_type": "B2B", "siren": "732829320", "siret": "73282932000074", "vat_number": "FR44732829320",
            "billing_street": "1 rue A", "billing_city": "Lyon", "billing_postcode": "69001",
            "billing_country_code": "FR", "billing_country_raw": "France", "einvoicing_address": "732829320"}
    deal = {"deal_key": "hubspot:d1", "customer_key": "hubspot:dup", "is_closed": True, "is_won": True}
    with warehouse_conn.cursor() as cur:
        cur.execute("""INSERT INTO quality.quarantine (table_name, record_key, source_system, source_id, rule, reason,
                                                       row_data, first_run_id, last_run_id)
                       VALUES ('staging.customers', 'hubspot:dup', 'hubspot', 'dup', 'customers.customer_key_unique',
                               'duplicate customer_key ''hubspot:dup''', %s, 'r', 'r'),
                              ('staging.deals', 'hubspot:d1', 'hubspot', 'd1', 'deals.customer_exists',
                               'orphan deal: customer hubspot:dup not in staging.customers', %s, 'r', 'r')""",
                    (Json([copy, {**copy, "legal_name": "Dup SAS (old)"}]), Json(deal)))
    warehouse_conn.commit()
    rebuild_customer_readiness(warehouse_conn)

    [row] = rows(warehouse_conn, "SELECT * FROM marts.customer_readiness")
    assert row["legal_name"] == "Dup SAS" and row["in_quarantine"] and not row["ready"]
    assert row["quarantine_rules"] == ["customers.customer_key_unique"]
    assert row["missing"] == ["quarantined: duplicate customer_key 'hubspot:dup'"]
    assert (row["won_deals"], row["open_deals"]) == (1, 0)


def test_a_warehouse_without_customers_rebuilds_an_empty_report(warehouse_conn: Any) -> None:
    rebuild_customer_readiness(warehouse_conn)
    assert tuples(warehouse_conn, "SELECT count(*) FROM marts.customer_readiness") == [(0,)]
