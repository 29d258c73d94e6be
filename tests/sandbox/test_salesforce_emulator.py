"""The Salesforce emulator, driven over HTTPS by the official simple-salesforce client and requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from passerelle_sandbox.server import Sandbox, read_descriptor

VERSION = "62.0"
BATCH_200 = {"Sforce-Query-Options": "batchSize=200"}
ORDERED = "SELECT Id, Name, SystemModstamp, IsDeleted FROM Account ORDER BY SystemModstamp, Id"


def http(sandbox: Sandbox) -> requests.Session:
    """A session trusting only the sandbox CA (trust_env off: REQUESTS_CA_BUNDLE would override verify)."""
    session = requests.Session()
    session.verify = str(sandbox.ca_path)
    session.trust_env = False
    return session


def refresh(sandbox: Sandbox, **overrides: str) -> requests.Response:
    creds = sandbox.salesforce.credentials
    form = {
        "grant_type": "refresh_token",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "refresh_token": creds["refresh_token"],
        **overrides,
    }
    return http(sandbox).post(f"{creds['login_url']}/services/oauth2/token", data=form)


def token(sandbox: Sandbox) -> dict[str, Any]:
    response = refresh(sandbox)
    assert response.status_code == 200, response.text
    return dict(response.json())


def client(sandbox: Sandbox, access_token: str | None = None) -> Salesforce:
    grant = token(sandbox) if access_token is None else {"access_token": access_token,
                                                         "instance_url": sandbox.salesforce.base_url}
    return Salesforce(instance_url=grant["instance_url"], session_id=grant["access_token"], version=VERSION,
                      session=http(sandbox))


def sf_time(canonical: str) -> str:
    return canonical[:-1] + "+0000"


def expected_order(sandbox: Sandbox, include_deleted: bool) -> list[str]:
    records = sandbox.salesforce.control.records("Account", include_deleted=include_deleted)
    return [r["Id"] for r in sorted(records, key=lambda r: (r["SystemModstamp"], r["Id"]))]


def test_refresh_token_grant_answers_like_salesforce(sandbox: Sandbox) -> None:
    grant = token(sandbox)
    assert set(grant) == {"access_token", "instance_url", "id", "issued_at", "signature", "token_type", "scope"}
    assert grant["instance_url"] == sandbox.salesforce.base_url
    assert grant["token_type"] == "Bearer"
    secret = sandbox.salesforce.credentials["client_secret"].encode()
    digest = hmac.new(secret, (grant["id"] + grant["issued_at"]).encode(), hashlib.sha256).digest()
    assert grant["signature"] == base64.b64encode(digest).decode()

    bad_token = refresh(sandbox, refresh_token="5Aep861nope")
    assert (bad_token.status_code, bad_token.json()["error"]) == (400, "invalid_grant")
    bad_secret = refresh(sandbox, client_secret="nope")
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (400, "invalid_client")
    bad_grant = refresh(sandbox, grant_type="password")
    assert bad_grant.json() == {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


def test_data_calls_need_a_valid_session(sandbox: Sandbox) -> None:
    url = f"{sandbox.salesforce.base_url}/services/data/v{VERSION}/query"
    for headers in ({}, {"Authorization": "Bearer 00Dforged!token"}):
        response = http(sandbox).get(url, params={"q": "SELECT Id FROM Account"}, headers=headers)
        assert response.status_code == 401
        assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_versions_and_describe_list_the_served_fields(sandbox: Sandbox) -> None:
    session = http(sandbox)
    versions = session.get(f"{sandbox.salesforce.base_url}/services/data/").json()
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions

    sf = client(sandbox)
    describe = sf.Account.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    dataset_keys = {key for record in sandbox.salesforce.control.records("Account") for key in record}
    assert set(fields) == dataset_keys
    assert fields["Id"]["type"] == "id"
    assert fields["SystemModstamp"]["type"] == "datetime"
    assert fields["IsDeleted"]["type"] == "boolean"
    assert fields["OwnerId"]["type"] == "reference" and fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["SIREN__c"]["custom"] and fields["SIREN__c"]["type"] == "string"
    assert all(f["label"] for f in fields.values())
    # any vXX.X is accepted in paths
    other = session.get(f"{sandbox.salesforce.base_url}/services/data/v58.0/sobjects/Contact/describe",
                        headers={"Authorization": f"Bearer {sf.session_id}"})
    assert other.status_code == 200 and other.json()["name"] == "Contact"


def test_query_pages_return_every_row_once_in_keyset_order(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.bulk("Account", create=450)
    control.advance(60)
    doomed = control.records("Account")[3]["Id"]
    control.delete("Account", doomed)
    sf = client(sandbox)

    first = sf.query(ORDERED, headers=BATCH_200)
    live = expected_order(sandbox, include_deleted=False)
    assert first["totalSize"] == len(live) and len(first["records"]) == 200 and first["done"] is False
    assert f"/services/data/v{VERSION}/query/" in first["nextRecordsUrl"]
    ids = [r["Id"] for r in first["records"]]
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, include_deleted=True, headers=BATCH_200)
        assert len(page["records"]) <= 200
        ids += [r["Id"] for r in page["records"]]
    assert ids == live
    assert doomed not in ids

    every = [r["Id"] for r in sf.query_all_iter(ORDERED, include_deleted=True, headers=BATCH_200)]
    assert every == expected_order(sandbox, include_deleted=True)
    assert len(every) == len(set(every)) == len(live) + 1


def test_default_batch_is_2000_and_datetimes_look_like_salesforce(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.bulk("Account", create=2100)
    sf = client(sandbox)
    page = sf.query("SELECT Id, CreatedDate, SystemModstamp FROM Account")
    assert len(page["records"]) == 2000 and not page["done"]
    record = page["records"][0]
    url = f"/services/data/v{VERSION}/sobjects/Account/{record['Id']}"
    assert record["attributes"] == {"type": "Account", "url": url}
    assert list(record) == ["attributes", "Id", "CreatedDate", "SystemModstamp"]
    assert datetime.strptime(record["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z").tzinfo is not None
    assert record["SystemModstamp"].endswith("+0000")
    assert sf.api_usage["api-usage"].total == 100_000


def test_deleted_record_appears_only_in_query_all(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    victim = control.records("Account")[0]
    deleted_at = control.advance(3600)
    control.delete("Account", victim["Id"])
    sf = client(sandbox)
    soql = f"SELECT Id, IsDeleted, SystemModstamp, LastModifiedDate FROM Account WHERE Id = '{victim['Id']}'"

    assert sf.query(soql)["totalSize"] == 0
    rows = sf.query(soql, include_deleted=True)["records"]
    assert len(rows) == 1 and rows[0]["IsDeleted"] is True
    assert rows[0]["SystemModstamp"] == deleted_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert rows[0]["LastModifiedDate"] == sf_time(victim["LastModifiedDate"])
    control.advance(120)  # /deleted covers whole minutes up to the platform's now
    window = {"start": (deleted_at - timedelta(hours=1)).isoformat(),
              "end": (deleted_at + timedelta(minutes=5)).isoformat()}
    deleted = sf.restful("sobjects/Account/deleted/", params=window)
    assert deleted["deletedRecords"] == [{"id": victim["Id"], "deletedDate": rows[0]["SystemModstamp"]}]
    assert deleted["latestDateCovered"] == (deleted_at + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:00.000+0000")


def test_keyset_predicate_resumes_inside_a_mass_update(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.advance(86_400)
    bulk = control.bulk("Account", touch=30)
    stamp = bulk["stamp"]
    touched = sorted(bulk["touched_ids"])
    literal = sf_time(stamp)
    sf = client(sandbox)

    same = sf.query(f"SELECT Id FROM Account WHERE SystemModstamp = {literal} ORDER BY Id")
    assert [r["Id"] for r in same["records"]] == touched
    keyset = (
        f"SELECT Id, SystemModstamp FROM Account WHERE ((SystemModstamp = {literal} AND Id > '{touched[9]}') "
        f"OR SystemModstamp > {literal}) ORDER BY SystemModstamp, Id"
    )
    assert [r["Id"] for r in sf.query(keyset)["records"]] == touched[10:]
    # the same instant written with an offset, and a 15-character id, mean the same thing
    offset = (datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(timezone(timedelta(hours=1))))
    other = (f"SELECT Id FROM Account WHERE (SystemModstamp = {offset.isoformat(timespec='seconds')} "
             f"AND Id > '{touched[9][:15]}') ORDER BY Id")
    assert [r["Id"] for r in sf.query(other)["records"]] == touched[10:]
    assert sf.query(f"SELECT Id FROM Account WHERE SystemModstamp > {literal}")["totalSize"] == 0


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id, Bogus__c FROM Account", "INVALID_FIELD", "No such column 'Bogus__c' on entity 'Account'"),
        ("SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'", "INVALID_FIELD",
         "must be of type dateTime and should not be enclosed in quotes"),
        ("SELECT Id FROM Account WHERE Name = 3", "INVALID_FIELD", "must be of type string"),
        ("SELECT Id FROM Account WHERE Id > 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
        ("SELECT Id FROM Accnt", "INVALID_TYPE", "sObject type 'Accnt' is not supported"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Type = 'c'", "MALFORMED_QUERY",
         "unexpected token: OR"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        ("SELECT Id FROM Account ORDER BY", "MALFORMED_QUERY", "ERROR at Row:1:Column:32"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY",
         "ERROR at Row:1:Column:37\nunterminated string literal"),
    ],
)
def test_invalid_queries_fail_like_salesforce(sandbox: Sandbox, soql: str, code: str, fragment: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        client(sandbox).query(soql)
    assert failure.value.status == 400
    [error] = failure.value.content
    assert error["errorCode"] == code
    assert fragment in error["message"]


def test_where_clause_semantics(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.set_clock("2026-03-02T12:00:00Z")
    made = {}
    for name, city, siren in (("Alpha O'Neil SAS", "Lyon", "111111118"), ("beta sarl", "Paris", None),
                              ("Gamma_50% SA", None, "222222226")):
        made[name] = control.create("Account", {"Name": name, "BillingCity": city, "SIREN__c": siren})["id"]
    sf = client(sandbox)

    def names(where: str) -> set[str]:
        rows = sf.query(f"SELECT Name FROM Account WHERE CreatedDate = TODAY AND ({where})")["records"]
        return {r["Name"] for r in rows}

    assert names("Name = 'BETA SARL'") == {"beta sarl"}
    assert names("Name = 'Alpha O\\'Neil SAS'") == {"Alpha O'Neil SAS"}
    assert names("BillingCity IN ('Lyon', 'Paris')") == {"Alpha O'Neil SAS", "beta sarl"}
    assert names("BillingCity NOT IN ('Lyon')") == {"beta sarl", "Gamma_50% SA"}
    assert names("BillingCity = null") == {"Gamma_50% SA"}
    assert names("NOT (SIREN__c != null)") == {"beta sarl"}
    assert names("Name LIKE 'gamma\\_50\\%%'") == {"Gamma_50% SA"}
    assert names("Name LIKE '%a%' AND BillingCity != 'Lyon'") == {"beta sarl", "Gamma_50% SA"}
    beta, alpha15 = made["beta sarl"], made["Alpha O'Neil SAS"][:15]
    assert names(f"Id IN ('{beta}', '{alpha15}')") == {"beta sarl", "Alpha O'Neil SAS"}
    assert names("CreatedDate >= 2026-03-02T13:00:00+01:00") == set(made)
    assert names("CreatedDate > 2026-03-02T12:00:00.000+0000") == set()
    count = sf.query("SELECT COUNT() FROM Account WHERE CreatedDate = LAST_N_DAYS:1")
    assert count["totalSize"] >= 3 and count["records"] == []
    top = sf.query("SELECT Name FROM Account WHERE CreatedDate = TODAY ORDER BY Name DESC LIMIT 2")
    assert [r["Name"] for r in top["records"]] == ["Gamma_50% SA", "beta sarl"]


def test_expired_session_is_401_and_refresh_recovers(sandbox: Sandbox) -> None:
    sf = client(sandbox)
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    sandbox.salesforce.control.add_fault("expire_tokens")
    with pytest.raises(SalesforceExpiredSession) as failure:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert failure.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User LIMIT 1")
    fresh = client(sandbox)
    assert fresh.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1


def test_rate_limit_fault_is_a_403_with_limit_info(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.add_fault("rate_limit", times=1)
    grant = token(sandbox)
    url = f"{grant['instance_url']}/services/data/v{VERSION}/query"
    headers = {"Authorization": f"Bearer {grant['access_token']}"}
    throttled = http(sandbox).get(url, params={"q": "SELECT Id FROM Account"}, headers=headers)
    assert throttled.status_code == 403
    assert throttled.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    used, limit = throttled.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")
    assert int(used) > int(limit) == 100_000
    again = http(sandbox).get(url, params={"q": "SELECT Id FROM Account"}, headers=headers)
    assert again.status_code == 200 and again.headers["Sforce-Limit-Info"].startswith("api-usage=")
    with pytest.raises(SalesforceRefusedRequest):
        control.add_fault("rate_limit")
        client(sandbox, grant["access_token"]).query("SELECT Id FROM Account")
    assert control.stats()["by_status"]["403"] == 2


def test_daily_api_limit_is_enforced(sandbox: Sandbox) -> None:
    sandbox.salesforce.control.config(daily_api_limit=3)
    sf = client(sandbox)
    for _ in range(3):
        sf.query("SELECT Id FROM User LIMIT 1")
    assert sf.api_usage["api-usage"].used == 3
    with pytest.raises(SalesforceRefusedRequest) as failure:
        sf.query("SELECT Id FROM User LIMIT 1")
    assert failure.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def _assertion(sandbox: Sandbox, key: Any = None, **claims: Any) -> str:
    creds = sandbox.salesforce.credentials
    if key is None:
        key = serialization.load_pem_private_key(Path(creds["private_key_path"]).read_bytes(), password=None)
    payload = {"iss": creds["client_id"], "sub": creds["username"], "aud": creds["login_url"],
               "exp": int(time.time()) + 180, **claims}
    return jwt.encode(payload, key, algorithm="RS256")


def test_jwt_bearer_flow(sandbox: Sandbox) -> None:
    url = f"{sandbox.salesforce.credentials['login_url']}/services/oauth2/token"
    grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    answer = http(sandbox).post(url, data={"grant_type": grant_type, "assertion": _assertion(sandbox)})
    assert answer.status_code == 200, answer.text
    grant = answer.json()
    assert "refresh_token" not in grant and grant["instance_url"] == sandbox.salesforce.base_url
    assert client(sandbox, grant["access_token"]).query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for assertion, error in (
        (_assertion(sandbox, aud="https://login.example.com"), "audience is invalid"),
        (_assertion(sandbox, exp=int(time.time()) - 10), "expired authorization code"),
        (_assertion(sandbox, key=stranger), "invalid assertion"),
        (_assertion(sandbox, sub="someone@else.example"), "user hasn't approved this consumer"),
    ):
        refused = http(sandbox).post(url, data={"grant_type": grant_type, "assertion": assertion})
        assert refused.status_code == 400
        assert refused.json()["error"] in ("invalid_grant", "invalid_client_id")
        assert refused.json()["error_description"] == error


def test_unknown_or_expired_query_locator(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.bulk("Account", create=300)
    sf = client(sandbox)
    first = sf.query("SELECT Id FROM Account", headers=BATCH_200)
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query_more(f"/services/data/v{VERSION}/query/01gXX0000000000AAA-200", identifier_is_url=True)
    assert failure.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    control.advance(3 * 86_400)  # cursors live two days
    with pytest.raises(SalesforceMalformedRequest) as expired:
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert expired.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_fault_after_and_times_are_counted_exactly(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.add_fault("error", status=503, after=1, times=2, path="/query")
    sf = client(sandbox)
    outcomes = []
    for _ in range(4):
        try:
            sf.query("SELECT Id FROM User LIMIT 1")
            outcomes.append(200)
        except SalesforceGeneralError as exc:
            outcomes.append(exc.status)
            assert exc.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert outcomes == [200, 503, 503, 200]
    [fault] = control.faults()
    assert (fault["seen"], fault["fired"]) == (1, 2)
    counts = control.stats()["by_path_status"][f"/services/data/v{VERSION}/query/"]
    assert counts == {"200": 2, "503": 2}


def test_payload_faults(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    grant = token(sandbox)
    url = f"{grant['instance_url']}/services/data/v{VERSION}/query"
    headers = {"Authorization": f"Bearer {grant['access_token']}"}
    params = {"q": "SELECT Id, Name FROM Account"}

    control.add_fault("malformed_json")
    broken = http(sandbox).get(url, params=params, headers=headers)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()

    control.add_fault("missing_id")
    records = http(sandbox).get(url, params=params, headers=headers).json()["records"]
    assert sum("Id" not in r for r in records) == 1 and all("Name" in r for r in records)

    control.add_fault("slow", delay=0.3)
    started = time.perf_counter()
    assert http(sandbox).get(url, params=params, headers=headers).status_code == 200
    assert time.perf_counter() - started >= 0.3
    # token requests are never affected by default-path faults
    control.add_fault("error", times=None)
    assert refresh(sandbox).status_code == 200
    assert http(sandbox).get(url, params=params, headers=headers).status_code == 500


def test_bulk_stamps_every_record_identically(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    now = control.advance(7200)
    bulk = control.bulk("Contact", create=5, touch=7)
    assert bulk["stamp"] == now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    changed = set(bulk["created_ids"]) | set(bulk["touched_ids"])
    assert len(changed) == 12
    by_id = {r["Id"]: r for r in control.records("Contact")}
    assert {by_id[i]["SystemModstamp"] for i in changed} == {bulk["stamp"]}
    assert {by_id[i]["LastModifiedDate"] for i in changed} == {bulk["stamp"]}
    sf = client(sandbox)
    rows = sf.query(f"SELECT Id FROM Contact WHERE SystemModstamp = {sf_time(bulk['stamp'])}")
    assert {r["Id"] for r in rows["records"]} == changed
    assert len({by_id[i]["Email"] for i in bulk["created_ids"]}) == 5
    control.advance(120)
    updated = sf.restful("sobjects/Contact/updated/", params={
        "start": (now - timedelta(minutes=1)).isoformat(), "end": (now + timedelta(minutes=1)).isoformat()})
    assert set(updated["ids"]) == changed


def test_control_records_and_reset_restore_the_initial_records(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    before = control.records("Account", include_deleted=True)
    start = control.now()
    created = control.create("Account", {"Name": "Temp SAS", "SIREN__c": "732829320"})
    assert created["record"]["CreatedDate"] == created["record"]["SystemModstamp"]
    assert created["id"].startswith("001") and len(created["id"]) == 18
    control.update("Account", before[0]["Id"], {"Phone": "+33 1 00 00 00 00"}, system_only=True)
    updated = control.record("Account", before[0]["Id"])
    assert updated["LastModifiedDate"] == before[0]["LastModifiedDate"]
    control.delete("Account", before[1]["Id"])
    control.advance(10)
    control.config(daily_api_limit=5)
    control.add_fault("error", times=None)
    control.reset()
    assert control.records("Account", include_deleted=True) == before
    assert control.now() == start
    assert control.faults() == [] and control.config()["daily_api_limit"] == 100_000
    assert client(sandbox).query("SELECT Id FROM Account")["totalSize"] == len(before)


def test_control_api_is_separate_from_vendor_paths(sandbox: Sandbox) -> None:
    session = http(sandbox)
    base = sandbox.salesforce.base_url
    grant = token(sandbox)
    hidden = session.get(f"{base}/services/data/v{VERSION}/__sandbox/stats",
                         headers={"Authorization": f"Bearer {grant['access_token']}"})
    assert hidden.status_code == 404 and hidden.json()[0]["errorCode"] == "NOT_FOUND"
    assert session.get(f"{base}/__sandbox/clock").json()["now"].startswith("2026-")
    unknown = session.post(f"{base}/__sandbox/faults", json={"kind": "meteor"})
    assert unknown.status_code == 400
    assert session.post(f"{base}/__sandbox/records/Widget", json={"fields": {}}).status_code == 404
    stats = sandbox.salesforce.control.stats()
    assert not any(path.startswith("/__sandbox") for path in stats["by_path"])


def test_deep_pages_cost_no_more_than_the_first(sandbox: Sandbox) -> None:
    control = sandbox.salesforce.control
    control.bulk("Account", create=60_000)
    sf = client(sandbox)
    started = time.perf_counter()
    page = sf.query("SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
    first_page = time.perf_counter() - started
    assert page["totalSize"] >= 60_000
    locator = page["nextRecordsUrl"].rsplit("-", 1)[0]
    started = time.perf_counter()
    deep = sf.query_more(f"{locator}-58000", identifier_is_url=True)
    deep_page = time.perf_counter() - started
    assert len(deep["records"]) == 2000
    assert deep_page < max(first_page, 0.5)


def test_descriptor_lets_other_processes_find_the_sandbox(sandbox: Sandbox) -> None:
    descriptor = read_descriptor(sandbox.directory.parent)
    assert descriptor["ca_path"] == str(sandbox.ca_path) and Path(descriptor["ca_path"]).exists()
    for name, endpoint in sandbox.vendors.items():
        assert descriptor["vendors"][name]["base_url"] == endpoint.base_url
        assert descriptor["vendors"][name]["credentials"] == endpoint.credentials
    assert Path(sandbox.salesforce.credentials["private_key_path"]).exists()


def test_query_timeout_can_be_injected(sandbox: Sandbox) -> None:
    sandbox.salesforce.control.add_fault("error", status=400, path="/queryAll")
    sf = client(sandbox)
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query("SELECT Id FROM User LIMIT 1", include_deleted=True)
    assert failure.value.content == [
        {"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}
    ]
