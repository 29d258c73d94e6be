"""Contract test: Zoho's own Python SDK (zohocrmsdk8-0, API v8) reads and writes the Zoho CRM emulator.

The SDK refreshes its token at the accounts server, reads the field metadata to type the records,
builds its URLs and parses answers, page tokens and errors its own way: if the emulator's paths, page
info or error bodies drifted from the vendor's, these calls fail. The write calls (create, update, upsert,
delete, field creation) parse the per-record ``data[]`` outcomes into the SDK's own classes. TLS is
verified through ``REQUESTS_CA_BUNDLE``, pointed at the sandbox CA.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, Initializer, ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.fields import ActionWrapper as FieldsActionWrapper
from zohocrmsdk.src.com.zoho.crm.api.fields import BodyWrapper as FieldsBody
from zohocrmsdk.src.com.zoho.crm.api.fields import CreateFieldParam, Fields, FieldsOperations, GetFieldParam, Unique
from zohocrmsdk.src.com.zoho.crm.api.fields import ResponseWrapper as FieldsResponseWrapper
from zohocrmsdk.src.com.zoho.crm.api.header import Header
from zohocrmsdk.src.com.zoho.crm.api.record import (
    ActionWrapper,
    APIException,
    BodyWrapper,
    DeletedRecordsWrapper,
    DeleteRecordsParam,
    GetDeletedRecordsParam,
    GetRecordsParam,
    Record,
    RecordOperations,
    ResponseWrapper,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
from zohocrmsdk.src.com.zoho.crm.api.users import MinifiedUser
from zohocrmsdk.src.com.zoho.crm.api.util import Choice


@pytest.fixture
def control(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_path))
    endpoint = sandbox.vendors["zoho_crm"]
    creds = endpoint.credentials
    # a data centre of its own: the accounts server and the API on different hosts, as Zoho's
    environment = DataCenter.Environment(endpoint.base_url, f"{creds['accounts_url']}/oauth/v2/token", endpoint.base_url)
    token = OAuthToken(client_id=creds["client_id"], client_secret=creds["client_secret"],
                       refresh_token=creds["refresh_token"], find_user=False)
    Initializer.initialize(environment=environment, token=token, store=FileStore(file_path=str(tmp_path / "tokens.txt")),
                           sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
                           resource_path=str(tmp_path),
                           logger=Logger.get_instance(level=Logger.Levels.WARNING, file_path=str(tmp_path / "sdk.log")))
    return endpoint.control


def get_records(module: str, **values: Any) -> Any:
    params = ParameterMap()
    for name, value in values.items():
        params.add(getattr(GetRecordsParam, name), value)
    return RecordOperations(module).get_records(params, HeaderMap()).get_object()


def test_sdk_lists_records_with_custom_fields_past_2000_by_page_token(control: Any) -> None:
    control.bulk("Accounts", create=2100)
    total = len(control.records("Accounts"))
    ids: list[int] = []
    token = None
    while True:
        extra = {"page_token": token} if token else {}
        page = get_records("Accounts", fields="Account_Name,SIREN,Modified_Time", per_page=200, sort_by="id",
                           sort_order="asc", **extra)
        assert isinstance(page, ResponseWrapper)
        ids += [record.get_id() for record in page.get_data()]
        if not page.get_info().get_more_records():
            break
        token = page.get_info().get_next_page_token()
    assert len(ids) == len(set(ids)) == total > 2000
    first = get_records("Accounts", fields="Account_Name,SIREN", per_page=1, sort_by="id", sort_order="asc").get_data()[0]
    account = min(control.records("Accounts"), key=lambda a: int(a["id"]))
    assert first.get_key_value("SIREN") == account["SIREN"] and first.get_key_value("Account_Name") == account["Account_Name"]


def test_sdk_reads_deleted_records_and_zoho_errors(control: Any) -> None:
    contact = control.records("Contacts")[0]["id"]
    control.delete("Contacts", contact)
    params = ParameterMap()
    params.add(GetDeletedRecordsParam.type, "all")
    deleted = RecordOperations("Contacts").get_deleted_records(params, HeaderMap()).get_object()
    assert isinstance(deleted, DeletedRecordsWrapper)
    assert [(d.get_id(), d.get_type()) for d in deleted.get_data()] == [(int(contact), "recycle")]
    capped = get_records("Contacts", fields="Last_Name", page=11, per_page=200)
    assert isinstance(capped, APIException) and capped.get_code().get_value() == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    missing = get_records("Contacts")
    assert isinstance(missing, APIException) and missing.get_code().get_value() == "REQUIRED_PARAM_MISSING"


# ------------------------------------------------------------------------------------- writes
# The SDK's write calls, answered as Zoho answers them (per-record data[], 207, 412).

WRITE_DAY = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
IF_UNMODIFIED_SINCE = Header("If-Unmodified-Since", "DateTime")
"""Zoho documents the header for updates and upserts; the SDK has no constant for it, so one is declared
(typed ``DateTime``: the SDK then sends an ISO 8601 value, as for its own ``If-Modified-Since``)."""


def record(**values: Any) -> Record:
    out = Record()
    for name, value in values.items():
        out.add_key_value(name, value)
    return out


def lookup(record_id: str) -> Record:
    out = Record()
    out.set_id(int(record_id))
    return out


def body(*records: Record, trigger: list[str] | None = None, keys: list[str] | None = None) -> BodyWrapper:
    wrapper = BodyWrapper()
    wrapper.set_data(list(records))
    if trigger is not None:
        wrapper.set_trigger(trigger)
    if keys is not None:
        wrapper.set_duplicate_check_fields(keys)
    return wrapper


def outcomes(response: Any) -> list[Any]:
    wrapper = response.get_object()
    assert isinstance(wrapper, ActionWrapper), response.get_object()
    return list(wrapper.get_data())


def api_user(control: Any) -> dict[str, str]:
    first = min(control.records("users"), key=lambda u: int(u["id"]))
    return {"name": first["full_name"], "id": first["id"]}


def test_sdk_creates_updates_and_reads_back_with_the_api_user_stamp(control: Any) -> None:
    control.set_clock(WRITE_DAY)
    account = control.records("Accounts")[0]
    deal = record(Deal_Name="Maintenance 2026", Stage=Choice("Qualification"),
                  Closing_Date=datetime(2026, 6, 30).date(), Amount=12500.5, Account_Name=lookup(account["id"]))
    created = RecordOperations("Deals").create_records(body(deal, trigger=[]), HeaderMap())
    assert created.get_status_code() == 201
    [entry] = outcomes(created)
    assert isinstance(entry, SuccessResponse) and entry.get_code().get_value() == "SUCCESS"
    details = entry.get_details()
    deal_id = str(details["id"])
    assert str(details["Modified_By"].get_id()) == api_user(control)["id"]
    assert control.info()["writes"][-1]["trigger"] == []
    stored = control.record("Deals", deal_id)
    assert str(stored["Amount"]) == "12500.5" and stored["Account_Name"]["id"] == account["id"]

    control.advance(30)
    changed = RecordOperations("Deals").update_records(body(record(id=int(deal_id), Stage=Choice("Négociation")),
                                                            trigger=[]), HeaderMap())
    assert changed.get_status_code() == 200 and outcomes(changed)[0].get_message().get_value() == "record updated"
    got = RecordOperations("Deals").get_record(int(deal_id), ParameterMap(), HeaderMap()).get_object().get_data()[0]
    assert got.get_key_value("Stage").get_value() == "Négociation"
    assert got.get_key_value("Modified_Time") == datetime(2026, 3, 2, 9, 0, 30, tzinfo=timezone.utc)
    assert str(got.get_key_value("Modified_By").get_id()) == api_user(control)["id"]
    recent = get_records("Deals", fields="Deal_Name,Modified_By", sort_by="Modified_Time", sort_order="desc",
                         per_page=1)
    assert str(recent.get_data()[0].get_id()) == deal_id

    # Tasks (the Zoho Projects task sync's module): owner, related deal, picklists, due date
    owner = MinifiedUser()
    owner.set_id(int(control.records("users")[1]["id"]))
    task = record(Subject="Kick-off", Due_Date=datetime(2026, 3, 10).date(), Priority=Choice("High"),
                  Status=Choice("Not Started"),
                  Owner=owner, What_Id=lookup(deal_id), Description="Lancer le projet")
    task.add_key_value("$se_module", "Deals")
    made = RecordOperations("Tasks").create_records(body(task, trigger=[]), HeaderMap())
    assert made.get_status_code() == 201, made.get_object()
    task_id = str(outcomes(made)[0].get_details()["id"])
    stored_task = control.record("Tasks", task_id)
    assert stored_task["What_Id"]["id"] == deal_id and stored_task["$se_module"] == "Deals"
    assert stored_task["Due_Date"] == "2026-03-10" and stored_task["Owner"]["id"] == str(owner.get_id())


def test_sdk_sees_per_record_errors_and_the_stale_update(control: Any) -> None:
    control.set_clock(WRITE_DAY)
    first, second = (a["id"] for a in control.records("Accounts")[:2])
    mixed = RecordOperations("Accounts").update_records(body(record(id=int(first), Phone="+33 1 00 00 00 00"),
                                                             record(id=1, Phone="0"), trigger=[]), HeaderMap())
    assert mixed.get_status_code() == 207
    ok, bad = outcomes(mixed)
    assert isinstance(ok, SuccessResponse) and isinstance(bad, APIException)
    assert bad.get_code().get_value() == "INVALID_DATA" and bad.get_details()["json_path"] == "$.data[1].id"

    control.advance(60)
    control.update("Accounts", second, {"Phone": "+33 9 99 99 99 99"})  # someone edits it in the CRM
    headers = HeaderMap()
    headers.add(IF_UNMODIFIED_SINCE, datetime(2026, 3, 2, 9, 0, 30, tzinfo=timezone.utc))
    stale = RecordOperations("Accounts").update_record(int(second), body(record(Phone="+33 1 11 11 11 11"),
                                                                        trigger=[]), headers)
    assert stale.get_status_code() == 412
    [refused] = outcomes(stale)
    assert isinstance(refused, APIException) and refused.get_code().get_value() == "ALREADY_MODIFIED"
    details = {k: str(v) for k, v in refused.get_details().items()}
    assert details["id"] == second  # the SDK keeps only the id of these details; the body carries the stamp too
    assert control.record("Accounts", second)["Phone"] == "+33 9 99 99 99 99"


def test_sdk_creates_a_unique_field_upserts_on_it_and_deletes(control: Any) -> None:
    control.set_clock(WRITE_DAY)
    field = Fields()
    field.set_field_label("Passerelle Key")
    field.set_data_type("text")
    field.set_length(64)
    unique = Unique()
    unique.set_casesensitive("false")
    field.set_unique(unique)
    wrapper = FieldsBody()
    wrapper.set_fields([field])
    params = ParameterMap()
    params.add(CreateFieldParam.module, "Deals")
    created = FieldsOperations().create_field(wrapper, params)
    assert created.get_status_code() == 201
    answer = created.get_object()
    assert isinstance(answer, FieldsActionWrapper)
    field_id = answer.get_fields()[0].get_details()["id"]
    params = ParameterMap()
    params.add(GetFieldParam.module, "Deals")
    read = FieldsOperations().get_field(int(field_id), params).get_object()
    assert isinstance(read, FieldsResponseWrapper) and read.get_fields()[0].get_api_name() == "Passerelle_Key"

    def deal(name: str) -> Record:
        return record(Deal_Name=name, Stage=Choice("Qualification"), Closing_Date=datetime(2026, 5, 1).date(),
                      Passerelle_Key="pk-1")

    inserted = RecordOperations("Deals").upsert_records(body(deal("Refonte"), trigger=[], keys=["Passerelle_Key"]),
                                                        HeaderMap())
    [first] = outcomes(inserted)
    assert first.get_action().get_value() == "insert"
    updated = RecordOperations("Deals").upsert_records(body(deal("Refonte (v2)"), trigger=[], keys=["Passerelle_Key"]),
                                                       HeaderMap())
    [second] = outcomes(updated)
    assert second.get_action().get_value() == "update" and second.get_duplicate_field() == "Passerelle_Key"
    deal_id = str(first.get_details()["id"])
    assert str(second.get_details()["id"]) == deal_id
    assert control.record("Deals", deal_id)["Deal_Name"] == "Refonte (v2)"

    contact = control.records("Contacts")[0]["id"]
    params = ParameterMap()
    params.add(DeleteRecordsParam.ids, f"{deal_id}")
    params.add(DeleteRecordsParam.wf_trigger, False)
    deleted = RecordOperations("Deals").delete_records(params, HeaderMap())
    assert deleted.get_status_code() == 200 and outcomes(deleted)[0].get_message().get_value() == "record deleted"
    one = RecordOperations("Contacts").delete_record(int(contact), ParameterMap(), HeaderMap())
    assert one.get_status_code() == 200 and str(outcomes(one)[0].get_details()["id"]) == contact
    params = ParameterMap()
    params.add(GetDeletedRecordsParam.type, "recycle")
    gone = RecordOperations("Deals").get_deleted_records(params, HeaderMap()).get_object().get_data()
    assert [(str(d.get_id()), str(d.get_deleted_by().get_id())) for d in gone] == [(deal_id, api_user(control)["id"])]
