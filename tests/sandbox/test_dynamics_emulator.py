"""The Dynamics 365 (Dataverse) emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
API = "/api/data/v9.2"
FORMATTED = "OData.Community.Display.V1.FormattedValue"


class Dataverse:
    """A minimal Web API client: client-credentials token, the sandbox CA, ``Prefer`` per call."""

    def __init__(self, sandbox: Sandbox) -> None:
        endpoint = sandbox.vendors["dynamics"]
        self.base, self.credentials = endpoint.base_url, endpoint.credentials
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False
        self.token = self.request_token().json()["access_token"]

    def request_token(self, **changes: str) -> requests.Response:
        form = {"client_id": self.credentials["client_id"], "client_secret": self.credentials["client_secret"],
                "grant_type": "client_credentials", "scope": f"{self.base}/.default"}
        tenant = changes.pop("tenant", self.credentials["tenant_id"])
        return self.session.post(f"{self.base}/{tenant}/oauth2/v2.0/token", data={**form, **changes})

    def get(self, url: str, prefer: str | None = None, token: str | None = None, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}", "OData-Version": "4.0"}
        if prefer:
            headers["Prefer"] = prefer
        return self.session.get(url if url.startswith("https:") else f"{self.base}{API}/{url}", params=params or None,
                                headers=headers)

    def body(self, url: str, prefer: str | None = None, **params: Any) -> dict[str, Any]:
        response = self.get(url, prefer, **params)
        assert response.status_code == 200, response.text
        return exact_json.loads(response.content)

    def walk(self, url: str, prefer: str, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every row along ``@odata.nextLink`` (followed unchanged), and the last page."""
        body = self.body(url, prefer, **params)
        rows = list(body["value"])
        while "@odata.nextLink" in body:
            body = self.body(body["@odata.nextLink"], prefer)
            rows += body["value"]
        return rows, body


@pytest.fixture
def dv(sandbox: Sandbox) -> Dataverse:
    return Dataverse(sandbox)


@pytest.fixture
def control(sandbox: Sandbox) -> Any:
    return sandbox.vendors["dynamics"].control


def odata_code(response: requests.Response) -> str:
    return str(response.json()["error"]["code"])


def test_openid_configuration_and_token_errors_as_entra_id(dv: Dataverse) -> None:
    tenant = dv.credentials["tenant_id"]
    config = dv.session.get(f"{dv.base}/{tenant}/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{dv.base}/{tenant}/oauth2/v2.0/token"
    assert config["issuer"] == f"{dv.base}/{tenant}/v2.0" and config["authorization_endpoint"]
    token = dv.request_token().json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3599 and "refresh_token" not in token
    refusals = {
        "secret": (dv.request_token(client_secret="wrong"), 401, "invalid_client", 7000215),
        "tenant": (dv.request_token(tenant="00000000-0000-0000-0000-000000000000"), 400, "invalid_request", 90002),
        "client": (dv.request_token(client_id="nobody"), 400, "unauthorized_client", 700016),
        "grant": (dv.request_token(grant_type="password"), 400, "unsupported_grant_type", 70003),
        "scope": (dv.request_token(scope="https://elsewhere.crm4.dynamics.com/.default"), 400, "invalid_scope", 1002012),
    }
    for name, (response, status, error, code) in refusals.items():
        body = response.json()
        assert (response.status_code, body["error"], body["error_codes"]) == (status, error, [code]), name
        assert body["error_description"].startswith(f"AADSTS{code}:"), name


def test_bearer_missing_wrong_or_expired_is_401_with_the_authority(dv: Dataverse, control: Any) -> None:
    assert dv.get("accounts").status_code == 200
    for token in ("nope", ""):
        response = dv.session.get(f"{dv.base}{API}/accounts", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401 and response.content == b""
        assert f"authorization_uri={dv.base}/{dv.credentials['tenant_id']}/" in response.headers["WWW-Authenticate"]
    control.config(token_expires_in=0)
    short = dv.request_token().json()
    assert short["expires_in"] == 0
    expired = dv.get("accounts", token=short["access_token"])
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    control.add_fault(kind="expire_tokens")
    assert dv.get("accounts").status_code == 401


def test_service_document_entity_definitions_and_unknown_set(dv: Dataverse) -> None:
    names = {s["name"] for s in dv.body("")["value"]}
    assert {"accounts", "contacts", "opportunities", "opportunityproducts", "products", "systemusers",
            "transactioncurrencies"} <= names
    tracked = dv.body("EntityDefinitions", **{"$select": "LogicalName,EntitySetName,ChangeTrackingEnabled",
                                              "$filter": "ChangeTrackingEnabled eq true"})["value"]
    assert {d["EntitySetName"] for d in tracked} == names - {"transactioncurrencies", "EntityDefinitions"}
    assert all(d["ChangeTrackingEnabled"] is True and "LogicalName" in d for d in tracked)
    missing = dv.get("invoices")
    assert missing.status_code == 404 and missing.json() == {"error": {
        "code": "0x8006088a", "message": "Resource not found for the segment 'invoices'."}}


def test_paging_follows_signed_next_links_and_refuses_changes(dv: Dataverse, control: Any) -> None:
    control.bulk("contacts", create=40)
    total = len(control.records("contacts"))
    first = dv.get("contacts", "odata.maxpagesize=25", **{"$select": "fullname", "$count": "true"})
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=25"
    body = first.json()
    assert body["@odata.count"] == total and len(body["value"]) == 25
    assert body["@odata.context"].endswith("$metadata#contacts(contactid,fullname)")
    assert set(body["value"][0]) == {"@odata.etag", "contactid", "fullname"}
    rows, last = dv.walk("contacts", "odata.maxpagesize=25", **{"$select": "fullname"})
    ids = [r["contactid"] for r in rows]
    assert len(ids) == len(set(ids)) == total and ids == sorted(ids) and "@odata.nextLink" not in last
    link = body["@odata.nextLink"]
    token = parse_qs(urlsplit(link).query)["$skiptoken"][0]
    assert token.startswith('<cookie pagenumber="2" pagingcookie="')
    tampered = link.replace(quote('pagenumber="2"', safe=""), quote('pagenumber="3"', safe=""))
    assert tampered != link and dv.get(tampered, "odata.maxpagesize=25").status_code == 400
    forged = token.replace(token[45], "A" if token[45] != "A" else "B")
    assert dv.get("contacts", "odata.maxpagesize=25", **{"$select": "fullname", "$skiptoken": forged}).status_code == 400
    other_query = dv.get("contacts", "odata.maxpagesize=25", **{"$select": "lastname", "$skiptoken": token})
    assert other_query.status_code == 400 and odata_code(other_query) == "0x80040203"
    assert dv.get("contacts", "odata.maxpagesize=9000").headers["Preference-Applied"] == "odata.maxpagesize=5000"


def test_skip_is_refused_and_top_ignored_with_maxpagesize(dv: Dataverse) -> None:
    response = dv.get("accounts", **{"$skip": "10"})
    assert response.status_code == 400 and odata_code(response) == "0x80060888"
    assert len(dv.body("accounts", **{"$top": "3"})["value"]) == 3
    assert len(dv.body("accounts", "odata.maxpagesize=5", **{"$top": "3"})["value"]) == 5


def test_filter_and_orderby_on_modifiedon_with_the_key(dv: Dataverse, control: Any) -> None:
    control.set_clock(DAY)
    touched = control.bulk("accounts", touch=7)["touched_ids"]
    window = {"$filter": "modifiedon ge 2026-03-02T09:00:00Z and modifiedon lt 2026-03-02T09:00:01Z",
              "$orderby": "modifiedon asc,accountid asc", "$select": "name,modifiedon"}
    rows, _ = dv.walk("accounts", "odata.maxpagesize=2", **window)
    assert [r["accountid"] for r in rows] == sorted(touched)
    assert {r["modifiedon"] for r in rows} == {"2026-03-02T09:00:00Z"}
    later = dv.body("accounts", **{"$filter": "modifiedon gt 2026-03-02T09:00:00Z"})["value"]
    assert later == []
    desc = dv.body("accounts", **{"$orderby": "modifiedon desc,accountid asc", "$select": "modifiedon"})["value"]
    assert [r["modifiedon"] for r in desc] == sorted((r["modifiedon"] for r in desc), reverse=True)
    assert dv.get("accounts", **{"$filter": "nosuchcolumn eq 1"}).status_code == 400
    assert dv.get("accounts", **{"$filter": "modifiedon ge 2026-03-01T00:00:00Z or name eq 'x'"}).status_code == 400
    # Without the key in $orderby, rows tied with a page's last row are lost, as the vendor documents.
    unkeyed, _ = dv.walk("accounts", "odata.maxpagesize=2", **{**window, "$orderby": "modifiedon asc"})
    assert len(unkeyed) == 2


def test_incremental_listings_from_the_index_equal_the_row_by_row_answer(dv: Dataverse, control: Any) -> None:
    """A ``modifiedon`` window ordered by (modifiedon, key) is read from the store's index; the same query
    with a condition the index cannot serve (an id no row has) is filtered and sorted row by row. Both
    answer the same rows in the same order, page by page, ties on ``modifiedon`` included."""
    control.set_clock(DAY)
    control.bulk("accounts", create=25)
    control.bulk("accounts", touch=9)
    ordered = {"$orderby": "modifiedon asc,accountid asc", "$select": "name,modifiedon"}
    nobody = "accountid ne 00000000-0000-0000-0000-000000000000"
    for window in ("modifiedon lt 2026-03-02T09:00:01Z", "modifiedon ge 2026-03-02T09:00:00Z",
                   "modifiedon gt 2026-01-01T00:00:00Z and modifiedon le 2026-03-02T09:00:00Z"):
        indexed, _ = dv.walk("accounts", "odata.maxpagesize=4", **ordered, **{"$filter": window})
        scanned, _ = dv.walk("accounts", "odata.maxpagesize=4", **ordered, **{"$filter": f"{window} and {nobody}"})
        assert indexed == scanned and len(indexed) >= 25, window
    everything, _ = dv.walk("accounts", "odata.maxpagesize=7", **ordered)
    assert len(everything) == len(control.records("accounts"))
    assert [(r["modifiedon"], r["accountid"]) for r in everything] == sorted(
        (r["modifiedon"], r["accountid"]) for r in everything)


def test_change_tracking_baseline_then_delta_updates_then_deletes(dv: Dataverse, control: Any) -> None:
    prefer = "odata.track-changes,odata.maxpagesize=10"
    rows, last = dv.walk("opportunities", prefer, **{"$select": "name,statecode"})
    assert len(rows) == len(control.records("opportunities"))
    delta = last["@odata.deltaLink"]
    assert "$deltatoken=" in delta and "$select=name,statecode" in delta
    control.set_clock(DAY)
    opportunities = control.records("opportunities")
    control.update("opportunities", opportunities[2]["opportunityid"], {"statecode": 1, "statuscode": 3})
    gone = opportunities[0]["opportunityid"]
    lines = [p["opportunityproductid"] for p in control.records("opportunityproducts")
             if p["_opportunityid_value"] == gone]
    control.delete("opportunities", gone)
    created = control.create("opportunities", {"name": "Nouvelle affaire", "estimatedvalue": 1200})["id"]
    assert dv.get(delta.replace("/opportunities?", "/opportunities/$count?")).text == "3"
    changes = dv.body(delta, prefer)
    assert changes["@odata.context"].endswith("/$delta")
    assert [r.get("opportunityid") for r in changes["value"][:2]] == [opportunities[2]["opportunityid"], created]
    assert changes["value"][0]["statecode"] == 1
    assert changes["value"][2] == {"@odata.context": f"{dv.base}{API}/$metadata#opportunities/$deletedEntity",
                                   "id": gone, "reason": "deleted"}
    assert len(changes["value"]) == 3
    line_delta = dv.body("opportunityproducts", prefer)
    while "@odata.nextLink" in line_delta:
        line_delta = dv.body(line_delta["@odata.nextLink"], prefer)
    assert dv.body(line_delta["@odata.deltaLink"], prefer)["value"] == []
    assert dv.body(changes["@odata.deltaLink"], prefer)["value"] == []
    assert lines and not {p["opportunityproductid"] for p in control.records("opportunityproducts")} & set(lines)


def test_baseline_pages_follow_the_key_through_writes_between_pages(dv: Dataverse, control: Any) -> None:
    """A baseline lists every row once, by primary key, even when rows are created and deleted between its
    pages: each page resumes after the previous page's last key in the table as it is now."""
    prefer = "odata.track-changes,odata.maxpagesize=10"
    before = sorted(r["accountid"] for r in control.records("accounts"))
    body = dv.body("accounts", prefer, **{"$select": "accountid"})
    seen = [r["accountid"] for r in body["value"]]
    created = control.create("accounts", {"name": "Arrivée en cours de lecture"})["id"]
    control.delete("accounts", before[-1])
    while "@odata.nextLink" in body:
        body = dv.body(body["@odata.nextLink"], prefer)
        seen += [r["accountid"] for r in body["value"]]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    expected = sorted({*before[:-1], created})
    assert [i for i in seen if i > seen[9]] == [i for i in expected if i > seen[9]]
    assert "@odata.deltaLink" in body


def test_delta_pages_by_version_and_counts(dv: Dataverse, control: Any) -> None:
    prefer = "odata.track-changes,odata.maxpagesize=10"
    _, last = dv.walk("contacts", prefer, **{"$select": "fullname,modifiedon"})
    control.set_clock(DAY)
    touched = control.bulk("contacts", touch=23)["touched_ids"]
    control.delete("contacts", touched[0])
    counted = dv.body(last["@odata.deltaLink"], prefer, **{"$count": "true"})
    assert counted["@odata.count"] == 23 and len(counted["value"]) == 10
    changes, end = dv.walk(last["@odata.deltaLink"], prefer)
    assert sorted(r["contactid"] for r in changes[:-1]) == sorted(touched[1:])
    assert changes[-1]["id"] == touched[0] and changes[-1]["reason"] == "deleted"
    versions = [int(r["@odata.etag"][3:-1]) for r in changes[:-1]]
    assert versions == sorted(versions) and {r["modifiedon"] for r in changes[:-1]} == {"2026-03-02T09:00:00Z"}
    assert dv.get(end["@odata.deltaLink"].replace("/contacts?", "/contacts/$count?")).text == "0"


def test_track_changes_refuses_filter_orderby_expand_top(dv: Dataverse, control: Any) -> None:
    for option, value in (("$filter", "modifiedon ge 2026-01-01T00:00:00Z"), ("$orderby", "modifiedon asc"),
                          ("$expand", "primarycontactid"), ("$top", "5")):
        response = dv.get("accounts", "odata.track-changes", **{option: value})
        assert response.status_code == 400
        assert response.json() == {"error": {"code": "0x80060888", "message": f'The "{option}" query parameter '
                                                                              "isn't supported when Change Tracking "
                                                                              "is enabled."}}
    assert dv.get("transactioncurrencies", "odata.track-changes").status_code == 400


def test_expired_delta_tokens_are_refused(dv: Dataverse, control: Any) -> None:
    _, last = dv.walk("accounts", "odata.track-changes", **{"$select": "name"})
    control.advance(6 * 86_400)
    assert dv.get(last["@odata.deltaLink"]).status_code == 200
    control.advance(2 * 86_400)
    expired = dv.get(last["@odata.deltaLink"])
    assert expired.status_code == 400 and odata_code(expired) == "0x80044352"
    token = parse_qs(urlsplit(last["@odata.deltaLink"]).query)["$deltatoken"][0]
    assert token in expired.json()["error"]["message"]
    _, fresh = dv.walk("accounts", "odata.track-changes", **{"$select": "name"})
    assert dv.get(fresh["@odata.deltaLink"]).status_code == 200
    control.command("delta_tokens/expire")
    assert odata_code(dv.get(fresh["@odata.deltaLink"])) == "0x80044352"
    control.config(expire_change_tracking_days=90)
    assert dv.get(last["@odata.deltaLink"]).status_code == 400  # expired by the command too


def test_service_protection_limits_answer_429_with_retry_after(dv: Dataverse, control: Any) -> None:
    for knob, code in (("request_limit", "0x80072322"), ("execution_time_limit_ms", "0x80072321"),
                       ("concurrency_limit", "0x80072326")):
        limits = control.config(**{knob: 0})
        response = dv.get("accounts")
        assert response.status_code == 429 and odata_code(response) == code, knob
        assert int(response.headers["Retry-After"]) >= 1
        control.config(**{knob: {"request_limit": 6000, "execution_time_limit_ms": 1_200_000,
                                 "concurrency_limit": 52}[knob]})
    assert limits["window_seconds"] == 300
    assert dv.get("accounts").headers["x-ms-ratelimit-burst-remaining-xrm-requests"]
    control.add_fault(kind="rate_limit", times=2, retry_after=3, path="/accounts")
    throttled = dv.get("accounts")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.json() == {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit "
                                                                           "of 6000 over time window of 300 seconds."}}
    assert dv.get("accounts").status_code == 429 and dv.get("accounts").status_code == 200
    control.add_fault(kind="error", status=503, after=1, path="/contacts")
    first = dv.body("contacts", "odata.maxpagesize=10")
    assert dv.get(first["@odata.nextLink"], "odata.maxpagesize=10").status_code == 503
    assert dv.get(first["@odata.nextLink"], "odata.maxpagesize=10").status_code == 200


def test_formatted_values_in_french_when_asked(dv: Dataverse, control: Any) -> None:
    plain = dv.body("opportunities", **{"$filter": "statecode eq 1"})["value"][0]
    assert not [k for k in plain if "@" in k and k != "@odata.etag"]
    prefer = f'odata.include-annotations="{FORMATTED}"'
    response = dv.get("opportunities", prefer, **{"$filter": "statecode eq 1"})
    assert f'odata.include-annotations="{FORMATTED}"' in response.headers["Preference-Applied"]
    won = exact_json.loads(response.content)["value"][0]
    assert won[f"statecode@{FORMATTED}"] == "Gagné" and won[f"statuscode@{FORMATTED}"] == "Gagné"
    assert won["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    account = control.record("accounts", won["_customerid_value"])
    assert won[f"_customerid_value@{FORMATTED}"] == account["name"]
    everything = dv.body("opportunities", 'odata.include-annotations="*"', **{"$filter": "statecode eq 0"})["value"]
    assert {o[f"statecode@{FORMATTED}"] for o in everything} == {"Ouvert"}
    control.set_clock(DAY)
    big = control.create("opportunities", {"name": "Grosse affaire", "estimatedvalue": "12500"})["id"]
    row = dv.body("opportunities", prefer, **{"$filter": f"opportunityid eq {big}"})["value"][0]
    assert row[f"estimatedvalue@{FORMATTED}"] == "12 500,00 €"
    lost = dv.body("opportunities", prefer, **{"$filter": "statecode eq 2"})["value"]
    assert lost and {o[f"statecode@{FORMATTED}"] for o in lost} == {"Perdu"}


def test_decimals_are_served_exactly(dv: Dataverse, control: Any) -> None:
    response = dv.get("opportunityproducts", **{"$select": "quantity,priceperunit,baseamount,extendedamount"})
    text = response.text
    row = exact_json.loads(response.content)["value"][0]
    assert isinstance(row["priceperunit"], Decimal) and row["priceperunit"].as_tuple().exponent == -4
    assert isinstance(row["quantity"], Decimal) and row["quantity"].as_tuple().exponent == -5
    assert f'"priceperunit":{row["priceperunit"]}' in text
    opportunity = control.records("opportunities")[0]["opportunityid"]
    line = control.create("opportunityproducts", {"_opportunityid_value": opportunity, "quantity": "3",
                                                  "priceperunit": "99999999999.99", "tax": "0.07"})["id"]
    served = dv.get("opportunityproducts", **{"$filter": f"opportunityproductid eq {line}"})
    assert '"priceperunit":99999999999.9900' in served.text and '"baseamount":299999999999.9700' in served.text
    assert '"extendedamount":300000000000.0400' in served.text
    rates = dv.body("transactioncurrencies", **{"$select": "isocurrencycode,exchangerate"})["value"]
    assert {r["isocurrencycode"]: str(r["exchangerate"]) for r in rates}["USD"] == "1.0800000000"
    currencies = {r["transactioncurrencyid"]: r["isocurrencycode"] for r in control.records("transactioncurrencies")}
    used = {currencies[o["_transactioncurrencyid_value"]] for o in control.records("opportunities")}
    assert {"EUR", "USD", "GBP"} <= used


def test_accounts_share_identifiers_with_the_other_crms(sandbox: Sandbox) -> None:
    accounts = sandbox.vendors["dynamics"].control.records("accounts")
    sf = {a["SIREN__c"]: a for a in sandbox.vendors["salesforce"].control.records("Account") if a["SIREN__c"]}
    shared = [a for a in accounts if a["pa_siren"] in sf]
    assert len(shared) >= 3
    assert all((a["pa_siret"], a["pa_vatnumber"]) == (sf[a["pa_siren"]]["SIRET__c"], sf[a["pa_siren"]]["VAT_Number__c"])
               for a in shared)
    assert all(a["name"] != sf[a["pa_siren"]]["Name"] for a in shared)  # each CRM names the firm its own way
