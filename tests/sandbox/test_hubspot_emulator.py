"""The HubSpot emulator, driven over HTTPS with requests as a connector would."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from passerelle_sandbox.server import Sandbox

RATE_HEADERS = ("X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining")
DAILY_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")


class HubSpot:
    """Minimal HubSpot HTTP client: base URL, bearer token and the sandbox CA."""

    def __init__(self, sandbox: Sandbox, token: str | None = None) -> None:
        self.base = sandbox.hubspot.base_url
        self.session = requests.Session()
        self.session.verify = str(sandbox.ca_path)
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override Session.verify
        self.token = token or sandbox.hubspot.credentials["private_app_token"]

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}{path}", params=params, headers={"Authorization": f"Bearer {self.token}"})

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.base}{path}", json=body, headers={"Authorization": f"Bearer {self.token}"})

    def search(self, object_type: str, **body: Any) -> requests.Response:
        return self.post(f"/crm/v3/objects/{object_type}/search", body)


def epoch_ms(text: str) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return str(int(moment.timestamp() * 1000))


def live_ids(sandbox: Sandbox, object_type: str) -> list[str]:
    return sorted((r["id"] for r in sandbox.hubspot.control.records(object_type)), key=int)


def oauth(sandbox: Sandbox, **overrides: str) -> requests.Response:
    creds = sandbox.hubspot.credentials
    form = {"grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"], **overrides}
    return HubSpot(sandbox).session.post(f"{sandbox.hubspot.base_url}/oauth/v1/token", data=form)


@pytest.fixture
def loose(sandbox: Sandbox) -> Sandbox:
    """No rate limiting, for tests that make many calls quickly."""
    sandbox.hubspot.control.config(enforce_rate_limits=False)
    return sandbox


def test_list_pages_with_after_until_no_paging(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        params = {"limit": 7, **({"after": after} if after else {})}
        body = api.get("/crm/v3/objects/companies", **params).json()
        pages += 1
        assert len(body["results"]) <= 7
        seen += [r["id"] for r in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert f"after={after}" in body["paging"]["next"]["link"]
    assert seen == live_ids(sandbox, "companies")
    assert pages == -(-len(seen) // 7)
    assert len(api.get("/crm/v3/objects/companies").json()["results"]) == 10
    too_big = api.get("/crm/v3/objects/companies", limit=101)
    assert too_big.status_code == 400 and too_big.json()["category"] == "VALIDATION_ERROR"
    assert api.get("/crm/v3/objects/widgets").status_code == 400


def test_records_have_string_properties_and_default_or_requested_properties(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    deal = api.get("/crm/v3/objects/deals", limit=1).json()["results"][0]
    assert set(deal) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert set(deal["properties"]) == {"amount", "closedate", "createdate", "dealname", "dealstage",
                                       "hs_lastmodifieddate", "hs_object_id", "pipeline"}
    assert all(isinstance(v, str) for v in deal["properties"].values() if v is not None)
    assert deal["properties"]["hs_object_id"] == deal["id"]
    assert deal["updatedAt"] == deal["properties"]["hs_lastmodifieddate"]

    chosen = api.get("/crm/v3/objects/deals", limit=3, properties="amount,deal_currency_code,nope").json()
    for record in chosen["results"]:
        assert set(record["properties"]) == {"amount", "deal_currency_code", "hs_object_id", "createdate",
                                             "hs_lastmodifieddate"}
        float(record["properties"]["amount"])
    contact = api.get("/crm/v3/objects/contacts", limit=1, properties="email").json()["results"][0]
    assert set(contact["properties"]) == {"email", "hs_object_id", "createdate", "lastmodifieddate"}
    one = api.get(f"/crm/v3/objects/deals/{deal['id']}", properties="dealname").json()
    assert one["id"] == deal["id"] and "dealname" in one["properties"]
    missing = api.get("/crm/v3/objects/deals/1")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_properties_endpoint_lists_the_served_properties(sandbox: Sandbox) -> None:
    results = HubSpot(sandbox).get("/crm/v3/properties/deals").json()["results"]
    definitions = {p["name"]: p for p in results}
    names = {key for r in sandbox.hubspot.control.records("deals") for key in r["properties"]}
    assert set(definitions) == names
    assert (definitions["hs_lastmodifieddate"]["type"], definitions["hs_lastmodifieddate"]["fieldType"]) == (
        "datetime", "date")
    assert definitions["amount"]["type"] == "number"
    assert definitions["dealname"]["type"] == "string"
    assert all({"name", "label", "type", "fieldType"} <= set(p) for p in results)


def test_search_filters_sorts_and_pages(loose: Sandbox) -> None:
    sandbox = loose
    control = sandbox.hubspot.control
    control.set_clock("2026-03-05T08:00:00Z")
    made = {}
    for name, amount, stage in (("S-A", "20", "closedwon"), ("S-B", "100", "closedwon"),
                                ("S-C", "3.5", "appointmentscheduled"), ("S-D", None, "closedwon")):
        made[name] = control.create("deals", {"dealname": name, "amount": amount, "dealstage": stage})["id"]
    control.advance(60)
    api = HubSpot(sandbox)
    fresh = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": epoch_ms("2026-03-05T08:00:00Z")}

    def names(*filters: dict[str, Any], **extra: Any) -> list[str]:
        body = {"filterGroups": [{"filters": [fresh, *filters]}], "properties": ["dealname"], "limit": 100, **extra}
        response = api.search("deals", **body)
        assert response.status_code == 200, response.text
        return [r["properties"]["dealname"] for r in response.json()["results"]]

    assert names() == ["S-A", "S-B", "S-C", "S-D"]
    assert names({"propertyName": "amount", "operator": "GT", "value": "10"}) == ["S-A", "S-B"]
    assert names({"propertyName": "amount", "operator": "BETWEEN", "value": "3", "highValue": "20"}) == ["S-A", "S-C"]
    assert names({"propertyName": "dealstage", "operator": "IN", "values": ["appointmentscheduled"]}) == ["S-C"]
    assert names({"propertyName": "dealstage", "operator": "NEQ", "value": "closedwon"}) == ["S-C"]
    assert names({"propertyName": "amount", "operator": "NOT_HAS_PROPERTY"}) == ["S-D"]
    assert names({"propertyName": "dealname", "operator": "EQ", "value": "s-b"}) == ["S-B"]
    assert names(sorts=[{"propertyName": "amount", "direction": "ASCENDING"}]) == ["S-C", "S-A", "S-B", "S-D"]
    assert names(sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}]) == ["S-D", "S-C", "S-B", "S-A"]
    iso = {"propertyName": "createdate", "operator": "LT", "value": "2026-03-05T08:00:00.000Z"}
    assert names(iso) == []
    either = api.search("deals", limit=100, filterGroups=[
        {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": made["S-A"]}]},
        {"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": made["S-D"]}]},
    ]).json()
    assert either["total"] == 2 and [r["id"] for r in either["results"]] == [made["S-A"], made["S-D"]]

    first = api.search("deals", limit=3, sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}]).json()
    second = api.search("deals", limit=3, after=first["paging"]["next"]["after"],
                        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}]).json()
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert ids == live_ids(sandbox, "deals")[:6]
    assert first["total"] == len(live_ids(sandbox, "deals"))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"limit": 201}, "limit must be less than or equal to 200"),
        ({"filterGroups": [{"filters": []}] * 6}, "Too many filter groups"),
        ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 7}]},
         "Too many filters in a filter group"),
        ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 6}] * 4},
         "Too many filters: 24"),
        ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "LIKE", "value": "1"}]}]},
         "Invalid operator"),
        ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]},
         "Unable to find property 'nope'"),
        ({"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT",
                                         "value": "yesterday"}]}]}, "not a valid date-time"),
    ],
)
def test_search_validation_errors(sandbox: Sandbox, body: dict[str, Any], fragment: str) -> None:
    response = HubSpot(sandbox).search("deals", **body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR" and response.json()["status"] == "error"
    assert fragment in response.json()["message"]


def test_search_cannot_page_past_10000_results(loose: Sandbox) -> None:
    control = loose.hubspot.control
    control.bulk("line_items", create=10_050)
    api = HubSpot(loose)
    sort = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    near_end = api.search("line_items", limit=200, after="9800", sorts=sort)
    assert near_end.status_code == 200
    body = near_end.json()
    assert body["total"] > 10_000 and len(body["results"]) == 200
    assert body["paging"]["next"]["after"] == "10000"
    beyond = api.search("line_items", limit=200, after="10000", sorts=sort)
    assert beyond.status_code == 400 and beyond.json()["category"] == "VALIDATION_ERROR"
    straddling = api.search("line_items", limit=100, after="9950", sorts=sort)
    assert straddling.status_code == 400
    # the documented workaround: restart from the last id seen
    last_id = body["results"][-1]["id"]
    resumed = api.search("line_items", limit=200, sorts=sort, filterGroups=[
        {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": last_id}]}]).json()
    assert resumed["total"] == body["total"] - 10_000
    assert int(resumed["results"][0]["id"]) > int(last_id)


def test_archive_keeps_modified_date_and_hides_from_search(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    victim = control.records("companies")[0]
    archived_at = control.advance(3600)
    control.delete("companies", victim["id"])
    api = HubSpot(sandbox)

    stored = control.record("companies", victim["id"])
    assert stored["archived"] is True
    assert stored["properties"]["hs_lastmodifieddate"] == victim["properties"]["hs_lastmodifieddate"]
    assert stored["updatedAt"] == victim["updatedAt"]
    by_id = {"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": victim["id"]}]}]}
    assert api.search("companies", **by_id).json()["total"] == 0
    default_ids = [r["id"] for r in api.get("/crm/v3/objects/companies", limit=100).json()["results"]]
    assert victim["id"] not in default_ids
    archived = api.get("/crm/v3/objects/companies", archived="true", limit=100).json()["results"]
    assert [r["id"] for r in archived] == [victim["id"]]
    assert archived[0]["archived"] is True
    assert archived[0]["archivedAt"] == archived_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert archived[0]["properties"]["hs_lastmodifieddate"] == victim["properties"]["hs_lastmodifieddate"]


def test_associations_batch_read(sandbox: Sandbox) -> None:
    links = sandbox.hubspot.app.dataset["hubspot"]["associations"]
    deal_link = next(link for link in links if (link["from_type"], link["to_type"]) == ("deals", "companies"))
    deal, company = str(deal_link["from_id"]), str(deal_link["to_id"])
    lines = sorted(int(link["to_id"]) for link in links
                   if link["from_type"] == "deals" and str(link["from_id"]) == deal and link["to_type"] == "line_items")
    api = HubSpot(sandbox)

    answer = api.post("/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": deal}]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "COMPLETE" and {"startedAt", "completedAt"} <= set(body)
    assert body["results"] == [{"from": {"id": deal}, "to": [{"toObjectId": int(company), "associationTypes": [
        {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": None}]}]}]
    to_lines = api.post("/crm/v4/associations/deals/line_items/batch/read", {"inputs": [{"id": deal}]}).json()
    assert sorted(t["toObjectId"] for t in to_lines["results"][0]["to"]) == lines
    reverse = api.post("/crm/v4/associations/companies/deals/batch/read", {"inputs": [{"id": company}]}).json()
    deal_entries = [t for t in reverse["results"][0]["to"] if t["toObjectId"] == int(deal)]
    assert deal_entries[0]["associationTypes"][0]["typeId"] == 6
    partial = api.post("/crm/v4/associations/deals/companies/batch/read", {"inputs": [{"id": deal}, {"id": "42"}]})
    assert partial.status_code == 207 and partial.json()["numErrors"] == 1
    listed = api.get(f"/crm/v3/objects/deals/{deal}", associations="companies").json()
    assert listed["associations"]["companies"]["results"] == [{"id": company, "type": "deal_to_company"}]


def test_owners_list(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    owners = sandbox.hubspot.control.records("owners")
    first = api.get("/crm/v3/owners", limit=2).json()
    assert [o["id"] for o in first["results"]] == sorted((o["id"] for o in owners), key=int)[:2]
    assert {"id", "userId", "email", "firstName", "lastName", "type", "archived", "teams"} <= set(first["results"][0])
    if len(owners) > 2:
        rest = api.get("/crm/v3/owners", after=first["paging"]["next"]["after"]).json()
        assert len(first["results"]) + len(rest["results"]) == len(owners)
    sandbox.hubspot.control.delete("owners", owners[0]["id"])
    archived = api.get("/crm/v3/owners", archived="true").json()["results"]
    assert [o["id"] for o in archived] == [owners[0]["id"]]


def test_burst_limit_answers_429_like_hubspot(sandbox: Sandbox) -> None:
    sandbox.hubspot.control.config(burst_limit=3)
    api = HubSpot(sandbox)
    answers = [api.get("/crm/v3/objects/products", limit=1) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-HubSpot-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    throttled = answers[-1]
    body = throttled.json()
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["groupName"].startswith("publicapi:") and len(body["correlationId"]) == 36
    assert throttled.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert throttled.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert "Retry-After" not in throttled.headers
    for answer in answers:
        assert all(name in answer.headers for name in RATE_HEADERS + DAILY_HEADERS)


def test_search_is_limited_per_second(sandbox: Sandbox) -> None:
    sandbox.hubspot.control.config(search_per_second=2)
    api = HubSpot(sandbox)
    statuses = [api.search("products", limit=1).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    time.sleep(1.05)
    assert api.search("products", limit=1).status_code == 200


def test_rate_limit_fault_with_retry_after(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    control.add_fault("rate_limit", retry_after=7, path="/crm/v3/objects/deals")
    api = HubSpot(sandbox)
    assert api.get("/crm/v3/objects/companies", limit=1).status_code == 200
    throttled = api.get("/crm/v3/objects/deals", limit=1)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert throttled.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert throttled.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert api.get("/crm/v3/objects/deals", limit=1).status_code == 200


def test_oauth_refresh_and_token_expiry(sandbox: Sandbox) -> None:
    grant = oauth(sandbox)
    assert grant.status_code == 200
    body = grant.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 1800
    assert body["refresh_token"] == sandbox.hubspot.credentials["refresh_token"]
    api = HubSpot(sandbox, body["access_token"])
    ok = api.get("/crm/v3/objects/contacts", limit=1)
    assert ok.status_code == 200
    assert all(name in ok.headers for name in RATE_HEADERS)
    assert not any(name in ok.headers for name in DAILY_HEADERS)

    bad = oauth(sandbox, refresh_token="eu1-nope")
    assert bad.status_code == 400 and bad.json()["status"] == "BAD_REFRESH_TOKEN"

    sandbox.hubspot.control.add_fault("expire_tokens")
    expired = api.get("/crm/v3/objects/contacts", limit=1)
    assert expired.status_code == 401
    assert expired.json()["category"] == "INVALID_AUTHENTICATION"
    assert expired.json()["message"].startswith("Authentication credentials not found")
    renewed = HubSpot(sandbox, oauth(sandbox).json()["access_token"])
    assert renewed.get("/crm/v3/objects/contacts", limit=1).status_code == 200

    sandbox.hubspot.control.config(oauth_expires_in=1)
    short = HubSpot(sandbox, oauth(sandbox).json()["access_token"])
    time.sleep(1.1)
    timed_out = short.get("/crm/v3/objects/contacts", limit=1)
    assert timed_out.status_code == 401 and timed_out.json()["category"] == "EXPIRED_AUTHENTICATION"


def test_expire_tokens_revokes_the_private_app_token_until_faults_are_cleared(sandbox: Sandbox) -> None:
    api = HubSpot(sandbox)
    sandbox.hubspot.control.add_fault("expire_tokens", after=1)
    assert api.get("/crm/v3/objects/contacts", limit=1).status_code == 200
    assert api.get("/crm/v3/objects/contacts", limit=1).status_code == 401
    assert api.get("/crm/v3/objects/contacts", limit=1).status_code == 401
    sandbox.hubspot.control.clear_faults()
    assert api.get("/crm/v3/objects/contacts", limit=1).status_code == 200
    assert HubSpot(sandbox, "pat-eu1-forged").get("/crm/v3/objects/contacts").status_code == 401


def test_search_lag_hides_recent_changes(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    control.config(search_lag_seconds=30)
    company = control.records("companies")[0]["id"]
    control.advance(3600)
    control.update("companies", company, {"city": "Nantes"})
    api = HubSpot(sandbox)
    by_id = {"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": company}]}]}
    assert api.search("companies", **by_id).json()["total"] == 0
    assert api.get(f"/crm/v3/objects/companies/{company}").status_code == 200
    control.advance(31)
    found = api.search("companies", properties=["city"], **by_id).json()
    assert found["total"] == 1 and found["results"][0]["properties"]["city"] == "Nantes"


def test_fault_after_and_times_are_counted_exactly(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    control.add_fault("error", status=502, after=2, times=2, path="/crm/v3/objects/companies")
    api = HubSpot(sandbox)
    statuses = [api.get("/crm/v3/objects/companies", limit=1).status_code for _ in range(5)]
    assert statuses == [200, 200, 502, 502, 200]
    assert api.get("/crm/v3/objects/deals", limit=1).status_code == 200
    [fault] = control.faults()
    assert (fault["seen"], fault["fired"]) == (2, 2)
    assert control.stats()["by_path_status"]["/crm/v3/objects/companies"] == {"200": 3, "502": 2}


def test_payload_faults(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    api = HubSpot(sandbox)
    control.add_fault("missing_id")
    results = api.get("/crm/v3/objects/deals", limit=5).json()["results"]
    assert sum("id" not in r for r in results) == 1
    control.add_fault("malformed_json")
    broken = api.search("deals", limit=5)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    assert oauth(sandbox).status_code == 200


def test_bulk_stamps_identical_times(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    now = control.advance(86_400)
    bulk = control.bulk("deals", create=3, touch=4)
    assert bulk["stamp"] == now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    changed = set(bulk["created_ids"]) | set(bulk["touched_ids"])
    records = {r["id"]: r for r in control.records("deals")}
    assert {records[i]["properties"]["hs_lastmodifieddate"] for i in changed} == {bulk["stamp"]}
    assert {records[i]["updatedAt"] for i in changed} == {bulk["stamp"]}
    same = HubSpot(sandbox).search("deals", limit=100, filterGroups=[{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": epoch_ms(bulk["stamp"])}]}]).json()
    assert {r["id"] for r in same["results"]} == changed and same["total"] == 7
    contacts = control.bulk("contacts", touch=2)
    touched = [control.record("contacts", i) for i in contacts["touched_ids"]]
    assert {c["properties"]["lastmodifieddate"] for c in touched} == {contacts["stamp"]}


def test_reset_restores_the_initial_records(sandbox: Sandbox) -> None:
    control = sandbox.hubspot.control
    before = control.records("companies", include_deleted=True)
    start = control.now()
    created = control.create("companies", {"name": "Temp SAS", "employees": 12},
                             associations=[{"to_type": "deals", "to_id": live_ids(sandbox, "deals")[0]}])
    assert created["record"]["properties"]["employees"] == "12"
    assert int(created["id"]) > max(int(r["id"]) for r in before)
    control.update("companies", before[0]["id"], {"city": "Brest"})
    control.delete("companies", before[1]["id"])
    control.set_clock(start + timedelta(days=9))
    control.reset()
    assert control.records("companies", include_deleted=True) == before
    assert control.now() == start
    assert control.now().tzinfo == timezone.utc


# ------------------------------------------------------------------------------ pipelines


def test_deal_pipelines_have_stages_with_string_metadata(sandbox: Sandbox) -> None:
    hs = HubSpot(sandbox)
    body = hs.get("/crm/v3/pipelines/deals").json()
    assert "paging" not in body
    pipelines = {p["id"]: p for p in body["results"]}
    assert set(pipelines) == {"default", "75318642"}
    for pipeline in pipelines.values():
        assert set(pipeline) >= {"id", "label", "displayOrder", "archived", "stages", "createdAt", "updatedAt"}
        for stage in pipeline["stages"]:
            assert set(stage) >= {"id", "label", "displayOrder", "metadata", "createdAt", "updatedAt", "archived"}
            assert stage["metadata"]["isClosed"] in ("true", "false")
            assert isinstance(stage["metadata"]["probability"], str)
    won = {p: [s for s in pipelines[p]["stages"] if s["metadata"] == {"isClosed": "true", "probability": "1.0"}]
           for p in pipelines}
    assert [s["id"] for s in won["default"]] == ["closedwon"]
    assert [s["id"] for s in won["75318642"]] == ["120553003"]
    assert won["default"][0]["label"] != won["75318642"][0]["label"]
    one = hs.get("/crm/v3/pipelines/deals/75318642")
    assert one.status_code == 200 and one.json() == pipelines["75318642"]
    stages = hs.get("/crm/v3/pipelines/deals/75318642/stages").json()["results"]
    assert [s["id"] for s in stages] == [s["id"] for s in pipelines["75318642"]["stages"]]
    missing = hs.get("/crm/v3/pipelines/deals/999")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert hs.session.get(f"{hs.base}/crm/v3/pipelines/deals").status_code == 401


# ---------------------------------------------------------------------------- URL length


def test_a_url_over_16_kb_is_refused_with_414_before_authentication(sandbox: Sandbox) -> None:
    hs = HubSpot(sandbox)
    names = [f"custom_property_{i:023d}" for i in range(600)]  # 600 names of 40 characters
    refused = hs.get("/crm/v3/objects/companies", properties=",".join(names), archived="true")
    assert refused.status_code == 414
    assert refused.headers["Content-Type"].startswith("text/html") and b"414 Request-URI Too Large" in refused.content
    assert hs.session.get(f"{hs.base}/crm/v3/objects/companies", params={"properties": ",".join(names)}).status_code == 414
    fits = hs.get("/crm/v3/objects/companies", properties=",".join(names[:300]))  # ~12 KB
    assert fits.status_code == 200
    assert sandbox.hubspot.control.stats()["by_status"].get("414") == 2


# ------------------------------------------------------------------------ indexed search


def test_search_index_follows_updates_creations_and_archiving(loose: Sandbox) -> None:
    hs, control = HubSpot(loose), loose.hubspot.control
    since = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": epoch_ms("2026-03-02T00:00:00.000Z")}
    query = {"filterGroups": [{"filters": [since]}], "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
             "limit": 200}
    assert hs.search("companies", **query).json()["total"] == 0
    control.set_clock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    first, second = live_ids(loose, "companies")[:2]
    control.update("companies", second, {"city": "Lyon"})
    created = control.create("companies", {"name": "Index Neuf"})["id"]
    body = hs.search("companies", **query).json()
    assert [r["id"] for r in body["results"]] == [second, created] and body["total"] == 2
    control.delete("companies", second)
    body = hs.search("companies", **query).json()
    assert [r["id"] for r in body["results"]] == [created] and body["total"] == 1
    after_first = {"propertyName": "hs_object_id", "operator": "GT", "value": first}
    body = hs.search("companies", filterGroups=[{"filters": [after_first]}], limit=1).json()
    assert body["results"][0]["id"] == live_ids(loose, "companies")[1] and body["paging"]["next"]["after"] == "1"
