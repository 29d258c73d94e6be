"""The sandbox dataset: determinism, valid French identifiers, real anomalies, integrity, amounts."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from stdnum import luhn
from stdnum.be import vat as be_vat
from stdnum.ch import vat as ch_vat
from stdnum.de import vat as de_vat
from stdnum.exceptions import InvalidChecksum
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.fr import tva as fr_tva
from stdnum.it import iva as it_vat

from passerelle_sandbox import dataset as ds
from passerelle_sandbox.dataset_bulk import siren_from_blocks, siret_from_blocks
from passerelle_sandbox.dataset_ids import SalesforceIds, salesforce_id

ROOT = Path(__file__).resolve().parents[2]
CLOCK = datetime(2026, 3, 1, tzinfo=timezone.utc)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SF_PREFIX = {
    "Account": "001", "Contact": "003", "Opportunity": "006", "OpportunityLineItem": "00k",
    "Product2": "01t", "User": "005",
}
AUDIT = ["CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"]
SF_FIELDS = {
    "Account": ["Id", "Name", "BillingStreet", "BillingCity", "BillingPostalCode", "BillingCountry",
                "BillingCountryCode", "ShippingStreet", "ShippingCity", "ShippingPostalCode", "ShippingCountry",
                "Phone", "Website", "Industry", "Type", "OwnerId", "SIREN__c", "SIRET__c", "VAT_Number__c",
                "Electronic_Address__c", "Customer_Type__c", *AUDIT],
    "Contact": ["Id", "AccountId", "FirstName", "LastName", "Email", "Phone", "Title", "MailingStreet",
                "MailingCity", "MailingPostalCode", "MailingCountry", "OwnerId", *AUDIT],
    "Opportunity": ["Id", "Name", "AccountId", "Amount", "CurrencyIsoCode", "StageName", "CloseDate", "IsClosed",
                    "IsWon", "Probability", "OwnerId", "Pricebook2Id", "Description", *AUDIT],
    "OpportunityLineItem": ["Id", "OpportunityId", "Product2Id", "PricebookEntryId", "Name", "Quantity",
                            "UnitPrice", "TotalPrice", "Discount", "Description", "ServiceDate", "VAT_Rate__c",
                            *AUDIT],
    "Product2": ["Id", "Name", "ProductCode", "Family", "Description", "IsActive", "QuantityUnitOfMeasure",
                 "VAT_Rate__c", *AUDIT],
    "User": ["Id", "Username", "Email", "FirstName", "LastName", "IsActive", *AUDIT],
}
HS_PROPERTIES = {
    "companies": ["name", "domain", "address", "city", "zip", "country", "phone", "industry", "siren", "siret",
                  "vat_number", "einvoicing_address", "customer_type", "hubspot_owner_id", "hs_object_id",
                  "createdate", "hs_lastmodifieddate"],
    "contacts": ["email", "firstname", "lastname", "phone", "jobtitle", "company", "hs_object_id", "createdate",
                 "lastmodifieddate"],
    "deals": ["dealname", "amount", "deal_currency_code", "dealstage", "pipeline", "closedate", "hubspot_owner_id",
              "description", "hs_object_id", "createdate", "hs_lastmodifieddate"],
    "line_items": ["name", "hs_product_id", "quantity", "price", "amount", "hs_sku", "hs_discount_percentage",
                   "hs_tax_rate", "description", "hs_object_id", "createdate", "hs_lastmodifieddate"],
    "products": ["name", "price", "hs_sku", "description", "hs_tax_rate", "hs_object_id", "createdate",
                 "hs_lastmodifieddate"],
}
FOREIGN_VAT_CHECKS = {"BE": be_vat, "DE": de_vat, "IT": it_vat, "CH": ch_vat}
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return ds.generate()


def sf(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return data["salesforce"]["objects"][name]


def hs(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return data["hubspot"]["objects"][name]


def parse(value: str) -> datetime:
    assert TIMESTAMP.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def reference_suffix(id15: str) -> str:
    """Case-safe suffix, written independently of the generator: reversed bits of each chunk."""
    out = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = "".join("1" if char.isupper() else "0" for char in reversed(chunk))
        out += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[int(bits, 2)]
    return out


def money(value: float | str) -> Decimal:
    amount = Decimal(str(value))
    assert amount == amount.quantize(CENT), value
    return amount


def expected_total(quantity: Decimal, price: Decimal, discount: Decimal) -> Decimal:
    return (quantity * price * (1 - discount / 100)).quantize(CENT, rounding=ROUND_HALF_UP)


def customers(data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(vendor, id, vendor-neutral fields) of every Salesforce Account and HubSpot company."""
    rows = []
    for account in sf(data, "Account"):
        rows.append(("salesforce", account["Id"], {
            "kind": account["Customer_Type__c"], "siren": account["SIREN__c"], "siret": account["SIRET__c"],
            "vat": account["VAT_Number__c"], "einvoicing": account["Electronic_Address__c"],
            "street": account["BillingStreet"], "city": account["BillingCity"],
            "postcode": account["BillingPostalCode"], "country": account["BillingCountryCode"],
        }))
    countries = {"France": "FR", "Belgium": "BE", "Germany": "DE", "Italy": "IT", "Switzerland": "CH"}
    for company in hs(data, "companies"):
        p = company["properties"]
        rows.append(("hubspot", company["id"], {
            "kind": p["customer_type"], "siren": p["siren"], "siret": p["siret"], "vat": p["vat_number"],
            "einvoicing": p["einvoicing_address"], "street": p["address"], "city": p["city"],
            "postcode": p["zip"], "country": countries[p["country"]],
        }))
    return rows


# ----------------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(data: dict[str, Any]) -> None:
    assert ds.dumps(ds.generate()) == ds.dumps(data)
    assert ds.dumps(ds.generate(20260302)) != ds.dumps(data)
    assert ds.dumps(ds.generate(clock="2026-04-01T00:00:00.000Z")) != ds.dumps(data)


def test_cli_output_does_not_depend_on_hash_randomization(tmp_path: Path) -> None:
    expected = ds.dumps(ds.generate(7, sf_accounts=15, hs_companies=12))
    for hash_seed in ("0", "1", "12345"):
        out = tmp_path / f"out-{hash_seed}.json"
        path = os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": path}
        subprocess.run(
            [sys.executable, "-m", "passerelle_sandbox.dataset", "--out", str(out), "--seed", "7",
             "--sf-accounts", "15", "--hs-companies", "12"],
            check=True, env=env, cwd=ROOT, capture_output=True,
        )
        assert out.read_text(encoding="utf-8") == expected


def test_committed_default_dataset_is_current_and_small(data: dict[str, Any]) -> None:
    path = ds.default_dataset_path()
    assert path == ROOT / "plugins" / "passerelle_sandbox" / "datasets" / "default.json"
    assert path.read_text(encoding="utf-8") == ds.dumps(data), "regenerate with python -m passerelle_sandbox.dataset"
    assert path.stat().st_size < 1_000_000


def test_dump_and_load_round_trip(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "nested" / "dataset.json"
    ds.dump(data, path)
    assert ds.load(path) == data
    assert path.read_bytes().endswith(b"}\n")


# ----------------------------------------------------------------------------------------------- shape


def test_top_level_shape(data: dict[str, Any]) -> None:
    assert list(data) == ["name", "seed", "clock", "salesforce", "hubspot", "anomalies"]
    assert (data["name"], data["seed"], data["clock"]) == ("default", 20260301, "2026-03-01T00:00:00.000Z")
    assert list(data["salesforce"]) == ["org_id", "objects"]
    assert list(data["hubspot"]) == ["portal_id", "objects", "owners", "associations", "pipelines"]
    assert data["hubspot"]["portal_id"] == 146123456
    assert len(sf(data, "Account")) == 40 and len(hs(data, "companies")) == 40


def test_record_fields_match_the_contract(data: dict[str, Any]) -> None:
    for name, fields in SF_FIELDS.items():
        assert sf(data, name), name
        for record in sf(data, name):
            assert list(record) == fields, name
            assert record["IsDeleted"] is False
    for name, properties in HS_PROPERTIES.items():
        assert hs(data, name), name
        for record in hs(data, name):
            assert list(record) == ["id", "properties", "createdAt", "updatedAt", "archived"]
            assert list(record["properties"]) == properties and record["archived"] is False
    for owner in data["hubspot"]["owners"]:
        assert list(owner) == ["id", "userId", "email", "firstName", "lastName", "type", "createdAt",
                               "updatedAt", "archived", "teams"]
        assert owner["type"] == "PERSON" and owner["teams"] == [] and owner["archived"] is False


def test_hubspot_values_are_strings_like_the_api(data: dict[str, Any]) -> None:
    for name in HS_PROPERTIES:
        for record in hs(data, name):
            props = record["properties"]
            assert all(value is None or isinstance(value, str) for value in props.values()), props
            assert props["hs_object_id"] == record["id"]
            assert props["createdate"] == record["createdAt"]
            modified = props["lastmodifieddate" if name == "contacts" else "hs_lastmodifieddate"]
            assert modified == record["updatedAt"]
    for deal in hs(data, "deals"):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00\.000Z", deal["properties"]["closedate"])
        assert re.fullmatch(r"\d+\.\d{2}", deal["properties"]["amount"])


# ------------------------------------------------------------------------------------------------- ids


def test_salesforce_ids_are_well_formed_and_unique(data: dict[str, Any]) -> None:
    assert reference_suffix("001A0000006Vm9r") == "IAC"
    seen: set[str] = set()
    all_ids = [(name, record["Id"]) for name in SF_PREFIX for record in sf(data, name)]
    all_ids.append(("Organization", data["salesforce"]["org_id"]))
    prefixes = {**SF_PREFIX, "Organization": "00D"}
    for name, record_id in all_ids:
        assert re.fullmatch(r"[0-9A-Za-z]{15}[A-Z0-5]{3}", record_id), record_id
        assert record_id.startswith(prefixes[name]), (name, record_id)
        assert record_id[15:] == reference_suffix(record_id[:15]), record_id
        assert record_id not in seen
        seen.add(record_id)
    for line in sf(data, "OpportunityLineItem"):
        assert line["PricebookEntryId"].startswith("01u")
        assert line["PricebookEntryId"][15:] == reference_suffix(line["PricebookEntryId"][:15])
    for opportunity in sf(data, "Opportunity"):
        assert opportunity["Pricebook2Id"].startswith("01s")
        assert opportunity["Pricebook2Id"][15:] == reference_suffix(opportunity["Pricebook2Id"][:15])


def test_fast_salesforce_id_sequence_matches_the_plain_encoding() -> None:
    sequence = SalesforceIds("001", "5g", random.Random(3), max_gap=5000)
    number = sequence._number
    rng = random.Random(3)
    rng.randrange(62**4, 62**5)
    for _ in range(3000):
        number += 1 + int(rng.random() * 5000)
        assert sequence() == salesforce_id("001", "5g", number)


def test_hubspot_ids_are_unique_numeric_strings(data: dict[str, Any]) -> None:
    ids = [record["id"] for name in HS_PROPERTIES for record in hs(data, name)]
    owners = data["hubspot"]["owners"]
    ids += [owner["id"] for owner in owners]
    assert all(isinstance(value, str) and value.isdigit() for value in ids)
    assert len(ids) == len(set(ids))
    assert all(record["id"].startswith("101") for record in hs(data, "companies"))
    for owner in owners:
        assert isinstance(owner["userId"], int) and str(owner["userId"]) != owner["id"]


# -------------------------------------------------------------------------------- legal identifiers


def test_clean_customers_have_valid_identifiers(data: dict[str, Any]) -> None:
    flagged = {(a["vendor"], a["id"]) for a in data["anomalies"]}
    kinds: Counter[tuple[str, str]] = Counter()
    for vendor, record_id, c in customers(data):
        kinds[(vendor, c["kind"])] += 1
        if (vendor, record_id) in flagged:
            continue
        assert c["street"] and c["city"] and c["postcode"], record_id
        if c["kind"] == "B2B":
            assert c["country"] == "FR"
            assert fr_siren.is_valid(c["siren"]), c
            assert fr_siret.is_valid(c["siret"]) and c["siret"][:9] == c["siren"], c
            assert fr_tva.is_valid(c["vat"]) and c["vat"].startswith("FR") and fr_tva.to_siren(c["vat"]) == c["siren"]
            assert c["einvoicing"] == c["siren"]
        elif c["kind"] == "B2B_INTL":
            assert c["country"] in FOREIGN_VAT_CHECKS and c["siren"] is None and c["einvoicing"] is None
            assert FOREIGN_VAT_CHECKS[c["country"]].is_valid(c["vat"]), c
        else:
            assert c["kind"] == "B2C" and c["country"] == "FR"
            assert c["siren"] is None and c["siret"] is None and c["vat"] is None and c["einvoicing"] is None
    for vendor in ("salesforce", "hubspot"):
        assert kinds[(vendor, "B2C")] >= 2 and kinds[(vendor, "B2B_INTL")] == 4
        assert kinds[(vendor, "B2B")] >= 25
    countries = Counter((vendor, c["country"]) for vendor, _, c in customers(data) if c["kind"] == "B2B_INTL")
    assert countries == Counter({(v, code): 1 for v in ("salesforce", "hubspot") for code in FOREIGN_VAT_CHECKS})


def anomaly_holds(problem: str, c: dict[str, Any]) -> bool:
    """Whether the customer really has ``problem`` (and its SIREN is fine when that is not the problem)."""
    if problem == "invalid_siren_checksum":
        with pytest.raises(InvalidChecksum):
            fr_siren.validate(c["siren"])
        return True
    if problem == "missing_siren":
        return c["kind"] == "B2B" and not c["siren"]
    if problem == "missing_address":
        return not (c["street"] and c["city"] and c["postcode"])
    if not fr_siren.is_valid(c["siren"]):
        return False
    if problem == "vat_siren_mismatch":
        return fr_tva.is_valid(c["vat"]) and fr_tva.to_siren(c["vat"]) != c["siren"]
    if problem == "missing_einvoicing_address":
        return c["kind"] == "B2B" and not c["einvoicing"]
    if problem == "invalid_siret":
        return not fr_siret.is_valid(c["siret"])
    raise AssertionError(problem)


def test_every_listed_anomaly_really_fails_its_check(data: dict[str, Any]) -> None:
    by_id = {(vendor, record_id): c for vendor, record_id, c in customers(data)}
    anomalies = data["anomalies"]
    for anomaly in anomalies:
        assert list(anomaly) == ["vendor", "object", "id", "problem"]
        assert anomaly["object"] == {"salesforce": "Account", "hubspot": "companies"}[anomaly["vendor"]]
        assert anomaly_holds(anomaly["problem"], by_id[(anomaly["vendor"], anomaly["id"])]), anomaly
    for vendor in ("salesforce", "hubspot"):
        problems = sorted(a["problem"] for a in anomalies if a["vendor"] == vendor)
        assert problems == sorted(ds.ANOMALIES)
    assert len({(a["vendor"], a["id"]) for a in anomalies}) == len(anomalies)


# --------------------------------------------------------------------------------- integrity, amounts


def test_salesforce_references_point_at_existing_records(data: dict[str, Any]) -> None:
    ids = {name: {r["Id"] for r in sf(data, name)} for name in SF_PREFIX}
    for record in (r for name in SF_PREFIX for r in sf(data, name) if "OwnerId" in r):
        assert record["OwnerId"] in ids["User"]
    assert all(c["AccountId"] in ids["Account"] for c in sf(data, "Contact"))
    assert all(o["AccountId"] in ids["Account"] for o in sf(data, "Opportunity"))
    for line in sf(data, "OpportunityLineItem"):
        assert line["OpportunityId"] in ids["Opportunity"] and line["Product2Id"] in ids["Product2"]
    per_account = Counter(c["AccountId"] for c in sf(data, "Contact"))
    assert all(1 <= per_account[account] <= 4 for account in ids["Account"])
    deals = Counter(o["AccountId"] for o in sf(data, "Opportunity"))
    assert all(deals[account] <= 3 for account in ids["Account"])
    lines = Counter(line["OpportunityId"] for line in sf(data, "OpportunityLineItem"))
    assert all(1 <= lines[opportunity] <= 5 for opportunity in ids["Opportunity"])
    assert 3 <= len(ids["User"]) <= 5 and len(ids["Product2"]) == 15


def test_hubspot_associations_point_at_existing_records(data: dict[str, Any]) -> None:
    ids = {name: {r["id"] for r in hs(data, name)} for name in HS_PROPERTIES}
    owners = {o["id"] for o in data["hubspot"]["owners"]}
    assert 3 <= len(owners) <= 5
    links: dict[tuple[str, str, int], Counter[str]] = {}
    for link in data["hubspot"]["associations"]:
        assert link["from_id"] in ids[link["from_type"]] and link["to_id"] in ids[link["to_type"]], link
        key = (link["from_type"], link["to_type"], link["type_id"])
        links.setdefault(key, Counter())[link["from_id" if key[1] == "companies" else "to_id"]] += 1
    assert set(links) == {("deals", "companies", 5), ("deals", "line_items", 19), ("contacts", "companies", 1)}
    assert set(links[("deals", "companies", 5)]) == ids["deals"]
    assert set(links[("contacts", "companies", 1)]) == ids["contacts"]
    assert set(links[("deals", "line_items", 19)]) == ids["line_items"]
    assert all(count == 1 for counter in links.values() for count in counter.values())
    for name in ("companies", "deals"):
        assert all(r["properties"]["hubspot_owner_id"] in owners for r in hs(data, name))
    assert all(line["properties"]["hs_product_id"] in ids["products"] for line in hs(data, "line_items"))


def test_salesforce_amounts_add_up(data: dict[str, Any]) -> None:
    sums: dict[str, Decimal] = {}
    for line in sf(data, "OpportunityLineItem"):
        quantity, price = Decimal(str(line["Quantity"])), money(line["UnitPrice"])
        total = expected_total(quantity, price, Decimal(str(line["Discount"])))
        assert money(line["TotalPrice"]) == total, line
        assert line["VAT_Rate__c"] in (20.0, 10.0, 5.5, 2.1, 0.0)
        sums[line["OpportunityId"]] = sums.get(line["OpportunityId"], Decimal("0")) + total
    for opportunity in sf(data, "Opportunity"):
        assert money(opportunity["Amount"]) == sums[opportunity["Id"]], opportunity


def test_hubspot_amounts_add_up(data: dict[str, Any]) -> None:
    lines = {line["id"]: line["properties"] for line in hs(data, "line_items")}
    sums: dict[str, Decimal] = {}
    for link in data["hubspot"]["associations"]:
        if link["to_type"] == "line_items":
            p = lines[link["to_id"]]
            total = expected_total(Decimal(p["quantity"]), money(p["price"]), Decimal(p["hs_discount_percentage"]))
            assert money(p["amount"]) == total, p
            sums[link["from_id"]] = sums.get(link["from_id"], Decimal("0")) + total
    for deal in hs(data, "deals"):
        assert money(deal["properties"]["amount"]) == sums[deal["id"]]


def test_catalogue_currencies_and_stages_are_varied(data: dict[str, Any]) -> None:
    products = sf(data, "Product2")
    assert {p["VAT_Rate__c"] for p in products} == {20.0, 10.0, 5.5, 2.1, 0.0}
    assert {p["Family"] for p in products} == {"Services", "Licences", "Formation", "Matériel"}
    assert any(p["VAT_Rate__c"] == 0.0 and p["Family"] == "Formation" for p in products)
    for currencies in (
        Counter(o["CurrencyIsoCode"] for o in sf(data, "Opportunity")),
        Counter(d["properties"]["deal_currency_code"] for d in hs(data, "deals")),
    ):
        assert {"USD", "GBP", "CHF"} <= set(currencies) and currencies["EUR"] > sum(currencies.values()) / 2
    stages = Counter(o["StageName"] for o in sf(data, "Opportunity"))
    assert stages.most_common(1)[0][0] == "Closed Won" and "Closed Lost" in stages and len(stages) >= 4
    for opportunity in sf(data, "Opportunity"):
        won, closed = opportunity["StageName"] == "Closed Won", opportunity["StageName"].startswith("Closed")
        assert (opportunity["IsWon"], opportunity["IsClosed"]) == (won, closed)
        assert (opportunity["Probability"] == 100) == won
    hs_stages = Counter(d["properties"]["dealstage"] for d in hs(data, "deals"))
    assert hs_stages.most_common(1)[0][0] == "closedwon" and "closedlost" in hs_stages
    assert any("PRJ-" in (o["Description"] or "") for o in sf(data, "Opportunity"))


# ------------------------------------------------------------------------------------------ timestamps


def test_timestamps_are_before_the_clock_and_ordered(data: dict[str, Any]) -> None:
    window = CLOCK - timedelta(days=60)
    for name in SF_PREFIX:
        for record in sf(data, name):
            created, modified = parse(record["CreatedDate"]), parse(record["LastModifiedDate"])
            assert created <= modified <= CLOCK and modified >= window, record
            assert record["SystemModstamp"] >= record["LastModifiedDate"]
    for name in HS_PROPERTIES:
        for record in hs(data, name):
            created, modified = parse(record["createdAt"]), parse(record["updatedAt"])
            assert created <= modified <= CLOCK and modified >= window, record
    for owner in data["hubspot"]["owners"]:
        assert parse(owner["createdAt"]) <= parse(owner["updatedAt"]) <= CLOCK
    for opportunity in sf(data, "Opportunity"):
        assert DATE.match(opportunity["CloseDate"])
        if opportunity["IsClosed"]:
            assert opportunity["CloseDate"] <= opportunity["LastModifiedDate"][:10]
        else:
            assert opportunity["CloseDate"] > data["clock"][:10]
    for line in sf(data, "OpportunityLineItem"):
        assert line["ServiceDate"] is None or DATE.match(line["ServiceDate"])


# ------------------------------------------------------------------------------------------------ bulk


def test_bulk_accounts_are_fast_unique_and_valid(data: dict[str, Any]) -> None:
    started = time.perf_counter()
    rows = list(ds.generate_bulk_salesforce(20_000, seed=5))
    elapsed = time.perf_counter() - started
    assert len(rows) == 20_000
    assert elapsed < 15, f"bulk generation too slow: {elapsed:.1f}s for 20,000 rows"
    ids = [row["Id"] for row in rows]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("001") and i[15:] == reference_suffix(i[:15]) for i in ids)
    assert all(list(row) == SF_FIELDS["Account"] for row in rows)
    companies = [row for row in rows if row["Customer_Type__c"] == "B2B"]
    assert len(companies) > 18_000
    for row in companies:
        assert fr_siren.is_valid(row["SIREN__c"]) and fr_siret.is_valid(row["SIRET__c"]), row
        assert fr_tva.to_siren(row["VAT_Number__c"]) == row["SIREN__c"] and fr_tva.is_valid(row["VAT_Number__c"])
    for row in rows[:500]:
        assert parse(row["CreatedDate"]) <= parse(row["LastModifiedDate"]) <= CLOCK
    assert rows[:50] == list(ds.generate_bulk_salesforce(50, seed=5))
    assert rows[:50] != list(ds.generate_bulk_salesforce(50, seed=6))


def test_bulk_luhn_blocks_agree_with_stdnum() -> None:
    rng = random.Random(11)
    for _ in range(5000):
        high, low, nic = rng.randint(1000, 9999), rng.randint(0, 9999), rng.randint(1, 9999)
        siren = siren_from_blocks(high, low)
        assert siren == f"{high:04d}{low:04d}" + luhn.calc_check_digit(f"{high:04d}{low:04d}")
        siret = siret_from_blocks(high, low, siren, nic)
        assert siret == f"{siren}{nic:04d}" + luhn.calc_check_digit(f"{siren}{nic:04d}")
