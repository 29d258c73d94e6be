"""folk writes (people, companies, group objects), driven over HTTPS with requests: folk has no SDK."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox


class Writer:
    """requests with the bearer API key and the sandbox CA; answers parsed with exact numbers."""

    def __init__(self, sandbox: Sandbox) -> None:
        endpoint = sandbox.vendors["folk"]
        self.base = endpoint.base_url
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {endpoint.credentials['api_key']}"

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, f"{self.base}{path}", **kwargs)
        assert response.status_code == status, response.text
        return exact_json.loads(response.content)

    def all(self, path: str) -> list[dict[str, Any]]:
        return self.call("GET", path, params={"limit": 100})["data"]["items"]


@pytest.fixture
def folk(sandbox: Sandbox) -> Writer:
    return Writer(sandbox)


@pytest.fixture
def group(folk: Writer) -> str:
    return str(folk.call("GET", "/v1/groups")["data"]["items"][0]["id"])


def test_person_create_patch_delete_seen_by_the_next_snapshot(folk: Writer, group: str, sandbox: Sandbox) -> None:
    company = folk.all("/v1/companies")[0]
    created = folk.call("POST", "/v1/people", json={
        "firstName": "Anne", "lastName": "Martin", "emails": ["anne@example.fr"], "companies": [{"id": company["id"]}],
        "groups": [{"id": group}], "customFieldValues": {group: {"Role": "Acheteuse"}}})
    person = created["data"]
    assert created["deprecations"] == [] and person["id"].startswith("per_") and person["fullName"] == "Anne Martin"
    api_user = sandbox.vendors["folk"].control.records("users")[0]
    assert person["createdBy"]["id"] == api_user["id"] and person["companies"] == [
        {"id": company["id"], "name": company["name"]}]
    patched = folk.call("PATCH", f"/v1/people/{person['id']}", json={
        "jobTitle": "Directrice", "customFieldValues": {group: {"Role": None}}})["data"]
    assert patched["jobTitle"] == "Directrice" and patched["customFieldValues"][group] == {}
    assert patched["emails"] == ["anne@example.fr"]  # a PATCH leaves what it does not name
    snapshot = {p["id"]: p for p in folk.all("/v1/people")}
    assert snapshot[person["id"]]["jobTitle"] == "Directrice"
    twin = folk.call("POST", "/v1/people", json={"firstName": "Anne", "lastName": "Martin"})["data"]
    assert twin["id"] != person["id"]  # no idempotency
    assert folk.call("DELETE", f"/v1/people/{person['id']}") == {"data": {"id": person["id"]}, "deprecations": []}
    assert folk.call("GET", f"/v1/people/{person['id']}", 404)["error"]["code"] == "not_found"
    assert folk.call("PATCH", f"/v1/people/{person['id']}", 404, json={"jobTitle": "X"})["error"]["code"] == "not_found"


def test_company_custom_values_are_typed_and_exact(folk: Writer, group: str) -> None:
    company = folk.call("POST", "/v1/companies", json={
        "name": "Atelier Passerelle", "groups": [{"id": group}],
        "customFieldValues": {group: {"SIREN": "732829320", "Annual revenue": 1234567.89}}})["data"]
    assert company["customFieldValues"][group]["Annual revenue"] == Decimal("1234567.89")
    read = folk.call("GET", f"/v1/companies/{company['id']}")["data"]
    assert read["customFieldValues"][group] == {"SIREN": "732829320", "Annual revenue": Decimal("1234567.89")}
    merged = folk.call("PATCH", f"/v1/companies/{company['id']}",
                       json={"customFieldValues": {group: {"Customer type": "B2B"}}})["data"]
    assert merged["customFieldValues"][group]["SIREN"] == "732829320"
    assert merged["customFieldValues"][group]["Customer type"] == "B2B"


def test_validation_errors_use_the_folk_envelope(folk: Writer, group: str) -> None:
    cases = [
        ("/v1/companies", {"description": "no name"}),
        ("/v1/companies", {"name": "X", "customFieldValues": {group: {"SIREN": "1"}}}),  # not in the group
        ("/v1/companies", {"name": "X", "groups": [{"id": group}], "customFieldValues": {group: {"Nope": 1}}}),
        ("/v1/companies", {"name": "X", "groups": [{"id": group}],
                           "customFieldValues": {group: {"Annual revenue": "beaucoup"}}}),
        ("/v1/people", {"firstName": "A", "emails": ["not-an-email"]}),
        ("/v1/people", {"firstName": "A", "companies": [{"id": "com_missing"}]}),
        ("/v1/people", {"firstName": "A", "nickname": "a"}),
        ("/v1/people", {"jobTitle": "nameless"}),
    ]
    for path, body in cases:
        error = folk.call("POST", path, 400, json=body)["error"]
        assert error["code"] == "bad_request" and error["message"] and error["documentationUrl"], body
    assert folk.call("POST", "/v1/people", 400, data="{", headers={"Content-Type": "application/json"})["error"]
    assert folk.call("PUT", "/v1/people", 405)["error"]["code"] == "method_not_allowed"
    assert folk.call("POST", "/v1/notes/x", 404)["error"]["code"] == "not_found"


def test_group_objects_deals_lifecycle(folk: Writer, group: str) -> None:
    company = folk.all("/v1/companies")[0]
    deal = folk.call("POST", f"/v1/groups/{group}/Deals", json={
        "name": "Refonte", "companies": [{"id": company["id"]}],
        "customFieldValues": {"Status": "Active", "Deal value": "42000.50", "Close date": "2026-06-30"}})["data"]
    assert deal["id"].startswith("obj_") and deal["customFieldValues"]["Deal value"] == Decimal("42000.50")
    won = folk.call("PATCH", f"/v1/groups/{group}/Deals/{deal['id']}",
                    json={"customFieldValues": {"Status": "Won"}})["data"]
    assert won["customFieldValues"] == {"Status": "Won", "Deal value": Decimal("42000.50"), "Close date": "2026-06-30"}
    assert [d["id"] for d in folk.all(f"/v1/groups/{group}/Deals")] == [deal["id"]]
    bad = folk.call("PATCH", f"/v1/groups/{group}/Deals/{deal['id']}", 400,
                    json={"customFieldValues": {"Close date": "30/06/2026"}})
    assert bad["error"]["code"] == "bad_request"
    assert folk.call("POST", f"/v1/groups/{group}/Projects", 404, json={"name": "X"})["error"]["code"] == "not_found"
    assert folk.call("POST", "/v1/groups/grp_missing/Deals", 404, json={"name": "X"})["error"]["code"] == "not_found"
    folk.call("DELETE", f"/v1/groups/{group}/Deals/{deal['id']}")
    assert folk.call("GET", f"/v1/groups/{group}/Deals/{deal['id']}", 404)["error"]["code"] == "not_found"
    assert folk.all(f"/v1/groups/{group}/Deals") == []
    assert folk.call("GET", f"/v1/groups/{group}/custom-fields/company")["data"]["items"]  # reads still routed


def test_writes_count_against_the_rate_limit(folk: Writer, sandbox: Sandbox) -> None:
    sandbox.vendors["folk"].control.config(requests_per_window=1)
    first = folk.session.post(f"{folk.base}/v1/companies", json={"name": "Un"})
    assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "1"
    second = folk.session.post(f"{folk.base}/v1/companies", json={"name": "Deux"})
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
