"""HubSpot emulator writes driven over HTTPS: the rules the SDK contract test does not reach."""

from __future__ import annotations

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
