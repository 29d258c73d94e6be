"""QuickBooks Online writes over HTTPS with requests: what the SDK does not send (sparse updates, Payment
voids, oversized batches, the batch rate) and the read-back of each write."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox
from tests.fixtures.sandbox import single_vendor_sandbox
from tests.sandbox.test_quickbooks_emulator import Qbo

qbo_writes_sandbox = single_vendor_sandbox("quickbooks", "qbo_writes_sandbox")


@pytest.fixture
def control(qbo_writes_sandbox: Sandbox) -> Any:
    control = qbo_writes_sandbox.vendors["quickbooks"].control
    control.reset()
    return control


@pytest.fixture
def qbo(qbo_writes_sandbox: Sandbox, control: Any) -> Qbo:
    return Qbo(qbo_writes_sandbox)


def post(qbo: Qbo, path: str, body: Any, **params: str) -> requests.Response:
    return qbo.session.post(f"{qbo.api}/{path}", data=exact_json.dumps(body), params={"minorversion": "75", **params},
                            headers={"Authorization": f"Bearer {qbo.access}", "Content-Type": "application/json",
                                     "Accept": "application/json"})


def error_of(response: requests.Response) -> tuple[int, str, str]:
    error = response.json()["Fault"]["Error"][0]
    return response.status_code, error["code"], error["Message"]


def test_sparse_update_keeps_the_rest_and_a_full_update_clears_it(qbo: Qbo, control: Any) -> None:
    created = post(qbo, "customer", {"DisplayName": "Clair Obscur SAS", "CompanyName": "Clair Obscur",
                                     "Notes": "client historique"}).json()["Customer"]
    assert created["SyncToken"] == "0" and created["Notes"] == "client historique"
    control.advance(60)
    sparse = post(qbo, "customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True,
                                    "CompanyName": "Clair Obscur Groupe"}, operation="update").json()["Customer"]
    assert sparse["SyncToken"] == "1" and sparse["Notes"] == "client historique"
    assert sparse["MetaData"]["LastUpdatedTime"] > created["MetaData"]["LastUpdatedTime"]
    assert sparse["MetaData"]["CreateTime"] == created["MetaData"]["CreateTime"]
    full = post(qbo, "customer", {"Id": created["Id"], "SyncToken": "1", "DisplayName": "Clair Obscur SAS"}).json()
    assert "Notes" not in full["Customer"] and "CompanyName" not in full["Customer"]
    assert error_of(post(qbo, "customer", {"Id": created["Id"], "SyncToken": "1", "sparse": True, "Notes": "x"})) == (
        400, "5010", "Stale Object Error")
    assert error_of(post(qbo, "customer", {"Id": created["Id"], "sparse": True, "Notes": "x"}))[:2] == (400, "2020")
    assert error_of(post(qbo, "customer", {"Id": "999999", "SyncToken": "0", "sparse": True}))[:2] == (400, "610")


def test_name_lists_are_deactivated_not_deleted(qbo: Qbo, control: Any) -> None:
    customer = next(c for c in control.records("Customer") if c["Active"])
    refused = post(qbo, "customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"]}, operation="delete")
    assert error_of(refused)[:2] == (400, "500")
    inactive = post(qbo, "customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True,
                                      "Active": False}).json()["Customer"]
    assert inactive["Active"] is False and inactive["DisplayName"].endswith(" (deleted)")


def test_a_voided_payment_frees_the_invoice_it_paid(qbo: Qbo, control: Any) -> None:
    payment = next(p for p in control.records("Payment")
                   if any(link["TxnType"] == "Invoice" for line in p["Line"] for link in line.get("LinkedTxn", [])))
    invoice_id = next(link["TxnId"] for line in payment["Line"] for link in line.get("LinkedTxn", [])
                      if link["TxnType"] == "Invoice")
    before = control.record("Invoice", invoice_id)
    voided = post(qbo, "payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True},
                  operation="update", include="void")
    assert voided.status_code == 200, voided.text
    body = exact_json.loads(voided.content)["Payment"]
    assert body["TotalAmt"] == Decimal("0.00") and body["PrivateNote"] == "Voided"
    after = control.record("Invoice", invoice_id)
    assert Decimal(str(after["Balance"])) > Decimal(str(before["Balance"]))
    assert int(after["SyncToken"]) == int(before["SyncToken"]) + 1


def test_a_batch_mixes_writes_queries_and_faults_in_http_200(qbo: Qbo, control: Any) -> None:
    taken = control.records("Customer")[0]["DisplayName"]
    answer = post(qbo, "batch", {"BatchItemRequest": [
        {"bId": "1", "operation": "create", "Customer": {"DisplayName": "Lot Un SARL"}},
        {"bId": "2", "operation": "create", "Customer": {"DisplayName": taken}},
        {"bId": "3", "Query": "SELECT * FROM Customer WHERE DisplayName = 'Lot Un SARL'"},
        {"bId": "4", "operation": "delete", "Invoice": {"Id": "999999", "SyncToken": "0"}},
    ]})
    assert answer.status_code == 200
    items = {item["bId"]: item for item in answer.json()["BatchItemResponse"]}
    assert items["1"]["Customer"]["SyncToken"] == "0"
    assert items["2"]["Fault"]["type"] == "ValidationFault" and items["2"]["Fault"]["Error"][0]["code"] == "6240"
    assert [c["Id"] for c in items["3"]["QueryResponse"]["Customer"]] == [items["1"]["Customer"]["Id"]]
    assert items["4"]["Fault"]["Error"][0]["code"] == "610"


def test_a_batch_takes_30_items_and_40_batches_a_minute(qbo: Qbo, control: Any) -> None:
    item = {"bId": "q", "Query": "SELECT COUNT(*) FROM Customer"}
    too_many = post(qbo, "batch", {"BatchItemRequest": [dict(item, bId=str(n)) for n in range(31)]})
    assert too_many.status_code == 400 and too_many.json()["Fault"]["type"] == "ValidationFault"
    assert post(qbo, "batch", {"BatchItemRequest": [dict(item, bId=str(n)) for n in range(30)]}).status_code == 200
    control.config(batch_requests_per_minute=4)  # the two batches above count
    statuses = [post(qbo, "batch", {"BatchItemRequest": [item]}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_unknown_entity_answers_the_unsupported_operation_fault(qbo: Qbo) -> None:
    response = post(qbo, "widget", {"Name": "x"})
    assert error_of(response) == (400, "500", "Unsupported Operation")
