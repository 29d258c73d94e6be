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
from pipedrive.exceptions import NotFoundError, TooManyRequestsError, UnauthorizedError


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
