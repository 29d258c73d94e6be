"""Contract test: HubSpot's own Python SDK (hubspot-api-client) reads and writes the HubSpot emulator.

The SDK builds its URLs, serializes its models and deserializes answers into typed models that refuse
missing required fields: if the emulator's paths, shapes, statuses or error bodies drifted from the
vendor's, these calls fail. The SDK talks through urllib3, not requests, so TLS is verified with its
own ``ssl_ca_cert`` setting pointed at the sandbox CA.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspot import Client
from hubspot.crm.associations.v4 import AssociationSpec as LinkSpec
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest, PublicFetchAssociationsBatchRequest
from hubspot.crm.companies import BatchInputSimplePublicObjectBatchInputUpsert as CompanyUpserts
from hubspot.crm.companies import BatchReadInputSimplePublicObjectId as CompanyBatchRead
from hubspot.crm.companies import SimplePublicObjectBatchInputUpsert as CompanyUpsert
from hubspot.crm.companies import SimplePublicObjectId as CompanyId
from hubspot.crm.companies import SimplePublicObjectInput as CompanyInput
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.companies.exceptions import ApiException as CompanyApiException
from hubspot.crm.deals import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.deals.exceptions import ApiException, NotFoundException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException
from hubspot.crm.properties import PropertyCreate

DEAL_TO_COMPANY = 5
OBJECTS = ("companies", "contacts", "deals", "line_items", "products")


def sdk(sandbox: Any, token: str) -> Client:
    endpoint = sandbox.vendors["hubspot"]
    return Client.create(access_token=token, host=endpoint.base_url, ssl_ca_cert=str(sandbox.ca_path))


@pytest.fixture
def client(sandbox: Any) -> Client:
    sandbox.vendors["hubspot"].control.config(enforce_rate_limits=False)
    return sdk(sandbox, sandbox.vendors["hubspot"].credentials["private_app_token"])


def error_body(exc: ApiException | OwnersApiException | CompanyApiException) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def test_sdk_authenticates_with_private_app_and_oauth_tokens(sandbox: Any) -> None:
    creds = sandbox.vendors["hubspot"].credentials
    anonymous = sdk(sandbox, "unused")
    tokens = anonymous.oauth.tokens_api.create(grant_type="refresh_token", client_id=creds["client_id"],
                                               client_secret=creds["client_secret"],
                                               refresh_token=creds["refresh_token"])
    assert tokens.token_type == "bearer" and tokens.expires_in > 0
    owners = sdk(sandbox, tokens.access_token).crm.owners.owners_api.get_page(limit=5).results
    assert owners and owners[0].email
    with pytest.raises(OwnersApiException) as refused:
        sdk(sandbox, "pat-eu1-wrong").crm.owners.owners_api.get_page()
    assert refused.value.status == 401 and error_body(refused.value)["category"] == "INVALID_AUTHENTICATION"


def test_sdk_pages_and_reads_every_object(client: Client, sandbox: Any) -> None:
    control = sandbox.vendors["hubspot"].control
    for name in OBJECTS:
        api = getattr(client.crm, name)
        seen: list[str] = []
        after = None
        while True:
            page = api.basic_api.get_page(limit=100, after=after)
            seen += [record.id for record in page.results]
            if page.paging is None:
                break
            after = page.paging.next.after
        assert sorted(seen, key=int) == sorted((r["id"] for r in control.records(name)), key=int), name
        first = api.basic_api.get_by_id(seen[0])
        assert first.id == seen[0] and first.properties["hs_object_id"] == seen[0]
    deals = client.crm.deals.basic_api.get_page(limit=5, associations=["companies"]).results
    linked = next(d for d in deals if d.associations)
    assert linked.associations["companies"].results[0].id
    owners = client.crm.owners.owners_api.get_page(limit=100).results
    assert client.crm.owners.owners_api.get_by_id(int(owners[0].id)).email == owners[0].email


def test_sdk_searches_pipelines_and_associations(client: Client, sandbox: Any) -> None:
    deals = sandbox.vendors["hubspot"].control.records("deals")
    pivot = sorted(d["properties"]["hs_lastmodifieddate"] for d in deals)[len(deals) // 2]
    search = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="hs_lastmodifieddate", operator="GTE", value=pivot)])],
        sorts=["hs_object_id"], properties=["dealname", "amount", "dealstage"], limit=200)
    found = client.crm.deals.search_api.do_search(search)
    expected = [d["id"] for d in deals if d["properties"]["hs_lastmodifieddate"] >= pivot]
    assert found.total == len(expected) and [r.id for r in found.results] == sorted(expected, key=int)[:200]
    pipelines = client.crm.pipelines.pipelines_api.get_all("deals").results
    assert pipelines and all(p.stages for p in pipelines)
    stages = client.crm.pipelines.pipeline_stages_api.get_all("deals", pipelines[0].id).results
    assert [s.id for s in stages] == [s.id for s in pipelines[0].stages]
    assert client.crm.pipelines.pipelines_api.get_by_id("deals", pipelines[0].id).label == pipelines[0].label
    deal = next(d for d in client.crm.deals.basic_api.get_page(limit=20, associations=["companies"]).results
                if d.associations)
    links = client.crm.associations.v4.basic_api.get_page("deals", deal.id, "companies").results
    assert [str(link.to_object_id) for link in links] == [r.id for r in deal.associations["companies"].results]
    assert links[0].association_types[0].type_id == DEAL_TO_COMPANY
    batch = client.crm.associations.v4.batch_api.get_page("deals", "companies", BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=deal.id)]))
    assert [str(t.to_object_id) for t in batch.results[0].to] == [str(link.to_object_id) for link in links]


def test_sdk_writes_a_company_and_a_deal_visible_to_the_next_incremental_read(client: Client, sandbox: Any) -> None:
    control = sandbox.vendors["hubspot"].control
    control.set_clock("2026-06-01T08:00:00Z")
    company = client.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Atelier Passerelle",
                                                                              "domain": "atelier.example.fr"}))
    deal = client.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"dealname": "Refonte atelier", "amount": "12500.50", "dealstage": "appointmentscheduled"},
        associations=[PublicAssociationsForObject(to=PublicObjectId(id=company.id), types=[
            AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=DEAL_TO_COMPANY)])]))
    assert deal.properties["pipeline"] == "default" and deal.properties["amount"] == "12500.50"
    assert control.record("deals", deal.id)["properties"]["dealname"] == "Refonte atelier"
    control.set_clock("2026-06-01T09:00:00Z")
    moved = client.crm.deals.basic_api.update(deal.id, SimplePublicObjectInput(properties={"dealstage": "closedwon"}))
    assert moved.properties["dealstage"] == "closedwon" and moved.updated_at > deal.updated_at
    since = PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=[
        Filter(property_name="hs_lastmodifieddate", operator="GTE", value="2026-06-01T08:30:00Z")])])
    assert [r.id for r in client.crm.deals.search_api.do_search(since).results] == [deal.id]
    links = client.crm.associations.v4.basic_api.get_page("deals", deal.id, "companies").results
    assert [str(link.to_object_id) for link in links] == [company.id]
    contact = control.records("contacts")[0]["id"]
    default = client.crm.associations.v4.basic_api.create_default("deals", deal.id, "contacts", contact)
    assert default.status == "COMPLETE" and {r.to.id for r in default.results} == {contact, deal.id}
    typed = client.crm.associations.v4.basic_api.create("companies", company.id, "contacts", contact,
                                                        [LinkSpec(association_category="HUBSPOT_DEFINED",
                                                                  association_type_id=2)])
    assert typed.from_object_type_id == "0-2" and str(typed.to_object_id) == contact
    client.crm.associations.v4.basic_api.archive("deals", deal.id, "contacts", contact)
    assert client.crm.associations.v4.basic_api.get_page("deals", deal.id, "contacts").results == []
    client.crm.deals.basic_api.archive(deal.id)
    with pytest.raises(NotFoundException):
        client.crm.deals.basic_api.get_by_id(deal.id)
    assert client.crm.deals.basic_api.get_by_id(deal.id, archived=True).archived is True


def test_sdk_batch_creates_updates_and_archives_deals(client: Client, sandbox: Any) -> None:
    control = sandbox.vendors["hubspot"].control
    created = client.crm.deals.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"dealname": f"Lot {n}", "amount": str(100 * n)},
                                              object_write_trace_id=f"lot-{n}")
        for n in range(1, 4)]))
    assert created.status == "COMPLETE" and [r.object_write_trace_id for r in created.results] == ["lot-1", "lot-2", "lot-3"]
    ids = [r.id for r in created.results]
    updated = client.crm.deals.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=record_id, properties={"amount": "999.99"}) for record_id in ids]))
    assert {r.properties["amount"] for r in updated.results} == {"999.99"}
    partial = client.crm.deals.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=ids[0], properties={"dealname": "Lot un"}),
        SimplePublicObjectBatchInput(id="999999", properties={"dealname": "nobody"})]))
    assert partial.num_errors == 1 and partial.errors[0].context == {"ids": ["999999"]}
    assert control.record("deals", ids[0])["properties"]["dealname"] == "Lot un"
    client.crm.deals.batch_api.archive(BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in ids]))
    live = {r["id"] for r in control.records("deals")}
    assert not live & set(ids)


def test_sdk_sees_hubspot_validation_not_found_and_rate_limit_errors(client: Client, sandbox: Any) -> None:
    deal = sandbox.vendors["hubspot"].control.records("deals")[0]["id"]
    with pytest.raises(ApiException) as invalid:
        client.crm.deals.basic_api.update(deal, SimplePublicObjectInput(
            properties={"amount": "douze", "no_such_property": "x", "dealstage": "nowhere"}))
    body = error_body(invalid.value)
    assert invalid.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert {(e["code"], e["context"]["propertyName"][0]) for e in body["errors"]} == {
        ("INVALID_FLOAT", "amount"), ("PROPERTY_DOESNT_EXIST", "no_such_property"), ("INVALID_OPTION", "dealstage")}
    assert body["message"].startswith("Property values were not valid: ")
    with pytest.raises(NotFoundException) as missing:
        client.crm.deals.basic_api.get_by_id("999999")
    assert error_body(missing.value)["category"] == "OBJECT_NOT_FOUND"
    sandbox.vendors["hubspot"].control.config(enforce_rate_limits=True, burst_limit=0, retry_after_seconds=2)
    with pytest.raises(ApiException) as throttled:
        client.crm.deals.basic_api.get_page()
    assert throttled.value.status == 429 and throttled.value.headers["Retry-After"] == "2"
    assert error_body(throttled.value)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert error_body(throttled.value)["errorType"] == "RATE_LIMIT"


def test_sdk_upserts_reads_and_updates_companies_by_a_unique_property(client: Client, sandbox: Any) -> None:
    control = sandbox.vendors["hubspot"].control
    made = client.crm.properties.core_api.create("companies", PropertyCreate(
        name="passerelle_key", label="Clé Passerelle", type="string", field_type="text",
        group_name="companyinformation", has_unique_value=True))
    assert made.has_unique_value is True
    first, second = (r["id"] for r in control.records("companies")[:2])
    client.crm.companies.basic_api.update(first, CompanyInput(properties={"passerelle_key": "K-1"}))
    control.advance(60)
    upserted = client.crm.companies.batch_api.upsert(CompanyUpserts(inputs=[
        CompanyUpsert(id_property="passerelle_key", id="K-1", properties={"name": "Mise à jour"}),
        CompanyUpsert(id_property="passerelle_key", id="K-2", properties={"name": "Nouvelle"})]))
    assert upserted.status == "COMPLETE"
    by_key = {r.properties["passerelle_key"]: r for r in upserted.results}
    assert (by_key["K-1"].new, by_key["K-1"].id, by_key["K-2"].new) == (False, first, True)
    assert by_key["K-1"].updated_at > by_key["K-1"].created_at
    read = client.crm.companies.basic_api.get_by_id("K-2", properties=["name"], id_property="passerelle_key")
    assert (read.id, read.properties["name"]) == (by_key["K-2"].id, "Nouvelle")
    renamed = client.crm.companies.basic_api.update("K-2", CompanyInput(properties={"name": "Renommée"}),
                                                    id_property="passerelle_key")
    assert renamed.id == by_key["K-2"].id and renamed.properties["name"] == "Renommée"
    batch = client.crm.companies.batch_api.read(CompanyBatchRead(
        id_property="passerelle_key", inputs=[CompanyId(id="K-1"), CompanyId(id="K-2")], properties=["name"]))
    assert sorted(r.properties["name"] for r in batch.results) == ["Mise à jour", "Renommée"]
    with pytest.raises(CompanyApiException) as taken:
        client.crm.companies.basic_api.update(second, CompanyInput(properties={"passerelle_key": "K-1"}))
    assert taken.value.status == 409 and error_body(taken.value)["message"] == (
        f"Company already exists. Existing ID: {first}")
    with pytest.raises(CompanyApiException) as by_domain:
        client.crm.companies.batch_api.upsert(CompanyUpserts(inputs=[
            CompanyUpsert(id_property="domain", id="exemple.fr", properties={"name": "x"})]))
    assert by_domain.value.status == 400 and error_body(by_domain.value)["category"] == "VALIDATION_ERROR"
    assert "non-unique 0-2 property domain" in error_body(by_domain.value)["message"]
