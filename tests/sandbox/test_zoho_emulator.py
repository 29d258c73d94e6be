"""The Zoho CRM and Bigin emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox
from tests.fixtures.sandbox import single_vendor_sandbox

zoho_sandbox = single_vendor_sandbox("zoho_crm", "zoho_sandbox")
bigin_sandbox = single_vendor_sandbox("bigin", "bigin_sandbox")
DAY = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Zoho:
    """Minimal Zoho client: refreshes at the accounts server, then calls ``api_domain``."""

    def __init__(self, sandbox: Sandbox, vendor: str) -> None:
        self.endpoint = sandbox.vendors[vendor]
        self.creds = self.endpoint.credentials
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False
        self.base = "/crm/v8" if vendor == "zoho_crm" else "/bigin/v2"
        token = self.refresh()
        self.api_domain, self.access = token["api_domain"], token["access_token"]

    def refresh(self, **override: str) -> dict[str, Any]:
        params = {"grant_type": "refresh_token", "client_id": self.creds["client_id"],
                  "client_secret": self.creds["client_secret"], "refresh_token": self.creds["refresh_token"], **override}
        response = self.session.post(f"{self.creds['accounts_url']}/oauth/v2/token", params=params)
        assert response.status_code == 200
        return response.json()

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
        return self.session.get(f"{self.api_domain}{self.base}{path}", params=params,
                                headers={"Authorization": f"Zoho-oauthtoken {self.access}", **(headers or {})})

    def body(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
        response = self.get(path, headers, **params)
        assert response.status_code == 200, response.text
        return exact_json.loads(response.content)


@pytest.fixture
def zoho(zoho_sandbox: Sandbox) -> Zoho:
    zoho_sandbox.vendors["zoho_crm"].control.reset()
    return Zoho(zoho_sandbox, "zoho_crm")


@pytest.fixture
def control(zoho_sandbox: Sandbox, zoho: Zoho) -> Any:
    return zoho_sandbox.vendors["zoho_crm"].control


def test_token_from_the_accounts_server_names_the_api_domain(zoho: Zoho) -> None:
    assert zoho.api_domain != zoho.creds["accounts_url"] and zoho.api_domain == zoho.endpoint.base_url
    assert zoho.refresh(refresh_token="1000.wrong") == {"error": "invalid_code"}
    assert zoho.refresh(client_secret="wrong") == {"error": "invalid_client"}
    # the API is not served on the accounts host, nor the token endpoint on the API host
    wrong_host = zoho.session.get(f"{zoho.creds['accounts_url']}/crm/v8/Accounts", params={"fields": "Account_Name"},
                                  headers={"Authorization": f"Zoho-oauthtoken {zoho.access}"})
    assert wrong_host.status_code == 404 and wrong_host.json()["code"] == "INVALID_URL_PATTERN"
    assert zoho.session.post(f"{zoho.api_domain}/oauth/v2/token").status_code == 404


def test_auth_scheme_and_expired_token(zoho: Zoho, control: Any) -> None:
    bearer = zoho.session.get(f"{zoho.api_domain}/crm/v8/Accounts", params={"fields": "Account_Name"},
                              headers={"Authorization": f"Bearer {zoho.access}"})
    assert bearer.status_code == 401 and bearer.json()["code"] == "INVALID_TOKEN"
    assert zoho.get("/Accounts", fields="Account_Name").status_code == 200
    control.add_fault(kind="expire_tokens")
    expired = zoho.get("/Accounts", fields="Account_Name")
    assert expired.status_code == 401 and expired.json() == {"code": "INVALID_TOKEN", "details": {},
                                                             "message": "invalid oauth token", "status": "error"}


def test_fields_are_required_and_selected(zoho: Zoho) -> None:
    missing = zoho.get("/Deals")
    assert missing.status_code == 400 and missing.json()["code"] == "REQUIRED_PARAM_MISSING"
    assert missing.json()["details"] == {"param": "fields"}
    too_many = zoho.get("/Deals", fields=",".join(f"F{i}" for i in range(51)))
    assert too_many.status_code == 400 and too_many.json()["code"] == "LIMIT_EXCEEDED"
    deal = zoho.body("/Deals", fields="Amount,Modified_Time")["data"][0]
    assert set(deal) == {"id", "Amount", "Modified_Time"} and deal["Modified_Time"].endswith("+01:00")
    assert zoho.get("/Widgets", fields="Name").json()["code"] == "INVALID_MODULE"


def test_page_cap_at_2000_then_page_token(zoho: Zoho, control: Any) -> None:
    control.bulk("Accounts", create=2300)
    total = len(control.records("Accounts"))
    refused = zoho.get("/Accounts", fields="Account_Name", page=11)
    assert refused.status_code == 400 and refused.json() == {
        "code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED", "details": {"limit": 2000},
        "message": "You can only get the first 2000 records without using page_token param", "status": "error"}
    assert zoho.get("/Accounts", fields="Account_Name", page=10).status_code == 200
    ids: list[str] = []
    params: dict[str, Any] = {"fields": "Account_Name", "sort_by": "id", "sort_order": "asc"}
    while True:
        body = zoho.body("/Accounts", **params)
        ids += [r["id"] for r in body["data"]]
        if not body["info"]["more_records"]:
            break
        params["page_token"] = body["info"]["next_page_token"]
    assert len(ids) == len(set(ids)) == total > 2000 and ids == sorted(ids, key=int)
    altered = zoho.get("/Accounts", fields="Account_Name,Phone", sort_by="id", sort_order="asc",
                       page_token=params["page_token"])
    assert altered.status_code == 400 and altered.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"


def test_if_modified_since_is_inclusive_and_204_when_nothing(zoho: Zoho, control: Any) -> None:
    control.set_clock(DAY)
    account = control.records("Accounts")[4]["id"]
    control.update("Accounts", account, {"Account_Name": "Changée SAS"})
    since = {"If-Modified-Since": "2026-03-02T10:00:00+01:00"}
    body = zoho.body("/Accounts", since, fields="Account_Name,Modified_Time", sort_by="Modified_Time", sort_order="asc")
    assert [(r["id"], r["Modified_Time"]) for r in body["data"]] == [(account, "2026-03-02T10:00:00+01:00")]
    later = zoho.get("/Accounts", {"If-Modified-Since": "2026-03-02T09:00:01Z"}, fields="Account_Name")
    assert later.status_code == 204 and later.content == b""


def test_deleted_records_and_field_metadata(zoho: Zoho, control: Any) -> None:
    control.set_clock(DAY)
    assert zoho.get("/Contacts/deleted", type="all").status_code == 204
    contact = control.records("Contacts")[0]["id"]
    control.delete("Contacts", contact)
    body = zoho.body("/Contacts/deleted", {"If-Modified-Since": "2026-03-02T09:00:00Z"}, type="all")
    assert [(d["id"], d["type"], d["deleted_time"]) for d in body["data"]] == [
        (contact, "recycle", "2026-03-02T10:00:00+01:00")]
    assert body["info"]["more_records"] is False
    fields = zoho.body("/settings/fields", module="Accounts")["fields"]
    assert {f["api_name"] for f in fields if f["custom_field"]} >= {"SIREN", "SIRET", "VAT_Number"}
    stage = next(f for f in zoho.body("/settings/fields", module="Deals")["fields"] if f["api_name"] == "Stage")
    won = [v["actual_value"] for v in stage["pick_list_values"] if v["forecast_type"] == "Closed Won"]
    assert won == ["Signé"]
    users = zoho.body("/users", type="AllUsers")["users"]
    assert users and all(u["status"] == "active" for u in users)


def test_credits_exhausted_is_429_with_zoho_body(zoho: Zoho, control: Any) -> None:
    control.config(credits_per_day=3)
    assert zoho.get("/Products", fields="Product_Name").status_code == 200
    assert zoho.get("/Products/deleted").status_code == 204  # two credits
    refused = zoho.get("/Products", fields="Product_Name")
    assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert refused.json()["status"] == "error" and "credits" in refused.json()["message"]


def test_bigin_shares_the_family_with_its_module_names(bigin_sandbox: Sandbox) -> None:
    bigin_sandbox.vendors["bigin"].control.reset()
    bigin = Zoho(bigin_sandbox, "bigin")
    deals = bigin.body("/Pipelines", fields="Deal_Name,Stage,Sub_Pipeline,Amount")["data"]
    assert deals and all(d["Sub_Pipeline"] == "Ventes Standard" for d in deals)
    assert bigin.get("/Deals", fields="Deal_Name").json()["code"] == "INVALID_MODULE"
    assert bigin.get("/Accounts", fields="Account_Name").status_code == 200
    assert bigin.session.get(f"{bigin.api_domain}/crm/v8/Accounts", params={"fields": "Account_Name"}).status_code == 404
