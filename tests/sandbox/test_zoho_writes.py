"""Zoho CRM and Bigin record writes, sent with requests as the two-way sync will send them."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox
from tests.sandbox.test_zoho_emulator import Zoho, bigin_sandbox, zoho_sandbox  # noqa: F401  (fixtures)

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Writer(Zoho):
    def send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             **params: Any) -> requests.Response:
        return self.session.request(method, f"{self.api_domain}{self.base}{path}", params=params,
                                    data=None if body is None else exact_json.dumps(body),
                                    headers={"Authorization": f"Zoho-oauthtoken {self.access}",
                                             "Content-Type": "application/json", **(headers or {})})

    def answer(self, response: requests.Response) -> dict[str, Any]:
        return exact_json.loads(response.content)


@pytest.fixture
def zoho(zoho_sandbox: Sandbox) -> Writer:  # noqa: F811
    zoho_sandbox.vendors["zoho_crm"].control.reset()
    zoho_sandbox.vendors["zoho_crm"].control.set_clock(DAY)
    return Writer(zoho_sandbox, "zoho_crm")


@pytest.fixture
def control(zoho_sandbox: Sandbox, zoho: Writer) -> Any:  # noqa: F811
    return zoho_sandbox.vendors["zoho_crm"].control


def api_user(control: Any) -> dict[str, str]:
    first = min(control.records("users"), key=lambda u: int(u["id"]))
    return {"name": first["full_name"], "id": first["id"]}


def test_insert_stamps_the_api_user_and_is_seen_by_the_next_incremental_read(zoho: Writer, control: Any) -> None:
    account = control.records("Accounts")[0]
    body = {"data": [{"Deal_Name": "Maintenance 2026", "Stage": "Qualification", "Closing_Date": "2026-06-30",
                      "Amount": Decimal("12500.50"), "Account_Name": {"id": account["id"]}}], "trigger": []}
    created = zoho.send("POST", "/Deals", body)
    assert created.status_code == 201
    [entry] = zoho.answer(created)["data"]
    assert entry["code"] == "SUCCESS" and entry["status"] == "success" and entry["message"] == "record added"
    details = entry["details"]
    assert details["Modified_By"] == details["Created_By"] == api_user(control)
    assert details["Modified_Time"] == details["Created_Time"] == "2026-03-02T10:00:00+01:00"
    assert control.info()["writes"][-1] == {"module": "Deals", "operation": "insert", "trigger": [],
                                            "ids": [details["id"]]}
    seen = zoho.body("/Deals", {"If-Modified-Since": "2026-03-02T10:00:00+01:00"},
                     fields="Deal_Name,Amount,Account_Name,Modified_By,Modified_Time")["data"]
    assert [(d["id"], d["Amount"], d["Account_Name"], d["Modified_By"]) for d in seen] == [
        (details["id"], Decimal("12500.50"), {"name": account["Account_Name"], "id": account["id"]},
         api_user(control))]
    # without "trigger" every automation runs
    zoho.send("POST", "/Accounts", {"data": [{"Account_Name": "Sans Trigger SAS"}]})
    assert control.info()["writes"][-1]["trigger"] == ["workflow", "approval", "blueprint", "pathfinder",
                                                       "orchestration"]


def test_per_record_outcomes_207_then_400_and_the_100_cap(zoho: Writer) -> None:
    mixed = zoho.send("POST", "/Deals", {"data": [
        {"Deal_Name": "Bon", "Stage": "Qualification", "Closing_Date": "2026-04-01"},
        {"Deal_Name": "Sans étape", "Closing_Date": "2026-04-01"},
        {"Deal_Name": "Montant texte", "Stage": "Qualification", "Closing_Date": "2026-04-01", "Amount": "beaucoup"},
        {"Deal_Name": "Étape inconnue", "Stage": "Gagné", "Closing_Date": "2026-04-01"},
        {"Deal_Name": "x" * 256, "Stage": "Qualification", "Closing_Date": "2026-04-01"},
        {"Deal_Name": "Champ inconnu", "Stage": "Qualification", "Closing_Date": "2026-04-01", "Colour": "bleu"},
    ], "trigger": []})
    assert mixed.status_code == 207
    data = zoho.answer(mixed)["data"]
    assert [d["code"] for d in data] == ["SUCCESS", "MANDATORY_NOT_FOUND", "INVALID_DATA", "INVALID_DATA",
                                         "INVALID_DATA", "INVALID_DATA"]
    assert data[1]["details"] == {"api_name": "Stage", "json_path": "$.data[1].Stage"}
    assert data[2]["details"] == {"expected_data_type": "double", "api_name": "Amount", "json_path": "$.data[2].Amount"}
    assert data[3]["details"]["supported_values"][-1] == "Perdu"
    assert data[4]["details"] == {"maximum_length": 255, "api_name": "Deal_Name", "json_path": "$.data[4].Deal_Name"}
    assert data[5]["details"] == {"api_name": "Colour", "json_path": "$.data[5].Colour"}
    assert all(d["status"] == "error" for d in data[1:])
    failed = zoho.send("POST", "/Contacts", {"data": [{"First_Name": "Anne"}]})
    assert failed.status_code == 400 and zoho.answer(failed)["data"][0]["code"] == "MANDATORY_NOT_FOUND"
    capped = zoho.send("POST", "/Accounts", {"data": [{"Account_Name": f"A{i}"} for i in range(101)]})
    assert capped.status_code == 400 and zoho.answer(capped) == {
        "code": "LIMIT_EXCEEDED", "details": {"limit": 100, "api_name": "data", "json_path": "$.data"},
        "message": "Limit exceeded", "status": "error"}
    no_data = zoho.send("POST", "/Accounts", {"rows": []})
    assert no_data.status_code == 400 and zoho.answer(no_data)["code"] == "MANDATORY_NOT_FOUND"
    bad_trigger = zoho.send("POST", "/Accounts", {"data": [{"Account_Name": "T"}], "trigger": ["everything"]})
    assert bad_trigger.status_code == 400 and zoho.answer(bad_trigger)["details"]["api_name"] == "trigger"


def test_update_keeps_input_order_and_if_unmodified_since_gives_412(zoho: Writer, control: Any) -> None:
    first, second = (a["id"] for a in control.records("Accounts")[:2])
    before = control.record("Accounts", first)["Modified_Time"]
    updated = zoho.send("PUT", "/Accounts", {"data": [{"id": second, "Phone": "+33 1 02 03 04 05"},
                                                      {"id": "999", "Phone": "0"},
                                                      {"id": first, "Website": "exemple.fr"}], "trigger": []})
    assert updated.status_code == 207
    data = zoho.answer(updated)["data"]
    assert [d["details"].get("id") for d in data] == [second, None, first]
    assert data[1] == {"code": "INVALID_DATA", "details": {"api_name": "id", "json_path": "$.data[1].id"},
                       "message": "the id given seems to be invalid", "status": "error"}
    assert data[2]["message"] == "record updated" and data[2]["details"]["Modified_By"] == api_user(control)
    after = control.record("Accounts", first)
    assert after["Website"] == "exemple.fr" and after["Modified_Time"] > before
    # a UI edit after our read: the conditional update is refused with the current stamp
    control.advance(60)
    control.update("Accounts", first, {"Phone": "+33 9 99 99 99 99"})
    stamp = control.record("Accounts", first)
    stale = zoho.send("PUT", f"/Accounts/{first}", {"data": [{"Phone": "+33 1 11 11 11 11"}], "trigger": []},
                      {"If-Unmodified-Since": "2026-03-02T10:00:30+01:00"})
    assert stale.status_code == 412
    [entry] = zoho.answer(stale)["data"]
    assert entry["code"] == "ALREADY_MODIFIED" and entry["status"] == "error"
    assert entry["details"]["Modified_Time"] == "2026-03-02T10:01:00+01:00"
    assert entry["details"]["Modified_By"] == stamp["Modified_By"] != api_user(control)
    assert control.record("Accounts", first)["Phone"] == "+33 9 99 99 99 99"
    fresh = zoho.send("PUT", f"/Accounts/{first}", {"data": [{"Phone": "+33 1 11 11 11 11"}]},
                      {"If-Unmodified-Since": "2026-03-02T10:01:00+01:00"})
    assert fresh.status_code == 200 and control.record("Accounts", first)["Phone"] == "+33 1 11 11 11 11"
    # the frozen clock still moves the record's Modified_Time forward
    assert zoho.answer(fresh)["data"][0]["details"]["Modified_Time"] == "2026-03-02T10:01:01+01:00"
    control.config(locked_record_ids=[second])
    locked = zoho.send("PUT", "/Accounts", {"data": [{"id": second, "Phone": "0"}], "trigger": []})
    assert locked.status_code == 400 and zoho.answer(locked)["data"][0]["code"] == "RECORD_LOCKED"


def test_created_unique_field_is_the_upsert_key(zoho: Writer, control: Any) -> None:
    created = zoho.send("POST", "/settings/fields", {"fields": [
        {"field_label": "Passerelle Key", "data_type": "text", "length": 64, "unique": {"casesensitive": False}}]},
        module="Deals")
    assert created.status_code == 201
    [entry] = zoho.answer(created)["fields"]
    assert entry["code"] == "SUCCESS" and entry["message"] == "field created"
    field = zoho.body(f"/settings/fields/{entry['details']['id']}", module="Deals")["fields"][0]
    assert field["api_name"] == "Passerelle_Key" and field["custom_field"] is True
    again = zoho.send("POST", "/settings/fields", {"fields": [{"field_label": "Passerelle Key", "data_type": "text"}]},
                      module="Deals")
    assert again.status_code == 400 and zoho.answer(again)["fields"][0]["code"] == "DUPLICATE_DATA"
    deal = {"Deal_Name": "Refonte", "Stage": "Qualification", "Closing_Date": "2026-05-01", "Passerelle_Key": "pk-1"}
    upserted = zoho.send("POST", "/Deals/upsert", {"data": [deal], "duplicate_check_fields": ["Passerelle_Key"],
                                                   "trigger": []})
    assert upserted.status_code == 200
    first = zoho.answer(upserted)["data"][0]
    assert (first["action"], first["duplicate_field"], first["message"]) == ("insert", None, "record added")
    renamed = zoho.send("POST", "/Deals/upsert", {"data": [{**deal, "Deal_Name": "Refonte (v2)"}],
                                                  "duplicate_check_fields": ["Passerelle_Key"], "trigger": []})
    second = zoho.answer(renamed)["data"][0]
    assert (second["action"], second["duplicate_field"]) == ("update", "Passerelle_Key")
    assert second["details"]["id"] == first["details"]["id"]
    assert control.record("Deals", first["details"]["id"])["Deal_Name"] == "Refonte (v2)"
    twin = zoho.send("POST", "/Deals", {"data": [{**deal, "Deal_Name": "Doublon"}]})
    assert twin.status_code == 400
    [refused] = zoho.answer(twin)["data"]
    assert refused["code"] == "DUPLICATE_DATA" and refused["details"]["api_name"] == "Passerelle_Key"
    assert refused["details"]["json_path"] == "$.data[0].Passerelle_Key"
    assert refused["details"]["duplicate_record"]["id"] == first["details"]["id"]
    # the system default key (Contacts: Email) applies when no duplicate_check_fields are given
    contact = control.records("Contacts")[0]
    by_email = zoho.send("POST", "/Contacts/upsert", {"data": [{"Email": contact["Email"], "Title": "DAF"}]})
    assert zoho.answer(by_email)["data"][0]["duplicate_field"] == "Email"
    assert control.record("Contacts", contact["id"])["Title"] == "DAF"
    unknown_key = zoho.send("POST", "/Deals/upsert", {"data": [deal], "duplicate_check_fields": ["Nope"]})
    assert unknown_key.status_code == 400
    assert zoho.answer(unknown_key)["details"]["api_name"] == "duplicate_check_fields"


def test_tasks_module_is_writable_and_readable(zoho: Writer, control: Any) -> None:
    deal = control.records("Deals")[0]
    owner = control.records("users")[1]
    task = {"Subject": "Kick-off", "Due_Date": "2026-03-10", "Priority": "High", "Status": "Not Started",
            "Owner": {"id": owner["id"]}, "What_Id": {"id": deal["id"]}, "$se_module": "Deals",
            "Description": "Lancer le projet"}
    created = zoho.send("POST", "/Tasks", {"data": [task], "trigger": []})
    assert created.status_code == 201, created.text
    task_id = zoho.answer(created)["data"][0]["details"]["id"]
    read = zoho.body(f"/Tasks/{task_id}")["data"][0]
    assert read["What_Id"] == {"name": deal["Deal_Name"], "id": deal["id"]} and read["$se_module"] == "Deals"
    assert read["Owner"]["id"] == owner["id"] and read["Priority"] == "High" and read["Due_Date"] == "2026-03-10"
    done = zoho.send("PUT", "/Tasks", {"data": [{"id": task_id, "Status": "Completed"}], "trigger": []})
    assert done.status_code == 200
    listed = zoho.body("/Tasks", fields="Subject,Status,Modified_By")["data"]
    assert [(t["id"], t["Status"], t["Modified_By"]) for t in listed] == [(task_id, "Completed", api_user(control))]
    problems = zoho.send("POST", "/Tasks", {"data": [
        {"Subject": "Sans module", "What_Id": {"id": deal["id"]}},
        {"Subject": "Mauvaise priorité", "Priority": "Urgent"},
        {"Subject": "Mauvais lien", "What_Id": {"id": "1"}, "$se_module": "Deals"},
        {"Subject": "Mauvaise date", "Due_Date": "10/03/2026"}]})
    data = zoho.answer(problems)["data"]
    assert problems.status_code == 400
    assert data[0]["details"] == {"api_name": "$se_module", "json_path": "$.data[0].$se_module"}
    assert data[1]["details"]["supported_values"] == ["High", "Highest", "Low", "Lowest", "Normal"]
    assert data[2]["message"] == "the related id given seems to be invalid"
    assert data[3]["details"]["expected_data_type"] == "date"
    task_fields = {f["api_name"] for f in zoho.body("/settings/fields", module="Tasks")["fields"]}
    assert {"Subject", "Due_Date", "Priority", "Status", "Owner", "What_Id", "Description"} <= task_fields


def test_delete_moves_to_the_recycle_bin_and_the_id_is_gone(zoho: Writer, control: Any) -> None:
    first, second = (c["id"] for c in control.records("Contacts")[:2])
    deleted = zoho.send("DELETE", "/Contacts", ids=f"{first},999", wf_trigger="false")
    assert deleted.status_code == 207
    assert zoho.answer(deleted)["data"] == [
        {"code": "SUCCESS", "details": {"id": first}, "message": "record deleted", "status": "success"},
        {"code": "INVALID_DATA", "details": {"id": "999"}, "message": "the id given seems to be invalid",
         "status": "error"}]
    assert control.info()["writes"][-1]["trigger"] == []
    assert zoho.send("DELETE", f"/Contacts/{second}").status_code == 200
    bin_ = zoho.body("/Contacts/deleted", type="recycle")["data"]
    assert {(d["id"], d["deleted_by"]["id"]) for d in bin_} == {(first, api_user(control)["id"]),
                                                                (second, api_user(control)["id"])}
    gone = zoho.send("PUT", f"/Contacts/{first}", {"data": [{"Title": "x"}]})
    assert gone.status_code == 400 and zoho.answer(gone)["data"][0]["code"] == "INVALID_DATA"
    assert zoho.send("DELETE", "/Contacts").json()["code"] == "REQUIRED_PARAM_MISSING"
    unknown = zoho.send("PATCH", "/Contacts")
    assert unknown.status_code == 405 and unknown.json()["code"] == "INVALID_REQUEST_METHOD"
    nowhere = zoho.send("POST", "/Contacts/upsert/extra", {"data": []})
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "INVALID_URL_PATTERN"


def test_writes_cost_a_credit_per_ten_records_and_the_api_user_is_configurable(zoho: Writer, control: Any) -> None:
    other = control.records("users")[2]
    control.config(credits_per_day=12, api_user_id=other["id"])
    rows = [{"Account_Name": f"Lot {i}"} for i in range(100)]
    assert zoho.send("POST", "/Accounts", {"data": rows, "trigger": []}).status_code == 201  # 10 credits
    one = zoho.send("POST", "/Accounts", {"data": [{"Account_Name": "Seul"}], "trigger": []})
    assert zoho.answer(one)["data"][0]["details"]["Modified_By"] == {"name": other["full_name"], "id": other["id"]}
    refused = zoho.send("POST", "/Accounts", {"data": [{"Account_Name": f"X{i}"} for i in range(11)]})
    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"


def test_bigin_pipelines_take_the_same_writes(bigin_sandbox: Sandbox) -> None:  # noqa: F811
    bigin_sandbox.vendors["bigin"].control.reset()
    bigin = Writer(bigin_sandbox, "bigin")
    created = bigin.send("POST", "/Pipelines", {"data": [{"Deal_Name": "Bigin deal", "Stage": "Qualification",
                                                          "Closing_Date": "2026-05-01",
                                                          "Sub_Pipeline": "Ventes Standard"}], "trigger": []})
    assert created.status_code == 201
    record_id = bigin.answer(created)["data"][0]["details"]["id"]
    assert bigin.body(f"/Pipelines/{record_id}")["data"][0]["Deal_Name"] == "Bigin deal"
    assert bigin.send("POST", "/Tasks", {"data": [{"Subject": "x"}]}).json()["code"] == "INVALID_MODULE"
