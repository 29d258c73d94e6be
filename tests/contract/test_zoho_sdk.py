"""Contract test: Zoho's own Python SDK (zohocrmsdk8-0, API v8) reads the Zoho CRM emulator.

The SDK refreshes its token at the accounts server, reads the field metadata to type the records,
builds its URLs and parses answers, page tokens and errors its own way: if the emulator's paths, page
info or error bodies drifted from the vendor's, these calls fail. TLS is verified through
``REQUESTS_CA_BUNDLE``, pointed at the sandbox CA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore
from zohocrmsdk.src.com.zoho.api.logger import Logger
from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, Initializer, ParameterMap
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
from zohocrmsdk.src.com.zoho.crm.api.record import (
    APIException,
    DeletedRecordsWrapper,
    GetDeletedRecordsParam,
    GetRecordsParam,
    RecordOperations,
    ResponseWrapper,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig


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
