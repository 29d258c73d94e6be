"""The Pipedrive emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox, VendorEndpoint

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-daily-ratelimit-token-limit",
                "x-daily-ratelimit-token-remaining")


class Pipedrive:
    """Minimal Pipedrive HTTP client: base URL, API token header (or bearer) and the sandbox CA."""

    def __init__(self, endpoint: VendorEndpoint, ca_path: Any, headers: dict[str, str] | None = None) -> None:
        self.base = endpoint.base_url
        self.session = requests.Session()
        self.session.verify = str(ca_path)
        self.session.trust_env = False
        self.headers = {"x-api-token": endpoint.credentials["api_token"]} if headers is None else headers

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}{path}", params=params, headers=self.headers)

    def body(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return exact_json.loads(response.content)


@pytest.fixture
def pd(sandbox: Sandbox) -> Pipedrive:
    return Pipedrive(sandbox.vendors["pipedrive"], sandbox.ca_path)


@pytest.fixture
def control(sandbox: Sandbox) -> Any:
    return sandbox.vendors["pipedrive"].control


def all_pages(pd: Pipedrive, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = pd.body(path, **params, **({"cursor": cursor} if cursor else {}))
        items.extend(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return items


def test_auth_refused_with_pipedrive_body(sandbox: Sandbox, pd: Pipedrive) -> None:
    for headers in ({}, {"x-api-token": "wrong"}, {"Authorization": "Bearer nope"}):
        response = Pipedrive(sandbox.vendors["pipedrive"], sandbox.ca_path, headers).get("/api/v2/deals")
        body = response.json()
        assert response.status_code == 401
        assert body["success"] is False and body["errorCode"] == 401 and body["error"]
    token = sandbox.vendors["pipedrive"].credentials["api_token"]
    assert pd.session.get(f"{pd.base}/v1/users", params={"api_token": token}).status_code == 200
    assert pd.get("/api/v2/organizations").status_code == 200


def test_oauth_refresh_gives_api_domain_and_bearer_works(sandbox: Sandbox, pd: Pipedrive) -> None:
    creds = sandbox.vendors["pipedrive"].credentials
    form = {"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]}
    bad = pd.session.post(f"{pd.base}/oauth/token", data=form, auth=(creds["client_id"], "wrong"))
    assert bad.status_code == 401
    response = pd.session.post(f"{pd.base}/oauth/token", data=form, auth=(creds["client_id"], creds["client_secret"]))
    token = response.json()
    assert token["api_domain"] == pd.base and token["token_type"] == "Bearer" and token["expires_in"] > 0
    bearer = Pipedrive(sandbox.vendors["pipedrive"], sandbox.ca_path, {"Authorization": f"Bearer {token['access_token']}"})
    assert bearer.get("/api/v2/persons").status_code == 200
    sandbox.vendors["pipedrive"].control.add_fault(kind="expire_tokens")
    assert bearer.get("/api/v2/persons").status_code == 401


def test_cursor_paging_is_complete_and_limited_to_500(pd: Pipedrive, control: Any) -> None:
    control.config(enforce_rate_limits=False)
    control.bulk("persons", create=700)
    total = len(control.records("persons"))
    first = pd.body("/api/v2/persons", limit=500)
    assert len(first["data"]) == 500 and re.fullmatch(r"[A-Za-z0-9_-]+", first["additional_data"]["next_cursor"])
    ids = [p["id"] for p in all_pages(pd, "/api/v2/persons", limit=300)]
    assert len(ids) == len(set(ids)) == total and ids == sorted(ids)
    assert pd.get("/api/v2/persons", limit=501).status_code == 400
    assert pd.get("/api/v2/persons", cursor="not-a-cursor!").status_code == 400


def test_updated_since_until_and_sort(pd: Pipedrive, control: Any) -> None:
    control.set_clock(DAY)
    org = control.records("organizations")[3]["id"]
    control.update("organizations", str(org), {"name": "Changée SAS"})
    window = {"updated_since": "2026-03-02T09:00:00Z", "updated_until": "2026-03-02T09:00:01Z"}
    assert [o["id"] for o in pd.body("/api/v2/organizations", **window)["data"]] == [org]
    assert pd.body("/api/v2/organizations", updated_since="2026-03-02T09:00:00Z",
                   updated_until="2026-03-02T09:00:00Z")["data"] == []  # until is exclusive
    listed = pd.body("/api/v2/organizations", sort_by="update_time", sort_direction="desc")["data"]
    assert listed[0]["id"] == org and listed[0]["update_time"] == "2026-03-02T09:00:00Z"
    times = [o["update_time"] for o in listed]
    assert times == sorted(times, reverse=True)
    assert pd.get("/api/v2/organizations", updated_since="yesterday").status_code == 400


def test_deleted_deals_listed_under_status_deleted_for_30_days(pd: Pipedrive, control: Any) -> None:
    control.set_clock(DAY)
    deal = control.records("deals")[0]["id"]
    control.delete("deals", str(deal))
    assert deal not in [d["id"] for d in all_pages(pd, "/api/v2/deals")]
    deleted = pd.body("/api/v2/deals", status="deleted")["data"]
    assert [(d["id"], d["is_deleted"], d["status"]) for d in deleted] == [(deal, True, "deleted")]
    control.set_clock(DAY + timedelta(days=31))
    assert pd.body("/api/v2/deals", status="deleted")["data"] == []
    assert pd.get("/api/v2/deals", status="gone").status_code == 400


def test_recents_report_deleted_persons_with_null_data(pd: Pipedrive, control: Any) -> None:
    control.set_clock(DAY)
    person = control.records("persons")[1]["id"]
    control.delete("persons", str(person))
    control.advance(60)
    other = control.records("persons")[2]["id"]
    control.update("persons", str(other), {"job_title": "DAF"})
    body = pd.body("/v1/recents", since_timestamp="2026-03-02 09:00:00", items="person")
    assert [(e["item"], e["id"], e["data"] is None) for e in body["data"]] == [("person", person, True),
                                                                                ("person", other, False)]
    assert body["data"][1]["data"]["update_time"] == "2026-03-02 09:01:00"
    assert body["additional_data"]["last_timestamp_on_page"] == "2026-03-02 09:01:00"
    single = pd.body(f"/api/v2/persons/{person}")["data"]
    assert single["is_deleted"] is True and single["update_time"] == "2026-03-02T09:00:00Z"
    assert person not in [p["id"] for p in all_pages(pd, "/api/v2/persons")]


def test_custom_fields_keyed_by_hash_and_named_by_fields(pd: Pipedrive) -> None:
    fields = pd.body("/v1/organizationFields")["data"]
    custom = {f["key"]: f["name"] for f in fields if re.fullmatch(r"[0-9a-f]{40}", f["key"])}
    assert set(custom.values()) == {"SIREN", "SIRET", "VAT number", "E-invoicing address", "Customer type"}
    org = pd.body("/api/v2/organizations", limit=1)["data"][0]
    assert set(org["custom_fields"]) == set(custom)
    siren_key = next(k for k, n in custom.items() if n == "SIREN")
    only = pd.body("/api/v2/organizations", limit=1, custom_fields=siren_key)["data"][0]
    assert set(only["custom_fields"]) == {siren_key}
    v1 = pd.body("/v1/organizations", limit=1)["data"][0]
    assert v1[siren_key] == org["custom_fields"][siren_key] and v1["active_flag"] is True


def test_deal_products_and_exact_numbers(sandbox: Sandbox, pd: Pipedrive, control: Any) -> None:
    from decimal import Decimal

    deals = control.records("deals")
    deal = deals[0]["id"]
    app = sandbox.vendors["pipedrive"].app
    line = next(p for p in control.records("deal_products") if p["deal_id"] == deal)
    with app.lock:
        app.control_update("deal_products", str(line["id"]), {"fields": {
            "item_price": Decimal("99999999999999.99"), "quantity": 12345678901234567890123, "discount": Decimal("1E-7")}})
    raw = pd.get(f"/api/v2/deals/{deal}/products").content
    assert b'"item_price":99999999999999.99' in raw.replace(b" ", b"")
    assert b'"quantity":12345678901234567890123' in raw.replace(b" ", b"")
    batch = pd.body("/api/v2/deals/products", deal_ids=",".join(str(d["id"]) for d in deals[:3]))["data"]
    assert {p["deal_id"] for p in batch} <= {d["id"] for d in deals[:3]} and batch
    assert pd.get("/api/v2/deals/products").status_code == 400
    assert pd.get("/api/v2/deals/products", deal_ids=",".join(str(i) for i in range(101))).status_code == 400


def test_burst_limit_answers_429_with_rate_headers(pd: Pipedrive, control: Any) -> None:
    control.config(burst_limit=3)
    answers = [pd.get("/api/v2/products") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    for response in answers:
        assert all(name in response.headers for name in RATE_HEADERS)
    assert answers[2].headers["x-ratelimit-remaining"] == "0"
    throttled = answers[3]
    assert throttled.json()["success"] is False and throttled.json()["errorCode"] == 429
    assert 1 <= int(throttled.headers["x-ratelimit-reset"]) <= 2


def test_daily_token_budget(pd: Pipedrive, control: Any) -> None:
    control.config(daily_token_budget=25)
    assert pd.get("/api/v2/products").status_code == 200  # 10 tokens
    assert pd.get("/api/v2/products").headers["x-daily-ratelimit-token-remaining"] == "5"
    refused = pd.get("/api/v2/products")
    assert refused.status_code == 429 and refused.headers["x-daily-ratelimit-token-remaining"] == "0"
