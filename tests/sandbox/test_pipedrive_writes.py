"""Pipedrive writes (API v2, and what the v1 SDK cannot send), driven over HTTPS with requests."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests

from passerelle import exact_json
from passerelle_sandbox.server import Sandbox

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Writer:
    """requests with the API token header and the sandbox CA; answers parsed with exact numbers."""

    def __init__(self, sandbox: Sandbox) -> None:
        endpoint = sandbox.vendors["pipedrive"]
        self.base = endpoint.base_url
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False
        self.session.headers["x-api-token"] = endpoint.credentials["api_token"]

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, f"{self.base}{path}", **kwargs)
        assert response.status_code == status, response.text
        return exact_json.loads(response.content)


@pytest.fixture
def pd(sandbox: Sandbox) -> Writer:
    sandbox.vendors["pipedrive"].control.set_clock(DAY)
    return Writer(sandbox)


def test_v2_deal_create_update_is_seen_by_the_next_incremental_read(pd: Writer) -> None:
    org = pd.call("POST", "/api/v2/organizations", json={"name": "Atelier Passerelle"})["data"]
    deal = pd.call("POST", "/api/v2/deals", json={"title": "Refonte", "org_id": org["id"], "value": "1250.10",
                                                  "currency": "EUR"})["data"]
    assert deal["value"] == Decimal("1250.10") and deal["status"] == "open"
    assert deal["add_time"] == "2026-03-02T09:00:00Z"
    first = pd.call("PATCH", f"/api/v2/deals/{deal['id']}", json={"stage_id": 2})["data"]
    second = pd.call("PATCH", f"/api/v2/deals/{deal['id']}", json={"status": "lost", "lost_reason": "Prix"})["data"]
    assert deal["update_time"] < first["update_time"] < second["update_time"]  # ordered even within one second
    assert first["stage_change_time"] == first["update_time"] and second["title"] == "Refonte"
    changed = pd.call("GET", "/api/v2/deals", params={"updated_since": first["update_time"], "status": "lost"})["data"]
    assert [d["id"] for d in changed] == [deal["id"]] and changed[0]["lost_time"] == second["update_time"]
    recents = pd.call("GET", "/v1/recents", params={"since_timestamp": "2026-03-02 09:00:00", "items": "deal"})
    assert [r["id"] for r in recents["data"]] == [deal["id"]]
    twin = pd.call("POST", "/api/v2/deals", json={"title": "Refonte", "org_id": org["id"]})["data"]
    assert twin["id"] != deal["id"]  # no idempotency on create


def test_v2_custom_field_created_with_a_hash_key_then_written(pd: Writer) -> None:
    field = pd.call("POST", "/api/v2/dealFields", json={"field_name": "Avancement projet", "field_type": "double"})
    code = field["data"]["field_code"]
    assert len(code) == 40 and int(code, 16) >= 0 and field["data"]["is_custom_field"] is True
    listed = pd.call("GET", "/api/v2/dealFields")["data"]
    assert any(f["field_code"] == code and f["field_name"] == "Avancement projet" for f in listed)
    again = pd.call("POST", "/api/v2/dealFields", json={"field_name": "Avancement projet", "field_type": "double"})
    assert again["data"]["field_code"] != code
    deal = pd.call("POST", "/api/v2/deals", json={"title": "Projet", "custom_fields": {code: 42.5}})["data"]
    assert deal["custom_fields"][code] == Decimal("42.5")
    read = pd.call("GET", f"/api/v2/deals/{deal['id']}", params={"custom_fields": code})["data"]
    assert read["custom_fields"] == {code: Decimal("42.5")}
    v1 = pd.call("GET", f"/v1/deals/{deal['id']}")["data"]
    assert v1[code] == Decimal("42.5")
    bad = pd.call("PATCH", f"/api/v2/deals/{deal['id']}", 400, json={"custom_fields": {code: "beaucoup"}})
    assert bad["success"] is False and "must be a number" in bad["error"]
    unknown = pd.call("PATCH", f"/api/v2/deals/{deal['id']}", 400, json={"custom_fields": {"f" * 40: 1}})
    assert "Unknown custom field" in unknown["error"] and unknown["errorCode"] == 400
    wrong_type = pd.call("POST", "/api/v2/dealFields", 400, json={"field_name": "X", "field_type": "percent"})
    assert wrong_type["success"] is False


def test_v2_validation_errors_keep_the_pipedrive_body(pd: Writer) -> None:
    missing = pd.call("POST", "/api/v2/deals", 400, json={"value": 10})
    assert missing == {**missing, "success": False, "error": "Title is required", "errorCode": 400, "data": None}
    assert pd.call("POST", "/api/v2/deals", 400, json={"title": "X", "status": "deleted"})["success"] is False
    assert pd.call("POST", "/api/v2/deals", 400, json={"title": "X", "stage_id": 99})["success"] is False
    assert pd.call("POST", "/api/v2/persons", 400, json={"name": "X", "nickname": "y"})["success"] is False
    assert pd.call("POST", "/api/v2/deals", 400, data="{", headers={"Content-Type": "application/json"})
    assert pd.call("PATCH", "/api/v2/deals/999999", 404, json={"title": "X"})["error"] == "Deal not found"
    assert pd.call("POST", "/api/v2/leads/1", 404)["success"] is False  # unknown path: the vendor's 404 body


def test_v2_delete_then_update_is_a_404_and_the_deal_reads_as_deleted(pd: Writer) -> None:
    deal = pd.call("POST", "/api/v2/deals", json={"title": "Jetable"})["data"]
    assert pd.call("DELETE", f"/api/v2/deals/{deal['id']}") == {"success": True, "data": {"id": deal["id"]}}
    assert pd.call("PATCH", f"/api/v2/deals/{deal['id']}", 404, json={"title": "X"})["success"] is False
    assert pd.call("DELETE", f"/api/v2/deals/{deal['id']}", 404)["success"] is False
    deleted = pd.call("GET", "/api/v2/deals", params={"status": "deleted", "ids": str(deal["id"])})["data"]
    assert [d["status"] for d in deleted] == ["deleted"]
    person = pd.call("POST", "/api/v2/persons", json={"name": "Anne", "emails": [{"value": "a@x.fr"}]})["data"]
    pd.call("DELETE", f"/api/v2/persons/{person['id']}")
    assert pd.call("GET", f"/api/v2/persons/{person['id']}")["data"]["is_deleted"] is True


def test_v2_deal_products_single_bulk_update_and_delete_revalue_the_deal(pd: Writer) -> None:
    deal = pd.call("POST", "/api/v2/deals", json={"title": "Lignes"})["data"]
    product = pd.call("GET", "/api/v2/products", params={"limit": 1})["data"][0]["id"]
    line = {"product_id": product, "item_price": "100.10", "quantity": 2}
    one = pd.call("POST", f"/api/v2/deals/{deal['id']}/products", 201, json=line)["data"]
    assert one["sum"] == Decimal("200.20")
    bulk = pd.call("POST", f"/api/v2/deals/{deal['id']}/products/bulk", 201,
                   json={"data": [{**line, "discount": 10}, {**line, "quantity": 1}]})["data"]
    assert [b["sum"] for b in bulk] == [Decimal("180.18"), Decimal("100.10")]
    assert pd.call("GET", f"/api/v2/deals/{deal['id']}")["data"]["value"] == Decimal("480.48")
    too_many = pd.call("POST", f"/api/v2/deals/{deal['id']}/products/bulk", 400, json={"data": [line] * 101})
    assert "at most 100" in too_many["error"]
    changed = pd.call("PATCH", f"/api/v2/deals/{deal['id']}/products/{one['id']}", json={"quantity": 1})["data"]
    assert changed["sum"] == Decimal("100.10")
    pd.call("DELETE", f"/api/v2/deals/{deal['id']}/products/{bulk[1]['id']}")
    after = pd.call("GET", f"/api/v2/deals/{deal['id']}")["data"]
    assert after["value"] == Decimal("280.28") and after["update_time"] > deal["update_time"]
    missing = pd.call("POST", f"/api/v2/deals/{deal['id']}/products", 400, json={"product_id": product})
    assert missing["success"] is False and missing["error"] == "item_price is required"


def test_v2_activities_carry_the_api_user(pd: Writer, sandbox: Sandbox) -> None:
    api_user = min(u["id"] for u in sandbox.vendors["pipedrive"].control.records("users"))
    deal = pd.call("POST", "/api/v2/deals", json={"title": "Suivi"})["data"]
    assert deal["creator_user_id"] == api_user
    activity = pd.call("POST", "/api/v2/activities", json={"subject": "Appel", "type": "call", "deal_id": deal["id"]})
    done = pd.call("PATCH", f"/api/v2/activities/{activity['data']['id']}", json={"done": True})["data"]
    assert done["done"] is True and done["update_user_id"] == api_user and done["update_time"] > done["add_time"]
    pd.call("DELETE", f"/api/v2/activities/{done['id']}")
    assert pd.call("GET", f"/api/v2/activities/{done['id']}", 404)["success"] is False


def test_writes_cost_tokens_and_report_rate_headers(pd: Writer, sandbox: Sandbox) -> None:
    read = pd.session.get(f"{pd.base}/api/v2/deals/{pd.call('GET', '/api/v2/deals')['data'][0]['id']}")
    before = int(read.headers["x-daily-ratelimit-token-remaining"])
    write = pd.session.post(f"{pd.base}/api/v2/organizations", json={"name": "Coût"})
    assert write.status_code == 200 and int(write.headers["x-daily-ratelimit-token-remaining"]) == before - 10
    assert int(write.headers["x-ratelimit-remaining"]) >= 0
    sandbox.vendors["pipedrive"].control.config(burst_limit=0)
    refused = pd.session.patch(f"{pd.base}/api/v2/organizations/{write.json()['data']['id']}", json={"name": "X"})
    assert refused.status_code == 429 and refused.json()["success"] is False
    assert refused.headers["x-ratelimit-remaining"] == "0"


def test_v1_field_created_then_written_at_the_top_level(pd: Writer) -> None:
    field = pd.call("POST", "/v1/dealFields", 201, json={"name": "Heures saisies", "field_type": "double"})["data"]
    assert len(field["key"]) == 40 and field["edit_flag"] is True
    assert any(f["key"] == field["key"] for f in pd.call("GET", "/v1/dealFields", params={"limit": 500})["data"])
    deal = pd.call("POST", "/v1/deals", 201, json={"title": "Heures", field["key"]: "12.25"})["data"]
    assert deal[field["key"]] == Decimal("12.25")
    v2 = pd.call("GET", f"/api/v2/deals/{deal['id']}")["data"]
    assert v2["custom_fields"][field["key"]] == Decimal("12.25")
    enum = pd.call("POST", "/v1/dealFields", 400, json={"name": "Phase", "field_type": "enum"})
    assert enum["error"] == "options are required for enum and set fields"
