"""Dataverse writes over HTTPS with requests: validation errors, lookups, deletes seen by change tracking,
``$batch`` change sets, ``CreateMultiple``/``UpdateMultiple`` and service protection on writes."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox
from tests.sandbox.test_dynamics_emulator import API, Dataverse, odata_code


@pytest.fixture
def dv(sandbox: Sandbox) -> Dataverse:
    return Dataverse(sandbox)


@pytest.fixture
def control(sandbox: Sandbox) -> Any:
    return sandbox.vendors["dynamics"].control


def send(dv: Dataverse, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
    return dv.session.request(method, f"{dv.base}{API}/{path}", data=None if body is None else exact_json.dumps(body),
                              headers={"Authorization": f"Bearer {dv.token}", "OData-Version": "4.0",
                                       "Content-Type": "application/json", **headers})


def created_id(response: requests.Response) -> str:
    assert response.status_code == 204, response.text
    return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def test_create_with_representation_exact_money_and_a_bound_lookup(dv: Dataverse, control: Any) -> None:
    account = control.records("accounts")[0]["accountid"]
    response = send(dv, "POST", "opportunities", {
        "name": "Refonte écrite", "estimatedvalue": Decimal("12500.1234"), "salesstage": 1,
        "customerid_account@odata.bind": f"/accounts({account})"}, Prefer="return=representation")
    assert response.status_code == 201
    body = exact_json.loads(response.content)
    assert body["estimatedvalue"] == Decimal("12500.1234") and body["_customerid_value"] == account
    assert body["@odata.context"].endswith("#opportunities/$entity") and body["modifiedon"].endswith("Z")
    assert response.headers["OData-EntityId"].endswith(f"opportunities({body['opportunityid']})")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"name": "x", "nonexistent": 1}, 400, "0x80060888"),
    ({"name": "x", "_parentaccountid_value": "00000000-0000-0000-0000-000000000001"}, 400, "0x80060888"),
    ({"name": "x", "customertypecode": 999}, 400, "0x8004431a"),
    ({"name": "x", "customertypecode": "3"}, 400, "0x80060888"),
    ({"name": "x", "parentaccountid@odata.bind": "/accounts(00000000-0000-0000-0000-000000000001)"}, 404, "0x80040217"),
])
def test_refused_bodies_write_nothing(dv: Dataverse, control: Any, body: dict[str, Any], status: int,
                                      code: str) -> None:
    before = len(control.records("accounts"))
    response = send(dv, "POST", "accounts", body)
    assert response.status_code == status and odata_code(response) == code
    assert set(response.json()) == {"error"} and response.json()["error"]["message"]
    assert len(control.records("accounts")) == before


def test_delete_reaches_the_delta_link_and_never_comes_back(dv: Dataverse, control: Any) -> None:
    delta = dv.body("contacts", "odata.track-changes", **{"$select": "fullname"})
    while "@odata.nextLink" in delta:
        delta = dv.body(delta["@odata.nextLink"], "odata.track-changes")
    contact = control.records("contacts")[0]["contactid"]
    assert send(dv, "DELETE", f"contacts({contact})").status_code == 204
    assert send(dv, "DELETE", f"contacts({contact})").status_code == 404
    assert send(dv, "PATCH", f"contacts({contact})", {"lastname": "Revenu"}, **{"If-Match": "*"}).status_code == 404
    changes = dv.body(delta["@odata.deltaLink"])
    assert changes["value"] == [{"@odata.context": changes["value"][0]["@odata.context"], "id": contact,
                                 "reason": "deleted"}]


def batch_body(boundary: str, parts: list[str]) -> bytes:
    return ("".join(f"--{boundary}\r\n{part}" for part in parts) + f"--{boundary}--\r\n").encode()


def http_part(method: str, url: str, body: Any = None, content_id: str | None = None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        head += f"Content-ID: {content_id}\r\n"
    request = f"{method} {url} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
    return head + "\r\n" + request + (json.dumps(body) if body is not None else "") + "\r\n"


def post_batch(dv: Dataverse, parts: list[str], **headers: str) -> requests.Response:
    return dv.session.post(f"{dv.base}{API}/$batch", data=batch_body("batch_AAA", parts), headers={
        "Authorization": f"Bearer {dv.token}", "Content-Type": "multipart/mixed; boundary=batch_AAA", **headers})


def statuses(response: requests.Response) -> list[int]:
    return [int(s) for s in re.findall(r"HTTP/1\.1 (\d{3})", response.text)]


def test_batch_change_set_is_one_transaction(dv: Dataverse, control: Any) -> None:
    accounts = len(control.records("accounts"))
    good = "--changeset_B\r\n".join([
        "", http_part("POST", f"{dv.base}{API}/accounts", {"name": "Lot SAS"}, "1"),
        http_part("PATCH", "$1", {"telephone1": "0102030405"}, "2")])
    change_set = f"Content-Type: multipart/mixed; boundary=changeset_B\r\n\r\n{good}--changeset_B--\r\n"
    answer = post_batch(dv, [change_set, http_part("GET", "accounts?$select=name&$top=1")])
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    assert statuses(answer) == [204, 204, 200]
    made = [a for a in control.records("accounts") if a["name"] == "Lot SAS"]
    assert len(made) == 1 and made[0]["telephone1"] == "0102030405"
    bad = "--changeset_C\r\n".join([
        "", http_part("POST", "accounts", {"name": "Jamais SAS"}, "1"),
        http_part("POST", "accounts", {"name": "x", "nonexistent": 1}, "2")])
    failed = post_batch(dv, [f"Content-Type: multipart/mixed; boundary=changeset_C\r\n\r\n{bad}--changeset_C--\r\n",
                             http_part("GET", "accounts?$top=1")])
    assert statuses(failed) == [400]  # the set rolled back and the batch stopped
    assert len(control.records("accounts")) == accounts + 1
    kept_going = post_batch(dv, [http_part("POST", "accounts", {"nonexistent": 1}),
                                 http_part("POST", "accounts", {"name": "Après SAS"})],
                            Prefer="odata.continue-on-error")
    assert statuses(kept_going) == [400, 204]


def test_batch_takes_at_most_1000_requests(dv: Dataverse) -> None:
    refused = post_batch(dv, [http_part("GET", "accounts?$top=1")] * 1001)
    assert refused.status_code == 400 and odata_code(refused)


def test_create_and_update_multiple(dv: Dataverse, control: Any) -> None:
    made = send(dv, "POST", "accounts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"Multiple {n}"} for n in range(3)]})
    assert made.status_code == 200
    ids = made.json()["Ids"]
    assert len(ids) == 3
    updated = send(dv, "POST", "accounts/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": i, "telephone1": "0600000000"} for i in ids]})
    assert updated.status_code == 204
    assert {control.record("accounts", i)["telephone1"] for i in ids} == {"0600000000"}
    missing = send(dv, "POST", "accounts/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": ids[0], "telephone1": "1"},
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": "00000000-0000-0000-0000-000000000009"}]})
    assert missing.status_code == 404 and control.record("accounts", ids[0])["telephone1"] == "0600000000"


def test_an_unknown_entity_set_answers_the_odata_404(dv: Dataverse) -> None:
    unknown = send(dv, "POST", "widgets", {"name": "x"})
    assert unknown.status_code == 404 and odata_code(unknown) == "0x8006088a"


def test_writes_meet_service_protection(dv: Dataverse, control: Any) -> None:
    control.config(request_limit=2)
    codes = [send(dv, "POST", "accounts", {"name": f"Quota {n}"}) for n in range(3)]
    assert [c.status_code for c in codes] == [204, 204, 429]
    assert int(codes[2].headers["Retry-After"]) >= 1 and odata_code(codes[2]) == "0x80072322"


def test_project_tasks_are_written_through_an_operation_set_that_persists_later(dv: Dataverse, control: Any) -> None:
    task = control.records("msdyn_projecttasks")[0]
    project = task["_msdyn_project_value"]
    direct = send(dv, "PATCH", f"msdyn_projecttasks({task['msdyn_projecttaskid']})", {"msdyn_progress": 1})
    assert direct.status_code == 400 and odata_code(direct) == "0x80040265"
    opened = send(dv, "POST", "msdyn_CreateOperationSetV1", {"ProjectId": project, "Description": "sync"})
    assert opened.status_code == 200
    set_id = opened.json()["OperationSetId"]
    new_task = "0f0e0d0c-0b0a-4908-8706-050403020100"
    for action, body in (
            ("msdyn_PssCreateV1", {"Entity": {"@odata.type": "Microsoft.Dynamics.CRM.msdyn_projecttask",
                                              "msdyn_projecttaskid": new_task, "msdyn_subject": "Recette",
                                              "msdyn_project@odata.bind": f"/msdyn_projects({project})"}}),
            ("msdyn_PssUpdateV1", {"Entity": {"@odata.type": "Microsoft.Dynamics.CRM.msdyn_projecttask",
                                              "msdyn_projecttaskid": task["msdyn_projecttaskid"],
                                              "msdyn_progress": Decimal("0.5")}})):
        assert send(dv, "POST", action, {**body, "OperationSetId": set_id}).status_code == 200
    assert send(dv, "POST", "msdyn_ExecuteOperationSetV1", {"OperationSetId": set_id}).status_code == 200
    assert dv.body(f"msdyn_operationsets({set_id})")["msdyn_status"] == 192350001  # pending
    assert send(dv, "GET", f"msdyn_projecttasks({new_task})").status_code == 404
    control.advance(10)
    assert dv.body(f"msdyn_operationsets({set_id})")["msdyn_status"] == 192350003  # completed
    assert dv.body(f"msdyn_projecttasks({new_task})")["msdyn_subject"] == "Recette"
    assert dv.body(f"msdyn_projecttasks({task['msdyn_projecttaskid']})")["msdyn_progress"] == Decimal("0.50")
    again = send(dv, "POST", "msdyn_PssDeleteV1", {"EntityLogicalName": "msdyn_projecttask", "RecordId": new_task,
                                                  "OperationSetId": set_id})
    assert again.status_code == 400  # an executed set takes no more operations


def test_a_failing_operation_set_applies_nothing(dv: Dataverse, control: Any) -> None:
    task = control.records("msdyn_projecttasks")[0]
    set_id = send(dv, "POST", "msdyn_CreateOperationSetV1", {"ProjectId": task["_msdyn_project_value"]}) \
        .json()["OperationSetId"]
    kind = "Microsoft.Dynamics.CRM.msdyn_projecttask"
    for entity in ({"@odata.type": kind, "msdyn_projecttaskid": task["msdyn_projecttaskid"], "msdyn_subject": "Non"},
                   {"@odata.type": kind, "msdyn_projecttaskid": "00000000-0000-0000-0000-00000000dead"}):
        send(dv, "POST", "msdyn_PssUpdateV1", {"Entity": entity, "OperationSetId": set_id})
    send(dv, "POST", "msdyn_ExecuteOperationSetV1", {"OperationSetId": set_id})
    control.advance(10)
    outcome = dv.body(f"msdyn_operationsets({set_id})")
    assert outcome["msdyn_status"] == 192350004 and "Does Not Exist" in outcome["msdyn_executionerror"]
    assert control.record("msdyn_projecttasks", task["msdyn_projecttaskid"])["msdyn_subject"] == task["msdyn_subject"]
