"""The Zoho Projects emulator over HTTPS: accounts server and API domains, paging, subtasks, limits."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from passerelle_sandbox.server import Sandbox
from tests.fixtures.sandbox import single_vendor_sandbox

zoho_projects_only = single_vendor_sandbox("zoho_projects", "zoho_projects_only")


@pytest.fixture
def zp(zoho_projects_only: Sandbox) -> Any:
    endpoint = zoho_projects_only.vendors["zoho_projects"]
    endpoint.control.reset()
    endpoint.ca = str(zoho_projects_only.ca_path)
    return endpoint


def token(zp: Any, host: str | None = None) -> requests.Response:
    c = zp.credentials
    return requests.post(f"{host or c['accounts_url']}/oauth/v2/token", verify=zp.ca, data={
        "grant_type": "refresh_token", "client_id": c["client_id"], "client_secret": c["client_secret"],
        "refresh_token": c["refresh_token"]})


def get(zp: Any, path: str, access: str | None, scheme: str = "Zoho-oauthtoken", host: str | None = None,
        **params: Any) -> requests.Response:
    headers = {"Authorization": f"{scheme} {access}"} if access else {}
    portal = zp.credentials["portal_id"]
    return requests.get(f"{host or zp.base_url}{path.replace('{portal}', portal)}", headers=headers,
                        params=params, verify=zp.ca)


def test_accounts_server_and_api_domain_are_different_hosts(zp: Any) -> None:
    answer = token(zp).json()
    assert answer["api_domain"] == zp.base_url and answer["expires_in"] == 3600
    assert "ZohoProjects.timesheets.READ" in answer["scope"]
    assert token(zp, host=zp.base_url).status_code == 404  # no token endpoint on the API host
    wrong_host = get(zp, "/api/v3/portal/{portal}/projects", answer["access_token"], host=zp.credentials["accounts_url"])
    assert wrong_host.status_code == 404 and wrong_host.json()["error"]["title"] == "INVALID_URL"
    assert get(zp, "/api/v3/portal/{portal}/projects", answer["access_token"]).status_code == 200
    assert get(zp, "/api/v3/portal/{portal}/projects", answer["access_token"], scheme="Bearer").status_code == 200


def test_refused_and_expired_tokens(zp: Any) -> None:
    assert get(zp, "/api/v3/portals", None).status_code == 401
    bad = get(zp, "/api/v3/portals", "1000.nope")
    assert bad.status_code == 401 and bad.json()["error"]["title"] == "INVALID_OAUTHTOKEN"
    c = zp.credentials
    refused = requests.post(f"{c['accounts_url']}/oauth/v2/token", verify=zp.ca, data={
        "grant_type": "refresh_token", "client_id": c["client_id"], "client_secret": c["client_secret"],
        "refresh_token": "1000.revoked"})
    assert refused.status_code == 200 and refused.json() == {"error": "invalid_code"}
    access = token(zp).json()["access_token"]
    zp.control.add_fault(kind="expire_tokens", path="/api/v3/portals")
    assert get(zp, "/api/v3/portals", access).status_code == 401


def test_a_refresh_token_yields_at_most_ten_access_tokens_in_ten_minutes(zp: Any) -> None:
    assert all(token(zp).status_code == 200 for _ in range(10))
    refused = token(zp)
    assert refused.status_code == 400 and refused.json()["error"] == "Access Denied"
    assert "too many requests" in refused.json()["error_description"]
    zp.control.config(refresh_window_seconds=0.01)
    assert token(zp).status_code == 200  # the window moved on


def test_request_budget_locks_the_account_for_thirty_minutes(zp: Any) -> None:
    zp.control.config(requests_per_window=5, request_window_seconds=60.0)
    access = token(zp).json()["access_token"]
    assert [get(zp, "/api/v3/portals", access).status_code for _ in range(5)] == [200] * 5
    locked = get(zp, "/api/v3/portals", access)
    assert locked.status_code == 429 and "Retry-After" not in locked.headers
    assert locked.json()["error"]["title"] == "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED"
    assert "30 minutes" in locked.json()["error"]["details"][0]["message"]
    zp.control.config(request_window_seconds=0.01)  # even once the window is over, the lock holds
    assert get(zp, "/api/v3/portal/{portal}/users", access).status_code == 429
    zp.control.reset()  # the sandbox's reset lifts the lock (Zoho's lasts 30 minutes)
    assert get(zp, "/api/v3/portal/{portal}/users", token(zp).json()["access_token"]).status_code == 200


def test_paging_with_page_and_per_page(zp: Any) -> None:
    access = token(zp).json()["access_token"]
    ids, page = [], 1
    while True:
        body = get(zp, "/api/v3/portal/{portal}/tasks", access, page=page, per_page=5).json()
        ids += [t["id"] for t in body["tasks"]]
        assert body["page_info"] == {"page": page, "per_page": 5, "has_next_page": body["page_info"]["has_next_page"]}
        if not body["page_info"]["has_next_page"]:
            break
        page += 1
    mains = [t["id"] for t in zp.control.records("tasks") if not t["parent_task"]]
    assert sorted(ids) == sorted(mains) and len(ids) == len(set(ids)) > 10
    too_big = get(zp, "/api/v3/portal/{portal}/projects", access, per_page=201)
    assert too_big.status_code == 400 and too_big.json()["error"]["title"] == "INVALID_INPUT"
    assert get(zp, "/api/v3/portal/999/projects", access).status_code == 404


def test_task_lists_return_main_tasks_and_subtasks_have_their_own_endpoint(zp: Any) -> None:
    access = token(zp).json()["access_token"]
    tasks = zp.control.records("tasks")
    parent = next(t for t in tasks if not t["parent_task"] and t["has_subtasks"])
    project = parent["project"]["id"]
    listed = get(zp, f"/api/v3/portal/{{portal}}/projects/{project}/tasks", access).json()["tasks"]
    assert parent["id"] in {t["id"] for t in listed} and all(t["parent_task"] is None for t in listed)
    children = get(zp, f"/api/v3/portal/{{portal}}/projects/{project}/tasks/{parent['id']}/subtasks", access).json()["tasks"]
    assert {t["id"] for t in children} == {t["id"] for t in tasks if (t["parent_task"] or {}).get("id") == parent["id"]}
    deeper = next(t for t in children if t["has_subtasks"])  # subtasks nest
    below = get(zp, f"/api/v3/portal/{{portal}}/projects/{project}/tasks/{deeper['id']}/subtasks", access).json()
    assert below["tasks"] and below["tasks"][0]["depth"] == 2
    assert listed[0]["created_time"].endswith("+01:00")


def test_time_logs_by_log_date_with_billing_and_approval(zp: Any) -> None:
    access = token(zp).json()["access_token"]
    path = "/api/v3/portal/{portal}/timelogs"
    assert get(zp, path, access, view_type="customdate", start_date="2026-02-01", end_date="2026-02-28").status_code == 400
    body = get(zp, path, access, view_type="customdate", start_date="02-01-2026", end_date="02-28-2026", per_page=200).json()
    logs = body["timelogs"]
    assert logs and all("2026-02-01" <= t["date"] <= "2026-02-28" for t in logs)
    assert {t["bill_status"] for t in logs} <= {"Billable", "Non Billable"}
    assert {t["approval_status"] for t in logs} <= {"Pending", "Approved", "Rejected"}
    billable = get(zp, path, access, start_date="02-01-2026", end_date="02-28-2026", bill_status="Billable",
                   per_page=200).json()["timelogs"]
    assert billable and len(billable) < len(logs) and all(t["bill_status"] == "Billable" for t in billable)


def test_projects_carry_their_client_and_crm_deal(zp: Any) -> None:
    projects = zp.control.records("projects")
    kinds = {(bool((p["crm"] or {}).get("deal")), bool(p["client_company"])) for p in projects}
    assert kinds == {(True, True), (False, True), (False, False)}  # from a deal, from an account, internal
    linked = next(p for p in projects if (p["crm"] or {}).get("deal"))
    assert linked["client_company"]["id"] == linked["crm"]["account"]["id"]


def legacy_ids(zp: Any, path: str, access: str, size: int, first: int = 1) -> tuple[list[str], list[int]]:
    """Every record of a legacy list read ``size`` at a time from index ``first``, and the statuses answered."""
    ids, statuses, index = [], [], first
    while True:
        answer = get(zp, path, access, index=index, range=size)
        statuses.append(answer.status_code)
        if answer.status_code == 204:
            assert answer.content == b""
            break
        chunk = [t["id"] for t in answer.json()["tasks" if "/tasks/" in path else "projects"]]
        ids += chunk
        if len(chunk) < size:
            break
        index += len(chunk)
    return ids, statuses


def test_legacy_lists_page_by_index_and_range_from_one(zp: Any) -> None:
    access = token(zp).json()["access_token"]
    projects = sorted(zp.control.records("projects"), key=lambda p: int(p["id"]))
    body = get(zp, "/restapi/portal/{portal}/projects/", access, index=2, range=3).json()
    assert [p["id"] for p in body["projects"]] == [p["id"] for p in projects[1:4]] and "page_info" not in body
    assert len(get(zp, "/restapi/portal/{portal}/projects/", access).json()["projects"]) == min(100, len(projects))
    ids, statuses = legacy_ids(zp, "/restapi/portal/{portal}/projects/", access, len(projects))
    assert ids == [p["id"] for p in projects] and statuses == [200, 204]  # a full page, then No Content
    project = projects[0]["id"]
    mains = sorted(t["id"] for t in zp.control.records("tasks") if t["project"]["id"] == project and not t["parent_task"])
    ids, _ = legacy_ids(zp, f"/restapi/portal/{{portal}}/projects/{project}/tasks/", access, 3)
    assert sorted(ids) == mains and len(ids) > 3
    parent = next(t for t in zp.control.records("tasks") if t["project"]["id"] == project and t["has_subtasks"]
                  and not t["parent_task"])
    children, _ = legacy_ids(zp, f"/restapi/portal/{{portal}}/projects/{project}/tasks/{parent['id']}/subtasks/", access, 1)
    assert sorted(children) == sorted(t["id"] for t in zp.control.records("tasks")
                                      if (t["parent_task"] or {}).get("id") == parent["id"])
    for bad in ({"range": 201}, {"range": 0}, {"index": 0}, {"index": "x"}):
        refused = get(zp, "/restapi/portal/{portal}/projects/", access, **bad)
        assert refused.status_code == 400 and refused.json()["error"]["title"] == "INVALID_INPUT", bad


def test_legacy_index_from_zero_and_empty_list_instead_of_no_content(zp: Any) -> None:
    zp.control.config(legacy_index_base=0, legacy_empty_no_content=False)
    access = token(zp).json()["access_token"]
    projects = sorted(p["id"] for p in zp.control.records("projects"))
    assert [p["id"] for p in get(zp, "/restapi/portal/{portal}/projects/", access, index=0, range=2).json()["projects"]] \
        == projects[:2]
    past = get(zp, "/restapi/portal/{portal}/projects/", access, index=len(projects), range=5)
    assert past.status_code == 200 and past.json() == {"projects": []}
