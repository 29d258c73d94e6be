"""HubSpot emulator writes driven over HTTPS: the rules the SDK contract test does not reach."""

from __future__ import annotations

import re
from typing import Any

import requests

from passerelle_sandbox.server import Sandbox
from tests.sandbox.test_hubspot_emulator import HubSpot


def call(api: HubSpot, method: str, path: str, body: Any = None) -> requests.Response:
    return api.session.request(method, f"{api.base}{path}", json=body, headers={"Authorization": f"Bearer {api.token}"})


def test_read_only_properties_and_bad_dates_fail_the_whole_create(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    before = len(sandbox.hubspot.control.records("deals"))
    answer = call(api, "POST", "/crm/v3/objects/deals", {"properties": {
        "dealname": "x", "hs_object_id": "1", "closedate": "demain"}})
    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR" and body["correlationId"]
    assert {(e["code"], e["context"]["propertyName"][0]) for e in body["errors"]} == {
        ("READ_ONLY_VALUE", "hs_object_id"), ("INVALID_DATE", "closedate")}
    assert len(sandbox.hubspot.control.records("deals")) == before


def test_create_normalizes_dates_and_refuses_unknown_association_targets(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    created = call(api, "POST", "/crm/v3/objects/deals", {"properties": {
        "dealname": "Daté", "closedate": "1780000000000"}})
    assert created.status_code == 201 and created.json()["properties"]["closedate"].startswith("2026-05-28T")
    refused = call(api, "POST", "/crm/v3/objects/deals", {"properties": {"dealname": "orphan"}, "associations": [
        {"to": {"id": "1"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}]}]})
    assert refused.status_code == 400 and refused.json()["context"] == {"toObjectId": ["1"]}


def test_archive_is_idempotent_and_updates_of_archived_records_are_404(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    company = sandbox.hubspot.control.records("companies")[0]["id"]
    assert call(api, "DELETE", f"/crm/v3/objects/companies/{company}").status_code == 204
    assert call(api, "DELETE", f"/crm/v3/objects/companies/{company}").status_code == 204
    stale = call(api, "PATCH", f"/crm/v3/objects/companies/{company}", {"properties": {"name": "late"}})
    assert stale.status_code == 404 and stale.json()["category"] == "OBJECT_NOT_FOUND"
    archived = api.get(f"/crm/v3/objects/companies/{company}", archived="true").json()
    assert archived["archived"] is True and archived["archivedAt"]


def test_batches_over_100_inputs_and_unknown_paths_answer_hubspot_bodies(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    many = call(api, "POST", "/crm/v3/objects/deals/batch/create",
                {"inputs": [{"properties": {"dealname": str(n)}} for n in range(101)]})
    assert many.status_code == 400 and "100" in many.json()["message"]
    unknown = call(api, "GET", "/crm/v4/objects/deals/1/nowhere")
    assert unknown.status_code == 404 and unknown.json()["category"] == "OBJECT_NOT_FOUND"
    deal = sandbox.hubspot.control.records("deals")[0]["id"]
    bad_type = call(api, "PUT", f"/crm/v4/objects/deals/{deal}/associations/contacts/{deal}",
                    [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}])
    assert bad_type.status_code == 404 and bad_type.json()["context"] == {"id": [deal]}


def test_a_new_link_moves_both_records_modification_dates(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    control.set_clock("2026-07-01T10:00:00Z")
    deal = control.records("deals")[0]["id"]
    contact = control.records("contacts")[0]["id"]
    linked = call(HubSpot(sandbox), "PUT", f"/crm/v4/objects/deals/{deal}/associations/contacts/{contact}",
                  [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}])
    assert linked.status_code == 201 and linked.json()["labels"] == []
    assert control.record("deals", deal)["properties"]["hs_lastmodifieddate"] == "2026-07-01T10:00:00.000Z"
    assert control.record("contacts", contact)["properties"]["lastmodifieddate"] == "2026-07-01T10:00:00.000Z"


def test_tickets_need_a_stage_of_their_pipeline_and_closing_one_stamps_it(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    stages = api.get("/crm/v3/pipelines/tickets").json()["results"][0]["stages"]
    closed = [s["id"] for s in stages if s["metadata"]["ticketState"] == "CLOSED"]
    assert closed and len(closed) < len(stages)
    missing = call(api, "POST", "/crm/v3/objects/tickets", {"properties": {"subject": "Sans étape"}})
    assert missing.status_code == 400
    assert [e["code"] for e in missing.json()["errors"]] == ["REQUIRED_PROPERTY"]
    wrong = call(api, "POST", "/crm/v3/objects/tickets", {"properties": {"subject": "x", "hs_pipeline_stage": "99"}})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["context"] == {"propertyName": ["hs_pipeline_stage"]}
    deal = sandbox.hubspot.control.records("deals")[0]["id"]
    made = call(api, "POST", "/crm/v3/objects/tickets", {"properties": {"subject": "Demande", "hs_pipeline_stage": "1"},
                                                          "associations": [{"to": {"id": deal}, "types": [
                                                              {"associationCategory": "HUBSPOT_DEFINED",
                                                               "associationTypeId": 28}]}]})
    assert made.status_code == 201 and made.json()["properties"]["hs_pipeline"] == "0"
    ticket = made.json()
    assert not ticket["properties"].get("closed_date")
    sandbox.hubspot.control.advance(60)
    moved = call(api, "PATCH", f"/crm/v3/objects/tickets/{ticket['id']}",
                 {"properties": {"hs_pipeline_stage": closed[0]}}).json()
    assert moved["properties"]["closed_date"] and moved["updatedAt"] > ticket["updatedAt"]
    assert moved["properties"]["hs_lastmodifieddate"] == moved["updatedAt"]
    listed = api.get("/crm/v3/objects/tickets", associations="deals").json()["results"]
    assert [t["associations"]["deals"]["results"][0]["id"] for t in listed if t["id"] == ticket["id"]] == [deal]


def test_a_note_needs_its_timestamp_and_is_associated_with_its_ticket(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    ticket = call(api, "POST", "/crm/v3/objects/tickets", {"properties": {"subject": "x", "hs_pipeline_stage": "1"}})
    link = [{"to": {"id": ticket.json()["id"]},
             "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]}]
    untimed = call(api, "POST", "/crm/v3/objects/notes", {"properties": {"hs_note_body": "x"}, "associations": link})
    assert untimed.status_code == 400 and untimed.json()["errors"][0]["context"] == {"propertyName": ["hs_timestamp"]}
    note = call(api, "POST", "/crm/v3/objects/notes", {"properties": {"hs_note_body": "Fait",
                                                                      "hs_timestamp": "2026-03-02T10:00:00Z"},
                                                       "associations": link})
    assert note.status_code == 201
    notes = api.get(f"/crm/v4/objects/tickets/{ticket.json()['id']}/associations/notes").json()["results"]
    assert [str(n["toObjectId"]) for n in notes] == [note.json()["id"]]


def unique_property(api: HubSpot, object_type: str, name: str) -> None:
    made = call(api, "POST", f"/crm/v3/properties/{object_type}", {
        "name": name, "label": "Clé Passerelle", "type": "string", "fieldType": "text",
        "groupName": "companyinformation", "hasUniqueValue": True})
    assert made.status_code == 201 and made.json()["hasUniqueValue"] is True


def test_a_unique_property_refuses_a_value_another_record_holds(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    unique_property(api, "companies", "passerelle_key")
    first, second = (r["id"] for r in sandbox.hubspot.control.records("companies")[:2])
    assert call(api, "PATCH", f"/crm/v3/objects/companies/{first}",
                {"properties": {"passerelle_key": "K-1"}}).status_code == 200
    taken = call(api, "PATCH", f"/crm/v3/objects/companies/{second}", {"properties": {"passerelle_key": "K-1"}})
    assert taken.status_code == 409
    body = taken.json()
    assert body["category"] == "CONFLICT" and body["message"] == f"Company already exists. Existing ID: {first}"
    assert body["errors"][0]["in"] == "passerelle_key" and body["correlationId"]
    again = call(api, "POST", "/crm/v3/objects/companies", {"properties": {"name": "x", "passerelle_key": "K-1"}})
    assert again.status_code == 409
    twice = call(api, "POST", "/crm/v3/objects/companies/batch/create", {"inputs": [
        {"properties": {"name": "a", "passerelle_key": "K-2"}}, {"properties": {"name": "b", "passerelle_key": "K-2"}}]})
    assert twice.status_code == 400 and "K-2" in twice.json()["message"]
    assert call(api, "PATCH", f"/crm/v3/objects/companies/{first}",
                {"properties": {"passerelle_key": "K-1"}}).status_code == 200  # its own value
    email = sandbox.hubspot.control.records("contacts")[0]["properties"]["email"]
    clash = call(api, "POST", "/crm/v3/objects/contacts", {"properties": {"email": email.upper()}})
    assert clash.status_code == 409 and clash.json()["message"].startswith("Contact already exists. Existing ID: ")


def test_records_are_read_and_updated_by_their_unique_property(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    unique_property(api, "companies", "passerelle_key")
    company = sandbox.hubspot.control.records("companies")[0]["id"]
    call(api, "PATCH", f"/crm/v3/objects/companies/{company}", {"properties": {"passerelle_key": "K-7"}})
    read = api.get("/crm/v3/objects/companies/K-7", idProperty="passerelle_key")
    assert read.status_code == 200 and read.json()["id"] == company
    missing = api.get("/crm/v3/objects/companies/K-8", idProperty="passerelle_key")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    by_domain = api.get("/crm/v3/objects/companies/example.fr", idProperty="domain")
    assert by_domain.status_code == 400
    assert re.fullmatch(r"Unable to perform update/upsert by non-unique 0-2 property domain in portal ID \d+",
                        by_domain.json()["message"])
    renamed = call(api, "PATCH", "/crm/v3/objects/companies/K-7?idProperty=passerelle_key",
                   {"properties": {"name": "Renommée"}})
    assert renamed.status_code == 200 and renamed.json()["properties"]["name"] == "Renommée"
    batch = call(api, "POST", "/crm/v3/objects/companies/batch/read", {
        "idProperty": "passerelle_key", "inputs": [{"id": "K-7"}, {"id": "K-9"}], "properties": ["name"]})
    assert batch.status_code == 207
    assert [r["id"] for r in batch.json()["results"]] == [company]
    assert batch.json()["errors"][0]["context"] == {"ids": ["K-9"]}


def test_batch_upsert_creates_or_updates_and_reports_failures(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    control = sandbox.hubspot.control
    unique_property(api, "companies", "passerelle_key")
    company = control.records("companies")[0]["id"]
    call(api, "PATCH", f"/crm/v3/objects/companies/{company}", {"properties": {"passerelle_key": "K-1"}})
    control.advance(60)
    upsert = {"inputs": [
        {"idProperty": "passerelle_key", "id": "K-1", "properties": {"name": "Mise à jour"}},
        {"idProperty": "passerelle_key", "id": "K-2", "properties": {"name": "Nouvelle"}, "objectWriteTraceId": "t2"},
    ]}
    done = call(api, "POST", "/crm/v3/objects/companies/batch/upsert", upsert)
    assert done.status_code == 200 and done.json()["status"] == "COMPLETE"
    results = done.json()["results"]
    assert [(r["new"], r["properties"]["passerelle_key"]) for r in results] == [(False, "K-1"), (True, "K-2")]
    assert results[0]["id"] == company and results[1]["objectWriteTraceId"] == "t2"
    replay = call(api, "POST", "/crm/v3/objects/companies/batch/upsert", upsert).json()["results"]
    assert [r["new"] for r in replay] == [False, False] and replay[1]["id"] == results[1]["id"]
    partial = call(api, "POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": [
        {"idProperty": "passerelle_key", "id": "K-3", "properties": {"name": "Bonne"}},
        {"idProperty": "passerelle_key", "id": "K-4", "properties": {"closedate_unknown": "x"}}]})
    assert partial.status_code == 207 and partial.json()["numErrors"] == 1
    assert [r["properties"]["passerelle_key"] for r in partial.json()["results"]] == ["K-3"]
    assert partial.json()["errors"][0]["context"] == {"ids": ["K-4"]}
    assert partial.json()["errors"][0]["category"] == "VALIDATION_ERROR"
    by_name = call(api, "POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": [
        {"idProperty": "name", "id": "Bonne", "properties": {}}]})
    assert by_name.status_code == 400 and "non-unique 0-2 property name" in by_name.json()["message"]
    repeated = call(api, "POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": [
        {"idProperty": "passerelle_key", "id": "K-5", "properties": {}}] * 2})
    assert repeated.status_code == 400 and "Duplicate IDs" in repeated.json()["message"]


def test_upserts_reach_the_next_incremental_search(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    control = sandbox.hubspot.control
    control.set_clock("2026-07-01T10:00:00Z")
    email = control.records("contacts")[0]["properties"]["email"]
    control.set_clock("2026-07-02T10:00:00Z")
    done = call(api, "POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": [
        {"idProperty": "email", "id": email.upper(), "properties": {"firstname": "Maj"}},
        {"idProperty": "email", "id": "nouveau@exemple.fr", "properties": {"firstname": "Neuf"}}]}).json()
    assert [r["new"] for r in done["results"]] == [False, True]
    assert {r["properties"]["lastmodifieddate"] for r in done["results"]} == {"2026-07-02T10:00:00.000Z"}
    found = call(api, "POST", "/crm/v3/objects/contacts/search", {"filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2026-07-02T00:00:00Z"}]}],
        "properties": ["email", "firstname"], "limit": 100}).json()
    assert sorted(r["properties"]["firstname"] for r in found["results"]) == ["Maj", "Neuf"]
