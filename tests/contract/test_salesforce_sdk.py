"""Contract test: simple-salesforce, the Python Salesforce SDK, logs in to, reads and writes the emulator.

The SDK builds its own login requests (SOAP partner login, JWT bearer, client credentials over HTTP
Basic), always to ``https://<domain>.salesforce.com``; it then talks to the ``instance_url`` the
login returned. Its ``session`` hook takes a ``requests.Session``: the one used here has a transport
adapter that sends the ``*.salesforce.com`` login host to the emulator, trusts the sandbox CA, and
logs every call so the tests can count them. Everything else (paths, bodies, status codes and error
arrays it turns into exceptions) is the SDK's own.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.bulk import SFBulkHandler
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceOperationError,
    SalesforceResourceNotFound,
)

VERSION = "62.0"
BATCH_200 = {"Sforce-Query-Options": "batchSize=200"}
MY_DOMAIN = "passerelle-sandbox.my"


class LoginHostAdapter(HTTPAdapter):
    """Sends requests for ``*.salesforce.com`` (the SDK's login hosts) to the emulator; logs every call."""

    def __init__(self, target: str, calls: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.target, self.calls = urlsplit(target).netloc, calls

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = urlsplit(request.url or "")
        host = url.hostname or ""
        if host.endswith(".salesforce.com"):
            request.url = urlunsplit(url._replace(netloc=self.target))
        self.calls.append((request.method or "", host, url.path))
        return super().send(request, **kwargs)


class RoutedSession(requests.Session):
    def __init__(self, sandbox: Any) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, str]] = []
        self.mount("https://", LoginHostAdapter(sandbox.vendors["salesforce"].base_url, self.calls))
        self.verify = str(sandbox.ca_path)
        self.trust_env = False

    def paths(self, method: str | None = None) -> list[str]:
        return [path for m, _, path in self.calls if method is None or m == method]


@pytest.fixture
def session(sandbox: Any) -> RoutedSession:
    return RoutedSession(sandbox)


@pytest.fixture
def creds(sandbox: Any) -> dict[str, str]:
    return dict(sandbox.vendors["salesforce"].credentials)


@pytest.fixture
def sf(creds: dict[str, str], session: RoutedSession) -> Salesforce:
    return Salesforce(username=creds["username"], consumer_key=creds["client_id"],
                      privatekey_file=creds["private_key_path"], session=session, version=VERSION)


def control(sandbox: Any) -> Any:
    return sandbox.vendors["salesforce"].control


def api_user(sandbox: Any, session: RoutedSession, creds: dict[str, str]) -> str:
    """The user the connected app acts as: the last segment of the token's identity URL."""
    grant = session.post("https://login.salesforce.com/services/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "refresh_token": creds["refresh_token"]}).json()
    return str(grant["id"].rsplit("/", 1)[1])


# ------------------------------------------------------------------------------------ logins


def test_sdk_logs_in_with_password_and_security_token(sandbox: Any, creds: dict[str, str],
                                                      session: RoutedSession) -> None:
    sf = Salesforce(username=creds["username"], password=creds["password"], security_token=creds["security_token"],
                    session=session, version=VERSION)
    assert sf.auth_type == "password" and sf.sf_instance == urlsplit(sandbox.vendors["salesforce"].base_url).netloc
    assert session.calls[0] == ("POST", "login.salesforce.com", f"/services/Soap/u/{VERSION}")
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    for password, token in ((creds["password"], "wrong"), ("wrong", creds["security_token"])):
        with pytest.raises(SalesforceAuthenticationFailed) as failure:
            Salesforce(username=creds["username"], password=password, security_token=token, session=session)
        assert failure.value.code == "INVALID_LOGIN"
        assert "Invalid username, password, security token" in failure.value.auth_message


@pytest.mark.parametrize("domain", ["login", "test"])
def test_sdk_logs_in_with_jwt_bearer_for_both_audiences(creds: dict[str, str], session: RoutedSession,
                                                        domain: str) -> None:
    by_file = Salesforce(username=creds["username"], consumer_key=creds["client_id"],
                         privatekey_file=creds["private_key_path"], domain=domain, session=session, version=VERSION)
    by_value = Salesforce(username=creds["username"], consumer_key=creds["client_id"],
                          privatekey=Path(creds["private_key_path"]).read_text(), domain=domain, session=session,
                          version=VERSION)
    assert by_file.auth_type == by_value.auth_type == "jwt-bearer"
    assert [c[1:] for c in session.calls] == [(f"{domain}.salesforce.com", "/services/oauth2/token")] * 2
    assert by_file.session_id != by_value.session_id
    assert by_value.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    with pytest.raises(SalesforceAuthenticationFailed) as failure, pytest.warns(UserWarning, match="Allow Access"):
        Salesforce(username="someone@else.example", consumer_key=creds["client_id"],
                   privatekey_file=creds["private_key_path"], domain=domain, session=session)
    assert (failure.value.code, failure.value.auth_message) == ("invalid_grant", "user hasn't approved this consumer")


def test_sdk_logs_in_with_client_credentials_over_basic_auth(creds: dict[str, str], session: RoutedSession) -> None:
    sf = Salesforce(consumer_key=creds["client_id"], consumer_secret=creds["client_secret"], domain=MY_DOMAIN,
                    session=session, version=VERSION)
    assert sf.auth_type == "client-credentials"
    assert session.calls[0] == ("POST", f"{MY_DOMAIN}.salesforce.com", "/services/oauth2/token")
    assert sf.limits()["DailyApiRequests"]["Max"] > 0
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(consumer_key=creds["client_id"], consumer_secret="not-the-secret", domain=MY_DOMAIN,
                   session=session)
    assert (failure.value.code, failure.value.auth_message) == ("invalid_client", "invalid client credentials")


# ------------------------------------------------------------------------------------- reads


def test_sdk_query_query_all_and_paging(sf: Salesforce, sandbox: Any, session: RoutedSession) -> None:
    held = control(sandbox)
    held.bulk("Account", create=450)
    live = {r["Id"] for r in held.records("Account")}
    first = sf.query("SELECT Id, Name FROM Account", headers=BATCH_200)
    assert first["totalSize"] == len(live) and not first["done"] and len(first["records"]) == 200
    everything = sf.query_all("SELECT Id, Name FROM Account ORDER BY Id", headers=BATCH_200)
    assert everything["totalSize"] == len(live) and {r["Id"] for r in everything["records"]} == live
    pages = [p for p in session.paths("GET") if p.startswith(f"/services/data/v{VERSION}/query/") and p[-1] != "/"]
    assert len(pages) == -(-len(live) // 200) - 1
    gone = sorted(live)[0]
    held.delete("Account", gone)
    streamed = list(sf.query_all_iter("SELECT Id, IsDeleted FROM Account", include_deleted=True, headers=BATCH_200))
    assert len(streamed) == len(live) and next(r for r in streamed if r["Id"] == gone)["IsDeleted"] is True
    assert gone not in {r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]}


def test_sdk_reads_relationships_subqueries_and_fields_macro(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    accounts = {r["Id"]: r for r in held.records("Account")}
    users = {r["Id"]: r for r in held.records("User")}
    contacts = held.records("Contact")
    rows = sf.query_all("SELECT Id, LastName, Account.Name, Account.Owner.Username FROM Contact")["records"]
    assert len(rows) == len(contacts)
    for row in rows:
        contact = next(c for c in contacts if c["Id"] == row["Id"])
        account = accounts[contact["AccountId"]]
        assert row["Account"]["attributes"]["type"] == "Account"
        assert row["Account"]["Name"] == account["Name"]
        assert row["Account"]["Owner"]["Username"] == users[account["OwnerId"]]["Username"]
    ordered = sf.query_all("SELECT Id, Account.Name FROM Contact ORDER BY Account.Name DESC, Id")["records"]
    names = [r["Account"]["Name"] for r in ordered]
    assert names == sorted(names, key=str.casefold, reverse=True) and len(ordered) == len(contacts)
    orphan = held.create("Contact", {"LastName": "Sans Société"})["id"]
    alone = sf.query(f"SELECT Id, Account.Name FROM Contact WHERE Id = '{orphan}'")["records"][0]
    assert alone["Account"] is None
    some = contacts[0]
    name = accounts[some["AccountId"]]["Name"].replace("'", "\\'")
    filtered = sf.query(f"SELECT Id FROM Contact WHERE Account.Name = '{name}'")["records"]
    assert some["Id"] in {r["Id"] for r in filtered}

    nested = sf.query_all("SELECT Id, Name, (SELECT Id, LastName FROM Contacts ORDER BY LastName) FROM Account")
    by_account: dict[str, list[str]] = {}
    for contact in contacts:
        by_account.setdefault(contact["AccountId"], []).append(contact["Id"])
    for row in nested["records"]:
        children = row["Contacts"]
        if row["Id"] not in by_account:
            assert children is None
            continue
        assert children["totalSize"] == len(by_account[row["Id"]]) and children["done"] is True
        assert {c["Id"] for c in children["records"]} == set(by_account[row["Id"]])
        names = [c["LastName"] for c in children["records"]]
        assert names == sorted(names, key=str.casefold)
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Id, (SELECT Id FROM Contactz) FROM Account")
    assert failure.value.content[0]["errorCode"] == "INVALID_TYPE"

    standard = sf.query("SELECT FIELDS(STANDARD) FROM Account LIMIT 1")["records"][0]
    assert "Name" in standard and "SIREN__c" not in standard
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT FIELDS(ALL) FROM Account")
    assert "LIMIT of at most 200" in failure.value.content[0]["message"]
    assert "SIREN__c" in sf.query("SELECT FIELDS(ALL) FROM Account LIMIT 200")["records"][0]


def test_sdk_reads_aggregates(sf: Salesforce, sandbox: Any) -> None:
    opportunities = control(sandbox).records("Opportunity")
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == len(opportunities)
    [counted] = sf.query("SELECT COUNT(Id) FROM Opportunity")["records"]
    assert counted == {"attributes": {"type": "AggregateResult"}, "expr0": len(opportunities)}
    grouped = sf.query("SELECT StageName, SUM(Amount) total, COUNT(Id) FROM Opportunity GROUP BY StageName "
                       "ORDER BY StageName")
    expected: dict[str, tuple[Decimal, int]] = {}
    for opportunity in opportunities:
        total, count = expected.get(opportunity["StageName"], (Decimal(0), 0))
        expected[opportunity["StageName"]] = (total + Decimal(str(opportunity["Amount"])), count + 1)
    assert [r["StageName"] for r in grouped["records"]] == sorted(expected)
    for row in grouped["records"]:
        assert (Decimal(str(row["total"])), row["expr0"]) == expected[row["StageName"]]
    busiest = sf.query("SELECT StageName FROM Opportunity GROUP BY StageName HAVING COUNT(Id) > 2 "
                       "ORDER BY SUM(Amount) DESC")["records"]
    ranked = sorted((stage for stage, (_, count) in expected.items() if count > 2),
                    key=lambda stage: expected[stage][0], reverse=True)
    assert [r["StageName"] for r in busiest] == ranked and all(set(r) == {"attributes", "StageName"} for r in busiest)
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Name, COUNT(Id) FROM Opportunity GROUP BY StageName")
    assert "Field must be grouped or aggregated: Name" in failure.value.content[0]["message"]


def test_sdk_describes_gets_and_replicates(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    described = sf.describe()
    assert {"Account", "Contact", "Opportunity"} <= {o["name"] for o in described["sobjects"]}
    account = sf.Account.describe()
    children = {r["relationshipName"]: r for r in account["childRelationships"]}
    assert children["Contacts"]["childSObject"] == "Contact" and children["Contacts"]["field"] == "AccountId"
    assert children["Opportunities"]["childSObject"] == "Opportunity"
    assert {f["name"] for f in account["fields"] if f["externalId"]} == {"SIREN__c", "SIRET__c"}

    record = next(r for r in held.records("Account") if r["SIREN__c"])
    fetched = sf.Account.get(record["Id"])
    assert fetched["Name"] == record["Name"] and fetched["attributes"]["type"] == "Account"
    by_siren = sf.Account.get_by_custom_id("SIREN__c", record["SIREN__c"])
    assert by_siren["Id"] == record["Id"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get_by_custom_id("SIREN__c", "000000000")

    now = held.set_clock("2026-03-10T12:00:00Z")
    held.set_clock(now - timedelta(hours=2))
    touched = held.update("Account", record["Id"], {"Phone": "+33 1 00 00 00 00"})["id"]
    removed = held.records("Contact")[0]["Id"]
    held.delete("Contact", removed)
    held.set_clock(now)
    window = (now - timedelta(hours=3), now)
    assert sf.Account.updated(*window)["ids"] == [touched]
    deleted = sf.Contact.deleted(*window)
    assert [d["id"] for d in deleted["deletedRecords"]] == [removed]


def test_sdk_reads_limits_and_searches(sf: Salesforce, sandbox: Any) -> None:
    limits = sf.limits()
    for name in ("DailyApiRequests", "DailyBulkApiBatches", "DailyBulkV2QueryJobs", "DailyAsyncApexExecutions",
                 "DataStorageMB", "FileStorageMB", "HourlyODataCallout", "SingleEmail", "MassEmail"):
        assert set(limits[name]) == {"Max", "Remaining"} and limits[name]["Remaining"] <= limits[name]["Max"]
    assert limits["DailyApiRequests"]["Remaining"] < limits["DailyApiRequests"]["Max"]

    account = control(sandbox).records("Account")[0]
    word = account["Name"].split()[0]
    found = sf.search(f"FIND {{{word}}} RETURNING Account(Id, Name)")["searchRecords"]
    assert account["Id"] in {r["Id"] for r in found}
    assert all(r["attributes"]["type"] == "Account" and word.casefold() in r["Name"].casefold() for r in found)
    assert set(found[0]) == {"attributes", "Id", "Name"}
    quick = sf.quick_search(word)["searchRecords"]
    assert account["Id"] in {r["Id"] for r in quick} and all(set(r) == {"attributes", "Id"} for r in quick)
    assert sf.search("FIND {zzqqxxnothing} RETURNING Account(Id)")["searchRecords"] == []
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.search("FIND missing braces")
    assert failure.value.content[0]["errorCode"] == "MALFORMED_SEARCH"


# ------------------------------------------------------------------------------------ writes


def test_sdk_creates_updates_and_deletes_opportunities(sf: Salesforce, sandbox: Any, session: RoutedSession,
                                                       creds: dict[str, str]) -> None:
    held = control(sandbox)
    user = api_user(sandbox, session, creds)
    held.set_clock("2026-03-02T09:00:00Z")
    account = held.records("Account")[0]
    created = sf.Opportunity.create({"Name": "Passerelle — intégration", "AccountId": account["Id"],
                                     "StageName": "Prospecting", "CloseDate": "2026-06-30", "Amount": 12345.67})
    assert set(created) == {"id", "success", "errors"} and created["success"] is True and created["errors"] == []
    stored = held.record("Opportunity", created["id"])
    assert stored["Amount"] == Decimal("12345.67") or str(stored["Amount"]) == "12345.67"
    assert stored["LastModifiedDate"].startswith("2026-03-02T09:00") and stored["LastModifiedById"] == user
    assert stored["CreatedById"] == user and stored["IsWon"] is False

    held.set_clock("2026-03-02T10:00:00Z")
    assert sf.Opportunity.update(created["id"], {"StageName": "Closed Won", "Amount": 20000}) == 204
    read = sf.Opportunity.get(created["id"])
    assert (read["StageName"], read["IsWon"], read["IsClosed"], read["Amount"]) == ("Closed Won", True, True, 20000)
    assert read["LastModifiedDate"] == read["SystemModstamp"] == "2026-03-02T10:00:00.000+0000"
    since = sf.query("SELECT Id, LastModifiedById FROM Opportunity WHERE SystemModstamp > 2026-03-02T09:30:00Z")
    assert [(r["Id"], r["LastModifiedById"]) for r in since["records"]] == [(created["id"], user)]

    assert sf.Opportunity.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as failure:
        sf.Opportunity.get(created["id"])
    assert failure.value.content[0]["errorCode"] == "NOT_FOUND"
    with_deleted = sf.query_all("SELECT Id, IsDeleted FROM Opportunity", include_deleted=True)["records"]
    assert {"Id": created["id"], "IsDeleted": True} in [{k: r[k] for k in ("Id", "IsDeleted")} for r in with_deleted]
    assert ("PATCH", f"/services/data/v{VERSION}/sobjects/Opportunity/{created['id']}") in [
        (m, p) for m, _, p in session.calls]


def test_sdk_write_validation_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Opportunity.create({"Name": "Sans étape"})
    assert failure.value.status == 400
    assert failure.value.content == [{"message": "Required fields are missing: [StageName, CloseDate]",
                                      "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["StageName", "CloseDate"]}]
    cases = (
        ({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-06-30", "Bogus__c": 1}, "INVALID_FIELD", []),
        ({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-06-30", "Amount": "beaucoup"},
         "JSON_PARSER_ERROR", ["Amount"]),
        ({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-06-30", "IsWon": True},
         "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsWon"]),
        ({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-06-30", "AccountId": "nope"},
         "MALFORMED_ID", ["AccountId"]),
    )
    messages = {}
    for body, code, fields in cases:
        with pytest.raises(SalesforceMalformedRequest) as failure:
            sf.Opportunity.create(body)
        [error] = failure.value.content
        assert (error["errorCode"], error["fields"]) == (code, fields)
        messages[code] = error["message"]
    assert messages["INVALID_FIELD"] == "No such column 'Bogus__c' on sobject of type Opportunity"
    assert "Cannot deserialize instance of currency from VALUE_STRING value beaucoup" in messages["JSON_PARSER_ERROR"]
    assert messages["INVALID_FIELD_FOR_INSERT_UPDATE"].startswith("Unable to create fields: IsWon.")


def test_sdk_upserts_by_external_id(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    created = sf.Account.upsert("SIRET__c/99999999900013", {"Name": "Nouvelle SAS", "SIREN__c": "999999999"},
                                raw_response=True)
    assert created.status_code == 201 and created.json()["created"] is True
    new_id = created.json()["id"]
    updated = sf.Account.upsert("SIRET__c/99999999900013", {"Phone": "+33 4 00 00 00 00"}, raw_response=True)
    assert updated.status_code == 200 and updated.json() == {"id": new_id, "success": True, "errors": [],
                                                              "created": False}
    assert held.record("Account", new_id)["Phone"] == "+33 4 00 00 00 00"
    held.create("Account", {"Name": "Homonyme", "SIREN__c": "999999999"})
    with pytest.raises(SalesforceMoreThanOneRecord) as failure:
        sf.Account.upsert("SIREN__c/999999999", {"Phone": "+33 5 00 00 00 00"})
    assert failure.value.status == 300 and len(failure.value.content) == 2
    assert all(url.startswith(f"/services/data/v{VERSION}/sobjects/Account/") for url in failure.value.content)
    with pytest.raises(SalesforceResourceNotFound) as not_external:
        sf.Account.upsert("Name/Nouvelle SAS", {"Phone": "x"})
    assert not_external.value.content[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("SIRET__c/11111111100011?updateOnly=true", {"Name": "Jamais"})


def test_sdk_conditional_updates_answer_412(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    held.set_clock("2026-03-02T09:00:00Z")
    account = held.records("Account")[0]
    read = sf.Account.get(account["Id"])
    raw = sf.session.get(f"{sf.base_url}sobjects/Account/{account['Id']}", headers=sf.headers)
    etag = raw.headers["ETag"]
    seen = format_datetime(datetime(2026, 3, 2, 9, tzinfo=timezone.utc), usegmt=True)
    assert sf.Account.update(account["Id"], {"Phone": "1"}, headers={"If-Unmodified-Since": seen}) == 204
    held.set_clock("2026-03-02T09:05:00Z")
    held.update("Account", account["Id"], {"Phone": "2"})  # someone else edits it
    for header in ({"If-Unmodified-Since": seen}, {"If-Match": etag}):
        with pytest.raises(SalesforceGeneralError) as failure:
            sf.Account.update(account["Id"], {"Phone": "3"}, headers=header)
        assert failure.value.status == 412
        assert failure.value.content[0]["errorCode"] == "PRECONDITION_FAILED"
    assert held.record("Account", account["Id"])["Phone"] == "2" and read["Id"] == account["Id"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.update(account["Id"], {"Phone": "3"}, headers={"If-Unmodified-Since": "hier"})


def test_sdk_collections_report_per_item_errors(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    account = held.records("Account")[0]
    good = {"attributes": {"type": "Opportunity"}, "Name": "Lot 1", "StageName": "Prospecting",
            "CloseDate": "2026-07-01", "AccountId": account["Id"]}
    bad = {"attributes": {"type": "Opportunity"}, "Name": "Lot 2"}
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [good, bad]})
    assert results[0]["success"] is True and results[0]["id"]
    assert results[1] == {"id": None, "success": False, "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [StageName, CloseDate]",
         "fields": ["StageName", "CloseDate"]}]}
    before = len(held.records("Opportunity"))
    rolled = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [good, bad]})
    assert [r["success"] for r in rolled] == [False, False] and len(held.records("Opportunity")) == before
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"

    made = results[0]["id"]
    changed = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Opportunity"}, "id": made, "StageName": "Closed Lost"},
        {"attributes": {"type": "Opportunity"}, "id": "006000000000000AAA", "StageName": "Closed Lost"}]})
    assert changed[0] == {"id": made, "success": True, "errors": []} and changed[1]["success"] is False
    assert held.record("Opportunity", made)["StageName"] == "Closed Lost"
    removed = sf.restful("composite/sobjects", method="DELETE", params={"ids": made})
    assert removed == [{"id": made, "success": True, "errors": []}]
    assert held.record("Opportunity", made)["IsDeleted"] is True

    existing = next(r for r in held.records("Account") if r["SIRET__c"])
    twin = held.create("Account", {"Name": "Jumelle", "SIREN__c": "888888888", "SIRET__c": "88888888800011"})["id"]
    held.create("Account", {"Name": "Jumelle bis", "SIRET__c": "88888888800011"})
    upserted = sf.restful("composite/sobjects/Account/SIRET__c", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "SIRET__c": existing["SIRET__c"], "Phone": "+33 6 00 00 00 00"},
        {"attributes": {"type": "Account"}, "SIRET__c": "77777777700019", "Name": "Créée par lot"},
        {"attributes": {"type": "Account"}, "SIRET__c": "88888888800011", "Phone": "0"},
    ]})
    assert upserted[0] == {"id": existing["Id"], "success": True, "errors": [], "created": False}
    assert upserted[1]["success"] is True and upserted[1]["created"] is True
    assert held.record("Account", upserted[1]["id"])["Name"] == "Créée par lot"
    assert upserted[2]["success"] is False and upserted[2]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert twin in upserted[2]["errors"][0]["message"]
    assert held.record("Account", existing["Id"])["Phone"] == "+33 6 00 00 00 00"


# ------------------------------------------------------------------------------ Bulk API 2.0


def test_sdk_bulk2_query_jobs_page_csv_results(sf: Salesforce, sandbox: Any, session: RoutedSession) -> None:
    held = control(sandbox)
    held.bulk("Account", create=250)
    live = held.records("Account")
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, Owner.Username, SIREN__c, SystemModstamp FROM Account",
                                        max_records=200, wait=0))
    assert len(pages) == -(-len(live) // 200)
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert list(rows[0]) == ["Id", "Name", "Owner.Username", "SIREN__c", "SystemModstamp"]
    assert {r["Id"] for r in rows} == {r["Id"] for r in live}
    users = {u["Id"]: u["Username"] for u in held.records("User")}
    for row in rows[:20]:
        stored = next(a for a in live if a["Id"] == row["Id"])
        assert row["Owner.Username"] == users.get(stored["OwnerId"], "")
        assert row["SIREN__c"] == (stored["SIREN__c"] or "") and row["SystemModstamp"] == stored["SystemModstamp"]
    results = [p for p in session.paths("GET") if p.endswith("/results")]
    assert len(results) == len(pages)

    gone = live[0]["Id"]
    held.delete("Account", gone)
    with_deleted = "".join(sf.bulk2.Account.query_all("SELECT Id, IsDeleted FROM Account", wait=0))
    assert f'"{gone}","true"' in with_deleted

    held.config(bulk_query_polls_in_progress=1)
    job = sf.bulk2.Account._client.create_job("query", "SELECT Id FROM Account")
    assert job["state"] == "UploadComplete" and job["object"] == "Account" and job["contentType"] == "CSV"
    with pytest.raises(SalesforceGeneralError) as early:
        sf.bulk2.Account._client.get_query_results(job["id"])
    assert early.value.status == 412 and early.value.content[0]["errorCode"] == "JOB_NOT_COMPLETE"
    assert sf.bulk2.Account._client.get_job(job["id"], True)["state"] == "InProgress"
    assert sf.bulk2.Account._client.get_job(job["id"], True)["state"] == "JobComplete"
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.bulk2.Account._client.create_job("query", "SELECT Id, (SELECT Id FROM Contacts) FROM Account")
    assert refused.value.content[0]["message"] == "Aggregate Relationships not supported in Bulk Query"


# ------------------------------------------------------------------------------- Composite


def subrequest(method: str, path: str, reference: str, body: Any = None) -> dict[str, Any]:
    item = {"method": method, "url": f"/services/data/v{VERSION}/{path}", "referenceId": reference}
    return item if body is None else {**item, "body": body}


def test_sdk_composite_chains_references_and_rolls_back(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    chained = sf.restful("composite", method="POST", json={"compositeRequest": [
        subrequest("POST", "sobjects/Account", "refAccount", {"Name": "Composite SAS"}),
        subrequest("POST", "sobjects/Contact", "refContact", {"LastName": "Martin", "AccountId": "@{refAccount.id}"}),
        subrequest("GET", "sobjects/Account/@{refAccount.id}?fields=Name", "refRead"),
        subrequest("GET", "query/?q=SELECT+Id+FROM+Contact+WHERE+AccountId+=+'@{refAccount.id}'", "refQuery"),
        subrequest("PATCH", "sobjects/Contact/@{refQuery.records[0].Id}", "refUpdate", {"Title": "DAF"}),
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in chained] == [201, 201, 200, 200, 204]
    assert [r["referenceId"] for r in chained] == ["refAccount", "refContact", "refRead", "refQuery", "refUpdate"]
    account, contact = chained[0]["body"]["id"], chained[1]["body"]["id"]
    assert chained[0]["httpHeaders"] == {"Location": f"/services/data/v{VERSION}/sobjects/Account/{account}"}
    assert chained[2]["body"]["Name"] == "Composite SAS" and chained[3]["body"]["totalSize"] == 1
    assert held.record("Contact", contact)["AccountId"] == account and held.record("Contact", contact)["Title"] == "DAF"
    assert chained[4]["body"] is None

    partial = sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": [
        subrequest("POST", "sobjects/Account", "badAccount", {"Phone": "0"}),
        subrequest("POST", "sobjects/Contact", "orphan", {"LastName": "Seul", "AccountId": "@{badAccount.id}"}),
        subrequest("POST", "sobjects/Account", "fine", {"Name": "Indépendante"}),
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in partial] == [400, 400, 201]
    assert partial[0]["body"] == [{"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING",
                                   "fields": ["Name"]}]
    assert partial[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert partial[1]["body"][0]["message"].startswith("Invalid reference specified. No value for badAccount.id found")

    accounts, contacts = len(held.records("Account")), len(held.records("Contact"))
    rolled = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        subrequest("POST", "sobjects/Account", "kept", {"Name": "Annulée"}),
        subrequest("PATCH", f"sobjects/Contact/{contact}", "touch", {"Title": "Changé"}),
        subrequest("POST", "sobjects/Contact", "broken", {"FirstName": "Sans nom"}),
        subrequest("POST", "sobjects/Account", "never", {"Name": "Jamais"}),
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in rolled] == [400, 400, 400, 400]
    assert rolled[2]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert {r["body"][0]["message"] for i, r in enumerate(rolled) if i != 2} == {
        "The transaction was rolled back since another operation in the same transaction failed."}
    assert (len(held.records("Account")), len(held.records("Contact"))) == (accounts, contacts)
    assert held.record("Contact", contact)["Title"] == "DAF"

    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful("composite", method="POST", json={"compositeRequest": [
            subrequest("GET", "limits", f"ref{i}") for i in range(26)]})
    assert too_many.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    with pytest.raises(SalesforceMalformedRequest) as unnamed:
        sf.restful("composite", method="POST", json={"compositeRequest": [subrequest("GET", "limits", "bad-ref")]})
    assert "referenceId" in unnamed.value.content[0]["message"]


def test_sdk_composite_batch_and_tree(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    account = held.records("Account")[0]["Id"]
    batch = sf.restful("composite/batch", method="POST", json={"batchRequests": [
        {"method": "PATCH", "url": f"v{VERSION}/sobjects/Account/{account}", "richInput": {"Phone": "+33 1 02 03 04 05"}},
        {"method": "GET", "url": f"v{VERSION}/sobjects/Account/001000000000000AAA"},
        {"method": "GET", "url": f"v{VERSION}/sobjects/Account/{account}?fields=Phone"},
    ]})
    assert batch["hasErrors"] is True
    assert [r["statusCode"] for r in batch["results"]] == [204, 404, 200]
    assert batch["results"][2]["result"]["Phone"] == "+33 1 02 03 04 05"
    halted = sf.restful("composite/batch", method="POST", json={"haltOnError": True, "batchRequests": [
        {"method": "GET", "url": f"v{VERSION}/sobjects/Account/001000000000000AAA"},
        {"method": "GET", "url": f"v{VERSION}/sobjects/Account/{account}"}]})
    assert [r["statusCode"] for r in halted["results"]] == [404, 412]
    assert halted["results"][1]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"

    tree = sf.restful("composite/tree/Account", method="POST", json={"records": [
        {"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Arbre SA",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Chêne"},
             {"attributes": {"type": "Contact", "referenceId": "ref3"}, "LastName": "Hêtre"}]}},
        {"attributes": {"type": "Account", "referenceId": "ref4"}, "Name": "Bosquet SARL"}]})
    assert tree["hasErrors"] is False and [r["referenceId"] for r in tree["results"]] == ["ref1", "ref2", "ref3", "ref4"]
    ids = {r["referenceId"]: r["id"] for r in tree["results"]}
    assert held.record("Contact", ids["ref3"])["AccountId"] == ids["ref1"]
    assert held.record("Account", ids["ref4"])["Name"] == "Bosquet SARL"

    accounts, contacts = len(held.records("Account")), len(held.records("Contact"))
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.restful("composite/tree/Account", method="POST", json={"records": [
            {"attributes": {"type": "Account", "referenceId": "ok"}, "Name": "Jamais créée",
             "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "bad"}, "FirstName": "X"}]}}]})
    assert refused.value.content == {"hasErrors": True, "results": [{"referenceId": "bad", "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
         "fields": ["LastName"]}]}]}
    assert (len(held.records("Account")), len(held.records("Contact"))) == (accounts, contacts)


# ------------------------------------------------------------------ Bulk API 2.0 and 1.0 ingest


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def modified_since(sf: Salesforce, mark: str) -> dict[str, dict[str, Any]]:
    """What the next incremental read sees: rows whose SystemModstamp moved to ``mark`` or later."""
    found = sf.query_all(f"SELECT Id, Name, Phone, IsDeleted, SystemModstamp FROM Account WHERE SystemModstamp >= {mark}",
                         include_deleted=True)
    return {r["Id"]: r for r in found["records"]}


def test_sdk_bulk2_ingest_jobs_write_and_report_per_row(sf: Salesforce, sandbox: Any, session: RoutedSession) -> None:
    held = control(sandbox)
    held.set_clock(datetime(2026, 4, 2, 9, 30, tzinfo=timezone.utc))
    mark = "2026-04-02T09:30:00Z"
    inserted = sf.bulk2.Account.insert(records=[{"Name": "Vrac Un", "SIRET__c": "99999999900018"},
                                                {"Name": "", "SIRET__c": ""}], wait=0)
    assert inserted[0]["numberRecordsProcessed"] == 2 and inserted[0]["numberRecordsFailed"] == 1
    job = inserted[0]["job_id"]
    made = csv_rows(sf.bulk2.Account.get_successful_records(job))
    assert [(r["sf__Created"], r["Name"]) for r in made] == [("true", "Vrac Un")]
    failed = csv_rows(sf.bulk2.Account.get_failed_records(job))
    assert [(r["sf__Id"], r["sf__Error"]) for r in failed] == [
        ("", "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --")]
    first = made[0]["sf__Id"]

    existing = next(r for r in held.records("Account") if r["SIRET__c"] and r["Id"] != first)
    upserted = sf.bulk2.Account.upsert(records=[{"SIRET__c": existing["SIRET__c"], "Phone": "+33 6 11 22 33 44"},
                                                {"SIRET__c": "99999999900026", "Name": "Vrac Deux"}],
                                       external_id_field="SIRET__c", wait=0)
    assert upserted[0]["numberRecordsFailed"] == 0
    results = csv_rows(sf.bulk2.Account.get_successful_records(upserted[0]["job_id"]))
    assert [(r["sf__Id"] == existing["Id"], r["sf__Created"]) for r in results] == [(True, "false"), (False, "true")]
    second = results[1]["sf__Id"]

    updated = sf.bulk2.Account.update(records=[{"Id": first, "Phone": "#N/A", "Name": "Vrac Un bis"},
                                               {"Id": "001000000000000AAA", "Phone": "1"}], wait=0)
    assert updated[0]["numberRecordsFailed"] == 1
    assert held.record("Account", first)["Name"] == "Vrac Un bis" and held.record("Account", first)["Phone"] is None
    sf.bulk2.Account.delete(records=[{"Id": second}], wait=0)
    assert held.record("Account", second)["IsDeleted"] is True

    seen = modified_since(sf, mark)
    assert {first, second, existing["Id"]} <= set(seen)
    assert seen[second]["IsDeleted"] is True and seen[existing["Id"]]["Phone"] == "+33 6 11 22 33 44"
    assert {seen[i]["SystemModstamp"] for i in (first, second)} == {"2026-04-02T09:30:00.000+0000"}

    with pytest.raises(SalesforceOperationError, match="Field name not found : Colour__c"):
        sf.bulk2.Account.insert(records=[{"Name": "Couleur", "Colour__c": "bleu"}], wait=0)
    client = sf.bulk2.Account._client
    opened = client.create_job("insert")
    assert opened["state"] == "Open" and opened["contentUrl"].endswith(f"/jobs/ingest/{opened['id']}/batches")
    client.upload_job_data(opened["id"], "Name\nAbandonnée\n")
    assert client.abort_job(opened["id"], False)["state"] == "Aborted"
    assert csv_rows(sf.bulk2.Account.get_unprocessed_records(opened["id"])) == [{"Name": "Abandonnée"}]
    gone = session.delete(f"{sf.bulk2_url}ingest/{opened['id']}", headers={"Authorization": f"Bearer {sf.session_id}"})
    assert gone.status_code == 204
    with pytest.raises(SalesforceResourceNotFound):
        client.get_job(opened["id"], False)
    assert all(r["Name"] != "Abandonnée" for r in held.records("Account"))


def test_sdk_bulk1_json_jobs_insert_update_upsert_delete_and_query(sf: Salesforce, sandbox: Any) -> None:
    held = control(sandbox)
    held.set_clock(datetime(2026, 4, 3, 8, 0, tzinfo=timezone.utc))
    inserted = sf.bulk.Account.insert([{"Name": "Lot V1", "SIREN__c": "999999999"}, {"Phone": "0"}])
    assert inserted[0]["success"] is True and inserted[0]["created"] is True
    assert inserted[1] == {"success": False, "created": False, "id": None, "errors": [
        {"fields": ["Name"], "message": "Required fields are missing: [Name]", "statusCode": "REQUIRED_FIELD_MISSING"}]}
    made = inserted[0]["id"]
    assert held.record("Account", made)["SIREN__c"] == "999999999"

    assert sf.bulk.Account.update([{"Id": made, "Phone": "+33 4 00 00 00 00"}])[0]["success"] is True
    upserted = sf.bulk.Account.upsert([{"SIRET__c": "99999999900034", "Name": "Lot V1 bis"}], "SIRET__c")
    assert upserted[0]["success"] is True and upserted[0]["created"] is True
    assert sf.bulk.Account.delete([{"Id": upserted[0]["id"]}])[0]["success"] is True
    assert held.record("Account", upserted[0]["id"])["IsDeleted"] is True

    rows = sf.bulk.Account.query(f"SELECT Id, Name, Phone, CreatedDate FROM Account WHERE Id = '{made}'")
    assert len(rows) == 1 and rows[0]["Phone"] == "+33 4 00 00 00 00"
    assert rows[0]["CreatedDate"] == int(datetime(2026, 4, 3, 8, 0, tzinfo=timezone.utc).timestamp() * 1000)
    assert rows[0]["attributes"] == {"type": "Account", "url": f"/services/data/v{VERSION}/sobjects/Account/{made}"}
    deleted = sf.bulk.Account.query_all("SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true")
    assert upserted[0]["id"] in {r["Id"] for r in deleted}
    assert set(modified_since(sf, "2026-04-03T08:00:00Z")) == {made, upserted[0]["id"]}

    with pytest.raises(SalesforceMalformedRequest) as expired:
        SFBulkHandler("not-a-session", sf.bulk_url, session=sf.session).Account.insert([{"Name": "X"}])
    assert expired.value.content == {"exceptionCode": "InvalidSessionId", "exceptionMessage": "Invalid session id"}
