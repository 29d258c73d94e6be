"""Contract test: Pipedrive's own Python SDK (pipedrive-python-lib, API v1) reads the emulator.

The SDK builds its URLs, sends the API token as ``api_token`` and parses answers and errors its own
way: if the emulator's v1 paths, paging or error bodies drifted from the vendor's, these calls fail.
It verifies TLS through ``REQUESTS_CA_BUNDLE`` (it passes no ``verify``), pointed at the sandbox CA.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pipedrive.client import Client
from pipedrive.exceptions import BadRequestError, NotFoundError, TooManyRequestsError, UnauthorizedError


@pytest.fixture
def client(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_path))
    endpoint = sandbox.vendors["pipedrive"]
    sdk = Client(domain=endpoint.base_url)
    sdk.set_api_token(endpoint.credentials["api_token"])
    return sdk


def test_sdk_lists_and_reads_every_entity(client: Client, sandbox: Any) -> None:
    control = sandbox.vendors["pipedrive"].control
    orgs = client.organizations.get_all_organizations(params={"start": 0, "limit": 500})
    assert orgs["success"] is True and len(orgs["data"]) == len(control.records("organizations"))
    assert orgs["additional_data"]["pagination"]["more_items_in_collection"] is False
    first = client.organizations.get_organization(orgs["data"][0]["id"])["data"]
    fields = client.organizations.get_organization_fields()["data"]
    siren = next(f["key"] for f in fields if f["name"] == "SIREN")
    assert len(siren) == 40 and siren in first
    page = client.persons.get_all_persons(params={"start": 0, "limit": 10})
    assert len(page["data"]) == 10 and page["additional_data"]["pagination"]["next_start"] == 10
    deal = client.deals.get_all_deals(params={"limit": 500})["data"][0]
    products = client.deals.get_deal_products(deal["id"])["data"]
    assert {p["deal_id"] for p in products} == {deal["id"]}
    assert client.products.get_all_products()["data"] and client.users.get_all_users()["data"]
    assert client.deals.get_deal_fields()["data"] and client.persons.get_person_fields()["data"]


def test_sdk_reads_recent_changes(client: Client, sandbox: Any) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.set_clock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    person = control.records("persons")[0]["id"]
    control.delete("persons", str(person))
    recents = client.recents.get_recent_changes(params={"since_timestamp": "2026-03-02 08:00:00", "items": "person"})
    assert recents["data"] == [{"item": "person", "id": person, "data": None}]
    assert recents["additional_data"]["last_timestamp_on_page"] == "2026-03-02 09:00:00"


def test_sdk_maps_the_emulator_errors(client: Client, sandbox: Any) -> None:
    with pytest.raises(NotFoundError):
        client.deals.get_deal(999_999)
    sandbox.vendors["pipedrive"].control.config(burst_limit=0)
    with pytest.raises(TooManyRequestsError):
        client.users.get_all_users()
    client.set_api_token("wrong")
    with pytest.raises(UnauthorizedError, match="unauthorized access"):
        client.users.get_all_users()


def test_sdk_creates_updates_and_deletes_records(client: Client, sandbox: Any) -> None:
    control = sandbox.vendors["pipedrive"].control
    control.set_clock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    org = client.organizations.create_organization({"name": "Atelier Passerelle"})["data"]
    assert org["active_flag"] is True and org["add_time"] == "2026-03-02 09:00:00"
    siren = next(f["key"] for f in client.organizations.get_organization_fields()["data"] if f["name"] == "SIREN")
    updated = client.organizations.update_organization(org["id"], {siren: "732829320"})["data"]
    assert updated[siren] == "732829320" and updated["update_time"] > org["update_time"]
    person = client.persons.create_person({"name": "Anne Martin", "org_id": org["id"], "email": "anne@example.fr"})
    assert person["data"]["email"][0]["value"] == "anne@example.fr"
    deal = client.deals.create_deal({"title": "Refonte", "org_id": org["id"], "person_id": person["data"]["id"]})
    deal_id = deal["data"]["id"]
    twin = client.deals.create_deal({"title": "Refonte", "org_id": org["id"]})["data"]
    assert twin["id"] != deal_id  # no idempotency: a repeated create is a second deal
    product = client.products.get_all_products()["data"][0]
    line = client.deals.add_product_to_deal(deal_id, {"product_id": product["id"], "item_price": 120.5,
                                                      "quantity": 3})["data"]
    assert line["sum"] == 361.5 and line["deal_id"] == deal_id
    won = client.deals.update_deal(deal_id, {"status": "won"})["data"]
    assert won["status"] == "won" and won["value"] == 361.5 and won["won_time"] == won["update_time"]
    flow = client.deals.get_deal_updates(deal_id)["data"]
    change = next(item["data"] for item in flow if item["data"]["field_key"] == "status")
    assert change["change_source"] == "api" and change["new_value"] == "won"
    assert change["user_id"] == min(u["id"] for u in control.records("users"))
    assert client.deals.delete_deal(twin["id"]) == {"success": True, "data": {"id": twin["id"]}}
    with pytest.raises(NotFoundError):
        client.deals.update_deal(twin["id"], {"title": "late"})
    assert client.persons.delete_person(person["data"]["id"])["success"] is True
    assert client.organizations.delete_organization(org["id"])["success"] is True


def test_sdk_writes_notes_and_activities(client: Client, sandbox: Any) -> None:
    deal_id = client.deals.get_all_deals(params={"limit": 1})["data"][0]["id"]
    note = client.notes.create_note({"content": "<p>Projet ouvert</p>", "deal_id": deal_id})["data"]
    assert note["deal_id"] == deal_id and note["user_id"] == note["last_update_user_id"]
    assert client.notes.update_note(note["id"], {"content": "<p>Projet livré</p>"})["data"]["content"] == \
        "<p>Projet livré</p>"
    assert [n["id"] for n in client.notes.get_all_notes(params={"deal_id": deal_id})["data"]] == [note["id"]]
    assert client.notes.delete_note(note["id"])["success"] is True
    with pytest.raises(NotFoundError):
        client.notes.get_note(note["id"])
    activity = client.activities.create_activity({"subject": "Kick-off", "type": "meeting", "deal_id": deal_id,
                                                  "due_date": "2026-03-10"})["data"]
    done = client.activities.update_activity(activity["id"], {"done": True})["data"]
    assert done["done"] is True and done["subject"] == "Kick-off" and done["due_date"] == "2026-03-10"
    assert client.activities.get_activity(activity["id"])["data"]["deal_id"] == deal_id
    assert client.activities.delete_activity(activity["id"])["success"] is True


def test_sdk_maps_write_errors(client: Client, sandbox: Any) -> None:
    with pytest.raises(BadRequestError, match="Title is required"):
        client.deals.create_deal({"value": 10})
    with pytest.raises(BadRequestError, match="Organization with id 999999 not found"):
        client.persons.create_person({"name": "X", "org_id": 999_999})
    deal_id = client.deals.get_all_deals(params={"limit": 1})["data"][0]["id"]
    with pytest.raises(BadRequestError, match="Content is required"):
        client.notes.create_note({"deal_id": deal_id})
    with pytest.raises(NotFoundError):
        client.deals.add_product_to_deal(999_999, {"product_id": 1, "item_price": 1, "quantity": 1})
    sandbox.vendors["pipedrive"].control.config(cost_write=2_000_000)  # a write now costs more than the budget
    assert client.users.get_all_users()["success"] is True
    with pytest.raises(TooManyRequestsError, match="Daily API token budget exceeded"):
        client.organizations.create_organization({"name": "Budget"})
