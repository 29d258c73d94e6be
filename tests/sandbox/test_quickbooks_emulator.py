"""The QuickBooks Online emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.quickbooks_scenario import apply_quickbooks_day_changes
from passerelle_sandbox.server import Sandbox
from tests.fixtures.sandbox import single_vendor_sandbox

qbo_sandbox = single_vendor_sandbox("quickbooks", "qbo_sandbox")
DAY = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Qbo:
    """A minimal QuickBooks client: the refresh-token grant, then the v3 API of the sandbox company."""

    def __init__(self, sandbox: Sandbox) -> None:
        endpoint = sandbox.vendors["quickbooks"]
        self.base, self.credentials = endpoint.base_url, endpoint.credentials
        self.api = f"{self.base}/v3/company/{self.credentials['realm_id']}"
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False
        self.refresh_token = self.credentials["refresh_token"]
        token = self.refresh()
        assert token.status_code == 200, token.text
        self.access = token.json()["access_token"]

    def refresh(self, refresh_token: str | None = None, secret: str | None = None, **form: str) -> requests.Response:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token or self.refresh_token, **form}
        response = self.session.post(f"{self.base}/oauth2/v1/tokens/bearer", data=data,
                                     auth=(self.credentials["client_id"], secret or self.credentials["client_secret"]))
        if response.status_code == 200 and refresh_token is None:
            self.refresh_token = response.json()["refresh_token"]
        return response

    def get(self, path: str, token: str | None = None, **params: Any) -> requests.Response:
        return self.session.get(f"{self.api}/{path}", params={"minorversion": "75", **params},
                                headers={"Authorization": f"Bearer {token or self.access}", "Accept": "application/json"})

    def query(self, text: str, post: bool = False) -> dict[str, Any]:
        if post:
            response = self.session.post(f"{self.api}/query", data=text.encode(), params={"minorversion": "75"},
                                         headers={"Authorization": f"Bearer {self.access}",
                                                  "Content-Type": "application/text"})
        else:
            response = self.get("query", query=text)
        assert response.status_code == 200, response.text
        return exact_json.loads(response.content)

    def walk(self, entity: str, where: str = "", size: int = 10) -> list[dict[str, Any]]:
        rows, start = [], 1
        while True:
            page = self.query(f"SELECT * FROM {entity} {where} STARTPOSITION {start} MAXRESULTS {size}")["QueryResponse"]
            rows += page.get(entity, [])
            if len(page.get(entity, [])) < size:
                return rows
            assert page["startPosition"] == start and page["maxResults"] == size
            start += size


@pytest.fixture
def control(qbo_sandbox: Sandbox) -> Any:
    control = qbo_sandbox.vendors["quickbooks"].control
    control.reset()
    return control


@pytest.fixture
def qbo(qbo_sandbox: Sandbox, control: Any) -> Qbo:
    return Qbo(qbo_sandbox)


def fault_of(body: dict[str, Any]) -> tuple[str, str]:
    error = body["Fault"]["Error"][0]
    return body["Fault"]["type"], error["code"]


def test_refresh_tokens_rotate_with_a_day_of_grace_then_invalid_grant(qbo: Qbo, control: Any) -> None:
    first = qbo.credentials["refresh_token"]
    second = qbo.refresh_token
    assert second != first and second.startswith("AB11") and len(second) == 50
    token = qbo.refresh().json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 3600
    assert token["x_refresh_token_expires_in"] == 8_726_400 and token["refresh_token"] != second
    third = token["refresh_token"]
    control.advance(23 * 3600)
    assert qbo.refresh(first).status_code == 200  # superseded less than 24 h ago
    control.advance(2 * 3600)
    for stale in (first, second):
        refused = qbo.refresh(stale)
        assert (refused.status_code, refused.json()) == (400, {"error": "invalid_grant"})
        assert refused.headers["intuit_tid"]
    assert qbo.refresh(third).status_code == 200
    unused = qbo.refresh().json()["refresh_token"]
    control.advance(8_726_400)
    assert qbo.refresh(unused).json() == {"error": "invalid_grant"}  # unused for 101 days
    assert qbo.refresh(secret="wrong").status_code == 401
    assert qbo.refresh(grant_type="client_credentials").json() == {"error": "unsupported_grant_type"}
    control.reset()  # the published token starts a chain again
    assert qbo.refresh(first).status_code == 200


def test_bearer_missing_unknown_or_expired_is_the_401_fault(qbo: Qbo, control: Any) -> None:
    assert qbo.get("companyinfo/" + qbo.credentials["realm_id"]).status_code == 200
    control.config(access_token_expires_in=0)
    expired = qbo.refresh().json()["access_token"]
    for token in ("nope", expired):
        response = qbo.get("query", token=token, query="SELECT * FROM Customer")
        body = response.json()
        assert response.status_code == 401 and response.headers["intuit_tid"]
        assert body["Fault"] == {"Error": [{"Message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                            "code": "3200"}], "type": "AUTHENTICATION"}
        assert body["time"].endswith("+01:00")
    elsewhere = qbo.session.get(f"{qbo.base}/v3/company/1234/query", params={"query": "SELECT * FROM Item"},
                                headers={"Authorization": f"Bearer {qbo.access}"})
    assert elsewhere.status_code == 403 and fault_of(elsewhere.json())[1] == "003100"


def test_query_pages_and_hides_inactive_names_unless_asked(qbo: Qbo, control: Any) -> None:
    customers = control.records("Customer")
    active = {c["Id"] for c in customers if c["Active"]}
    assert len(active) < len(customers)
    assert {c["Id"] for c in qbo.walk("Customer")} == active
    everyone = qbo.walk("Customer", "WHERE Active IN (true, false)")
    assert len(everyone) == len({c["Id"] for c in everyone}) == len(customers)
    inactive = qbo.query("select * from customer where Active = false")["QueryResponse"]["Customer"]
    assert {c["Id"] for c in inactive} == {c["Id"] for c in customers} - active
    assert all(c["DisplayName"].endswith(" (deleted)") and not c["Active"] for c in inactive)
    count = qbo.query("SELECT COUNT(*) FROM Invoice", post=True)["QueryResponse"]
    assert count == {"totalCount": len(control.records("Invoice"))}
    past_the_end = qbo.query(f"SELECT * FROM Invoice STARTPOSITION {count['totalCount'] + 1} MAXRESULTS 10")
    assert past_the_end["QueryResponse"] == {}
    control.bulk("TimeActivity", create=900)
    capped = qbo.query("SELECT * FROM TimeActivity MAXRESULTS 5000")["QueryResponse"]
    assert capped["maxResults"] == len(capped["TimeActivity"]) == 1000
    assert len(qbo.query("SELECT * FROM TimeActivity")["QueryResponse"]["TimeActivity"]) == 100


def test_incremental_window_in_any_offset_ordered_and_rendered_in_the_company_offset(qbo: Qbo, control: Any) -> None:
    control.set_clock(DAY)
    invoice = control.records("Invoice")[3]
    control.update("Invoice", invoice["Id"], {"PrivateNote": "Relancé"})
    customer = control.create("Customer", {"DisplayName": "Nouvelle Société SAS"})["id"]
    window = ("WHERE Metadata.LastUpdatedTime >= '2026-03-02T01:00:00-08:00' "
              "AND Metadata.LastUpdatedTime < '2026-03-02T10:00:01+01:00'")
    rows = qbo.query(f"SELECT * FROM Invoice {window} ORDERBY Metadata.LastUpdatedTime, Id")["QueryResponse"]["Invoice"]
    assert [r["Id"] for r in rows] == [invoice["Id"]]
    assert rows[0]["MetaData"]["LastUpdatedTime"] == "2026-03-02T10:00:00+01:00" and rows[0]["SyncToken"] == "1"
    assert qbo.query(f"SELECT * FROM Customer {window}")["QueryResponse"]["Customer"][0]["Id"] == customer
    newest = qbo.query("SELECT * FROM Invoice ORDERBY Metadata.LastUpdatedTime DESC MAXRESULTS 1")
    assert newest["QueryResponse"]["Invoice"][0]["Id"] == invoice["Id"]


@pytest.mark.parametrize("text", [
    "SELEC * FROM Invoice", "SELECT * FROM Invoices", "SELECT * FROM Invoice WHERE",
    "SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'", "SELECT * FROM Invoice MAXRESULTS ten",
    "SELECT * FROM Invoice WHERE Unknown = 'x'", "SELECT * FROM Invoice STARTPOSITION 0",
    "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= 'yesterday'", "",
])
def test_the_parser_refuses_with_a_validation_fault_in_http_200(qbo: Qbo, text: str) -> None:
    for post in (False, True):
        body = qbo.query(text, post=post)
        assert "QueryResponse" not in body and body["time"]
        kind, code = fault_of(body)
        assert kind == "ValidationFault" and code in ("4000", "4001"), body


def test_cdc_look_back_shared_cap_deleted_last_and_no_time_activity(qbo: Qbo, control: Any) -> None:
    control.set_clock(DAY)
    invoice = control.records("Invoice")[0]
    paid = control.create("Payment", {"CustomerRef": invoice["CustomerRef"]["value"], "Line": [
        {"Amount": "10.00", "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})["id"]
    control.delete("Payment", paid)
    since = (DAY - timedelta(days=20)).isoformat()

    def cdc(**params: str) -> dict[str, Any]:
        response = qbo.get("cdc", **params)
        assert response.status_code == 200, response.text
        return exact_json.loads(response.content)

    answers = cdc(entities="Invoice,Payment,Customer", changedSince=since)["CDCResponse"][0]["QueryResponse"]
    by_entity = {next(k for k in a if k not in ("startPosition", "maxResults")): a for a in answers if a}
    payments = by_entity["Payment"]["Payment"]
    assert payments[-1] == {"status": "Deleted", "domain": "QBO", "Id": paid,
                            "MetaData": {"LastUpdatedTime": "2026-03-02T10:00:00+01:00"}}
    assert all("status" not in p for p in payments[:-2])
    assert invoice["Id"] in {i["Id"] for i in by_entity["Invoice"]["Invoice"]}  # its balance moved twice
    total = sum(len(a[k]) for k, a in by_entity.items())
    control.config(cdc_max_objects=total - 2)
    capped = cdc(entities="Invoice,Payment,Customer", changedSince=since, STARTPOSITION="50")
    kept = [o for a in capped["CDCResponse"][0]["QueryResponse"] for k, v in a.items() if isinstance(v, list) for o in v]
    assert len(kept) == total - 2 and not any("status" in o for o in kept)  # deleted ones go first
    too_old = cdc(entities="Invoice", changedSince=(DAY - timedelta(days=31)).isoformat())
    assert fault_of(too_old)[0] == "ValidationFault"
    refused = cdc(entities="Invoice,TimeActivity", changedSince=since)
    assert fault_of(refused)[0] == "ValidationFault" and "TimeActivity" in refused["Fault"]["Error"][0]["Detail"]


def test_more_than_the_minute_budget_is_429_without_retry_after(qbo: Qbo, control: Any) -> None:
    control.config(requests_per_minute=3)
    statuses = [qbo.get("query", query="SELECT * FROM Item").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = qbo.get("query", query="SELECT * FROM Item")
    assert throttled.json() == {"Fault": {"Error": [{
        "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429", "code": "003001"}], "type": "SERVICE"}}
    assert "Retry-After" not in throttled.headers and throttled.headers["intuit_tid"]
    assert qbo.refresh().status_code == 200  # the token endpoint is not counted
    control.config(enforce_rate_limits=False)
    assert qbo.get("query", query="SELECT * FROM Item").status_code == 200


def test_amounts_are_exact_and_payments_settle_invoices(qbo: Qbo, control: Any) -> None:
    invoices = qbo.walk("Invoice", size=200)
    for invoice in invoices:
        sales = [line["Amount"] for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]
        assert invoice["TotalAmt"] == sum(sales) + invoice["TxnTaxDetail"]["TotalTax"]
        assert invoice["TotalAmt"].as_tuple().exponent == -2 and invoice["CurrencyRef"]["value"] == "EUR"
    payments = qbo.walk("Payment", size=200)
    assert any(p["UnappliedAmt"] > 0 and p["Line"] for p in payments)  # paid too much
    assert any(not p["Line"] for p in payments)  # names an invoice QuickBooks does not have
    assert any(len(p["Line"]) == 2 and {t["TxnType"] for line in p["Line"] for t in line["LinkedTxn"]} == {"Invoice"}
               for p in payments)
    assert any(t["TxnType"] == "CreditMemo" for p in payments for line in p["Line"] for t in line["LinkedTxn"])
    assert all(i["DocNumber"][:2] == "MS" for i in invoices if i["DocNumber"] != "1042")
    open_invoice = next(i for i in invoices if i["Balance"] == i["TotalAmt"] > Decimal("100"))
    control.set_clock(DAY)
    control.create("Payment", {"CustomerRef": open_invoice["CustomerRef"]["value"], "TotalAmt": "100.10", "Line": [
        {"Amount": "100.10", "LinkedTxn": [{"TxnId": open_invoice["Id"], "TxnType": "Invoice"}]}]})
    read = exact_json.loads(qbo.get(f"invoice/{open_invoice['Id']}").content)["Invoice"]
    assert read["Balance"] == open_invoice["TotalAmt"] - Decimal("100.10")
    assert read["MetaData"]["LastUpdatedTime"] == "2026-03-02T10:00:00+01:00" and read["LinkedTxn"][0]["TxnType"] == "Payment"
    assert b'"Balance":' + str(read["Balance"]).encode() in qbo.get(f"invoice/{open_invoice['Id']}").content


def test_read_one_minor_versions_and_name_lists_are_never_deleted(qbo: Qbo, control: Any) -> None:
    item = control.records("Item")[0]
    for minor in ("4", "75", "80"):
        assert exact_json.loads(qbo.get(f"item/{item['Id']}", minorversion=minor).content)["Item"]["Id"] == item["Id"]
    missing = qbo.get("invoice/999999")
    assert missing.status_code == 200 and fault_of(missing.json()) == ("ValidationFault", "610")
    with pytest.raises(Exception, match="inactive"):
        control.delete("Customer", control.records("Customer")[0]["Id"])
    renamed = control.update("Customer", control.records("Customer")[0]["Id"], {"Active": False})["record"]
    assert renamed["DisplayName"].endswith(" (deleted)") and renamed["SyncToken"] == "1"
    control.add_fault("error", status=503)
    unavailable = qbo.get(f"item/{item['Id']}")
    assert unavailable.status_code == 503 and fault_of(unavailable.json()) == ("SystemFault", "10000")
    assert unavailable.headers["intuit_tid"]


def test_a_scenario_day_pays_deletes_and_deactivates(qbo_sandbox: Sandbox, qbo: Qbo, control: Any) -> None:
    before = {entity: control.records(entity) for entity in ("Customer", "Payment", "TimeActivity")}
    counts = apply_quickbooks_day_changes(qbo_sandbox, 0, DAY)
    assert counts == {"created": 3, "updated": 3, "deleted": 2}
    customers = control.records("Customer")
    assert len(customers) == len(before["Customer"]) + 1
    assert sum(not c["Active"] for c in customers) == sum(not c["Active"] for c in before["Customer"]) + 1
    assert len(control.records("Payment")) == len(before["Payment"]) + 1
    assert len(control.records("TimeActivity")) == len(before["TimeActivity"]) - 1
    changes = exact_json.loads(qbo.get("cdc", entities="Payment,Invoice", changedSince=DAY.isoformat()).content)
    payments, invoices = (answer for answer in changes["CDCResponse"][0]["QueryResponse"])
    assert [p["status"] for p in payments["Payment"] if "status" in p] == ["Deleted"]
    assert len(invoices["Invoice"]) == 3  # paid in full, in part, and the one whose payment went
