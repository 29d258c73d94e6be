"""The folk emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox, VendorEndpoint

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


class Folk:
    """Minimal folk HTTP client: base URL, bearer API key and the sandbox CA."""

    def __init__(self, endpoint: VendorEndpoint, ca_path: Any, headers: dict[str, str] | None = None) -> None:
        self.base = endpoint.base_url
        self.session = requests.Session()
        self.session.verify = str(ca_path)
        self.session.trust_env = False
        self.headers = {"Authorization": f"Bearer {endpoint.credentials['api_key']}"} if headers is None else headers

    def get(self, path: str, **params: Any) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.base}{path}"
        return self.session.get(url, params=params, headers=self.headers)

    def body(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return exact_json.loads(response.content)


@pytest.fixture
def folk(sandbox: Sandbox) -> Folk:
    return Folk(sandbox.vendors["folk"], sandbox.ca_path)


@pytest.fixture
def control(sandbox: Sandbox) -> Any:
    return sandbox.vendors["folk"].control


def all_items(folk: Folk, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    body = folk.body(path, **params)
    while True:
        items.extend(body["data"]["items"])
        link = body["data"]["pagination"].get("nextLink")
        if link is None:
            return items
        body = folk.body(link)


def test_auth_refused_with_folk_envelope(sandbox: Sandbox, folk: Folk) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
        response = Folk(sandbox.vendors["folk"], sandbox.ca_path, headers).get("/v1/companies")
        error = response.json()["error"]
        assert response.status_code == 401
        assert error["code"] == "unauthorized" and error["message"] and error["requestId"] and error["timestamp"]
        assert error["documentationUrl"].startswith("https://developer.folk.app/")
    assert folk.get("/v1/companies").status_code == 200


def test_cursor_paging_by_offset_with_next_link(folk: Folk, control: Any) -> None:
    control.config(enforce_rate_limits=False)
    control.bulk("people", create=130)
    total = len(control.records("people"))
    first = folk.body("/v1/people")
    assert len(first["data"]["items"]) == 20  # the default limit
    link = first["data"]["pagination"]["nextLink"]
    assert link.startswith(folk.base + "/v1/people?limit=20&cursor=")
    cursor = parse_qs(urlsplit(link).query)["cursor"][0]
    assert json.loads(base64.b64decode(cursor)) == {"offset": 20}
    ids = [p["id"] for p in all_items(folk, "/v1/people", limit=100)]
    assert len(ids) == len(set(ids)) == total and all(i.startswith("per_") for i in ids)
    near_end = base64.b64encode(json.dumps({"offset": total - 5}).encode()).decode()
    last = folk.body("/v1/people", limit=100, cursor=near_end)["data"]
    assert len(last["items"]) == 5 and "nextLink" not in last["pagination"]
    for bad in ({"limit": 101}, {"limit": 0}, {"cursor": "not-a-cursor"}):
        response = folk.get("/v1/people", **bad)
        assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_no_modification_time_and_hard_deletes(folk: Folk, control: Any) -> None:
    company = folk.body("/v1/companies", limit=1)["data"]["items"][0]
    assert not {"updatedAt", "modifiedAt", "updated_at"} & set(company) and company["createdAt"].endswith("Z")
    control.delete("companies", company["id"])
    assert company["id"] not in {c["id"] for c in all_items(folk, "/v1/companies", limit=100)}
    gone = folk.get(f"/v1/companies/{company['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_group_custom_fields_and_exact_numbers(sandbox: Sandbox, folk: Folk) -> None:
    groups = folk.body("/v1/groups")["data"]["items"]
    group = next(g for g in groups if g["name"] == "Clients")
    assert group["id"].startswith("grp_")
    fields = folk.body(f"/v1/groups/{group['id']}/custom-fields/company")["data"]["items"]
    assert {f["name"] for f in fields} == {"SIREN", "SIRET", "VAT number", "E-invoicing address", "Customer type",
                                           "Annual revenue"}
    assert folk.get(f"/v1/groups/{group['id']}/custom-fields/deal").status_code == 400
    company = next(c for c in all_items(folk, "/v1/companies", limit=100)
                   if c["customFieldValues"][group["id"]]["SIREN"])
    values = company["customFieldValues"][group["id"]]
    assert len(values["SIREN"]) == 9 and values["SIRET"].startswith(values["SIREN"])
    app = sandbox.vendors["folk"].app
    with app.lock:
        app.control_update("companies", company["id"], {"fields": {
            "customFieldValues": {"Annual revenue": Decimal("99999999999999.99")}}})
    raw = folk.get(f"/v1/companies/{company['id']}").content.replace(b" ", b"")
    assert b'"Annualrevenue":99999999999999.99' in raw


def test_rate_limit_answers_429_with_retry_after(folk: Folk, control: Any) -> None:
    control.config(requests_per_window=3, window_seconds=2.0)
    answers = [folk.get("/v1/users") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert all(name in r.headers for r in answers for name in RATE_HEADERS)
    assert answers[2].headers["X-RateLimit-Remaining"] == "0" and answers[0].headers["X-RateLimit-Limit"] == "3"
    throttled = answers[3]
    wait = int(throttled.headers["Retry-After"])
    assert 1 <= wait <= 2 and throttled.json()["error"]["details"]["retryAfter"] == wait
    assert int(throttled.headers["X-RateLimit-Reset"]) >= int(time.time())
    time.sleep(wait)
    assert folk.get("/v1/users").status_code == 200
