"""Contract test: pycontribs ``jira``, the Jira Python SDK, reads and writes the Jira Cloud emulator.

The SDK starts by reading ``/serverInfo`` and switches to its Cloud surface when it says
``deploymentType: Cloud`` (``/search/jql`` with ``nextPageToken``, ``accountId`` and ``query``
parameters). It calls ``/rest/api/2`` unless told ``rest_api_version=3``, so both versions are
exercised: version 2 reads and writes plain strings, version 3 Atlassian Document Format. It
parses answers into resources by attribute (``issue.fields.status.name``,
``history.author.accountId``): a missing key or an unrouted path fails here. TLS is verified
against the sandbox CA through the SDK's ``verify`` option.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jira import JIRA, JIRAError

from passerelle_sandbox.server import Sandbox
from tests.fixtures.sandbox import single_vendor_sandbox

jira_session = single_vendor_sandbox("jira", "jira_session")
PARIS = ZoneInfo("Europe/Paris")
NOON = datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc)


@pytest.fixture
def jira(jira_session: Sandbox) -> Sandbox:
    endpoint = jira_session.vendors["jira"]
    endpoint.control.reset()
    endpoint.control.clear_stats()
    return jira_session


def client(sandbox: Sandbox, version: str = "2", token: str | None = None, **kwargs: Any) -> JIRA:
    endpoint = sandbox.vendors["jira"]
    creds = endpoint.credentials
    options = {"verify": str(sandbox.ca_path), "rest_api_version": version}
    if "token_auth" in kwargs:
        return JIRA(server=endpoint.base_url, options=options, **kwargs)
    return JIRA(server=endpoint.base_url, basic_auth=(creds["email"], token or creds["api_token"]), options=options,
                **kwargs)


def control(sandbox: Sandbox) -> Any:
    return sandbox.vendors["jira"].control


def calls(sandbox: Sandbox) -> list[tuple[str, str, int]]:
    return [(c["method"], c["path"], c["status"]) for c in control(sandbox).stats()["recent"]]


def adf(text: str) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def parse_stamp(text: str) -> datetime:
    """``2026-03-02T12:00:00.000+0100`` as Jira renders timestamps."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def jql_minute(moment: datetime) -> str:
    """A JQL date literal as a person types it: minute precision, in the API account's time zone."""
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M")


def test_sdk_starts_as_a_cloud_client_with_basic_auth_only(jira: Sandbox) -> None:
    sdk = client(jira)
    info = sdk.server_info()
    assert info["deploymentType"] == "Cloud" and sdk._is_cloud and info["versionNumbers"][0] >= 1000
    me = sdk.myself()
    account = jira.vendors["jira"].control.records("users")
    assert me["accountId"] in {u["accountId"] for u in account} and me["timeZone"] == "Europe/Paris"
    assert me["emailAddress"] == jira.vendors["jira"].credentials["email"]
    assert calls(jira)[0] == ("GET", "/rest/api/2/serverInfo", 200)
    with pytest.raises(JIRAError) as wrong:
        client(jira, token="ATATT-not-the-token").myself()
    assert wrong.value.status_code == 401 and "not authenticated" in wrong.value.text
    with pytest.raises(JIRAError) as bearer:  # an API token is not an OAuth 2.0 access token
        client(jira, token_auth=jira.vendors["jira"].credentials["api_token"]).myself()
    assert bearer.value.status_code == 401
    assert client(jira, version="3").myself()["accountId"] == me["accountId"]


def test_sdk_reads_fields_projects_components_issue_types_statuses_and_users(jira: Sandbox) -> None:
    sdk = client(jira)
    fields = {f["id"]: f for f in sdk.fields()}
    assert {"summary", "description", "status", "updated", "parent", "worklog"} <= set(fields)
    assert fields["updated"]["clauseNames"] == ["updated", "updatedDate"] and fields["summary"]["custom"] is False
    held = control(jira)
    live = sorted(p["key"] for p in held.records("projects"))
    projects = sdk.projects()
    assert sorted(p.key for p in projects) == live
    project = sdk.project(live[0])
    assert project.key == live[0] and project.lead.accountId and project.description
    assert {t.name for t in project.issueTypes} == {"Epic", "Task", "Story", "Subtask", "Bug"}
    components = sdk.project_components(live[0])
    assert [c.name for c in components] == ["Intégration", "Données", "Formation"]
    assert all(c.projectId == int(project.id) and c.project == project.key for c in components)
    assert {v.name for v in project.versions} == {v["name"] for v in held.records("versions")
                                                  if str(v["projectId"]) == project.id}
    types = sdk.issue_types()
    assert {t.name: t.subtask for t in types}["Subtask"] is True and sdk.issue_type_by_name("Epic").hierarchyLevel == 1
    statuses = {s.name: s.statusCategory.key for s in sdk.statuses()}
    assert statuses == {"To Do": "new", "In Progress": "indeterminate", "In Review": "indeterminate", "Done": "done"}
    claire = sdk.search_users(query="claire")
    assert [u.displayName for u in claire] == ["Claire Morel"] and claire[0].accountId
    assert [u.accountId for u in sdk.search_users(query="claire.morel@passerelle-conseil.fr")] == [claire[0].accountId]
    assert sdk.search_users(query="zzz-nobody") == []
    with pytest.raises(JIRAError) as missing:
        sdk.project("NOPE")
    assert missing.value.status_code == 404 and "No project could be found" in missing.value.text


def test_sdk_searches_with_enhanced_jql_and_next_page_tokens(jira: Sandbox) -> None:
    sdk = client(jira)
    held = control(jira)
    key = held.records("projects")[0]["key"]
    mine = {i["id"] for i in held.records("issues") if i["key"].startswith(key + "-")}
    first = sdk.search_issues(f"project = {key} ORDER BY updated", maxResults=2)
    assert len(first) == 2 and first.nextPageToken
    assert [i.fields.updated for i in first] == sorted(i.fields.updated for i in first)
    rest = sdk.enhanced_search_issues(f"project = {key} ORDER BY updated", nextPageToken=first.nextPageToken,
                                      maxResults=0)
    assert {i.id for i in first} | {i.id for i in rest} == mine and len(first) + len(rest) == len(mine)
    assert rest.nextPageToken is None
    everything = sdk.search_issues("created >= 0 ORDER BY key", maxResults=0)
    assert {i.id for i in everything} == {i["id"] for i in held.records("issues")} and len(everything) > 100
    pages = [c for c in calls(jira) if c[1] == "/rest/api/2/search/jql"]
    assert len(pages) == 2 + -(-len(everything) // 100) and {c[2] for c in pages} == {200}
    lean = sdk.search_issues(f"project = {key}", fields="summary,updated", maxResults=5)
    assert set(lean[0].raw["fields"]) == {"summary", "updated"}
    stamps = {i.id: parse_stamp(i.fields.updated) for i in everything}
    since = sorted(stamps.values())[-10]
    floor = since.replace(second=0, microsecond=0)
    recent = sdk.search_issues(f'updated >= "{jql_minute(since)}" ORDER BY updated', maxResults=0)
    assert {i.id for i in recent} == {i for i, moment in stamps.items() if moment >= floor}
    assert [parse_stamp(i.fields.updated) for i in recent] == sorted(parse_stamp(i.fields.updated) for i in recent)
    assert sdk.approximate_issue_count(f"project = {key}") == len(mine)
    with pytest.raises(JIRAError) as gone:
        sdk._get_json("search", params={"jql": f"project = {key}"})
    assert gone.value.status_code == 410 and "/rest/api/3/search/jql" in gone.value.text
    with pytest.raises(JIRAError) as bad:
        sdk.search_issues("project = ", maxResults=1)
    assert bad.value.status_code == 400


def test_sdk_reads_an_issue_its_worklogs_comments_transitions_and_changelog(jira: Sandbox) -> None:
    sdk = client(jira)
    held = control(jira)
    worklog = held.records("worklogs")[0]
    issue_id = worklog["issueId"]
    logs = [w for w in held.records("worklogs") if w["issueId"] == issue_id]
    issue = sdk.issue(issue_id, fields="summary,status,updated,assignee", expand="changelog")
    assert issue.id == issue_id and issue.fields.status.name and issue.fields.assignee.accountId
    assert issue.changelog.total == 0 and issue.changelog.histories == []
    full = sdk.issue(issue.key)
    assert full.fields.worklog.total == len(logs) and full.fields.comment.comments == []
    assert full.fields.project.key == issue.key.split("-")[0] and full.fields.issuetype.name in ("Task", "Story", "Bug")
    read = sdk.worklogs(issue.key)
    assert [w.id for w in read] == [w["id"] for w in sorted(logs, key=lambda w: (w["created"], int(w["id"])))]
    assert read[0].timeSpentSeconds == logs_by_id(logs)[read[0].id]["timeSpentSeconds"] and isinstance(read[0].comment, str)
    assert sdk.worklog(issue.key, read[0].id).author.accountId == read[0].author.accountId
    adf_log = client(jira, version="3").worklogs(issue.key)[0]
    assert adf_log.raw["comment"]["type"] == "doc"
    assert sdk.comments(issue.key) == []
    names = {t["name"] for t in sdk.transitions(issue)}
    assert issue.fields.status.name not in names and names < {"To Do", "In Progress", "In Review", "Done"}
    with pytest.raises(JIRAError) as missing:
        sdk.issue("NOPE-999")
    assert missing.value.status_code == 404
    assert "Issue does not exist" in missing.value.text


def logs_by_id(logs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {w["id"]: w for w in logs}


def test_sdk_creates_an_epic_tasks_and_a_bulk_batch(jira: Sandbox) -> None:
    held = control(jira)
    held.set_clock(NOON)
    sdk = client(jira)
    key = held.records("projects")[0]["key"]
    project = sdk.project(key)
    claire = sdk.search_users(query="claire")[0]
    epic = sdk.create_issue(project=key, issuetype="Epic", summary="Déploiement e-facturation")
    assert epic.fields.issuetype.name == "Epic" and epic.key.startswith(key + "-")
    task = sdk.create_issue(fields={
        "project": {"key": key}, "issuetype": {"name": "Task"}, "summary": "Paramétrer le connecteur PDP",
        "description": "Créée depuis le CRM", "duedate": "2026-03-31", "priority": {"name": "High"},
        "labels": ["passerelle", "crm-006AB"], "assignee": {"accountId": claire.accountId},
        "parent": {"key": epic.key}, "components": [{"name": "Intégration"}],
        "fixVersions": [{"id": project.versions[0].id}],
    })
    assert task.fields.description == "Créée depuis le CRM" and task.fields.duedate == "2026-03-31"
    assert (task.fields.priority.name, task.fields.assignee.accountId, task.fields.parent.key) == ("High", claire.accountId, epic.key)
    assert [c.name for c in task.fields.components] == ["Intégration"] and task.fields.labels == ["passerelle", "crm-006AB"]
    assert task.fields.fixVersions[0].id == project.versions[0].id and task.fields.status.name == "To Do"
    assert task.fields.created.startswith("2026-03-02T12:00:00.000+0100") and task.fields.reporter.accountId == sdk.myself()["accountId"]
    v3 = client(jira, version="3").create_issue(project=key, issuetype={"name": "Story"}, summary="En ADF",
                                                 description=adf("Corps ADF"))
    assert v3.raw["fields"]["description"]["content"][0]["content"][0]["text"] == "Corps ADF"
    assert sdk.issue(v3.key).fields.description == "Corps ADF"
    again = sdk.create_issue(project=key, issuetype="Epic", summary="Déploiement e-facturation")
    assert again.key != epic.key  # no idempotency: the caller must prevent duplicates
    results = sdk.create_issues([
        {"project": key, "issuetype": {"name": "Task"}, "summary": "Lot A", "parent": {"key": epic.key}},
        {"project": key, "issuetype": {"name": "Task"}},
        {"project": key, "issuetype": {"name": "Bug"}, "summary": "Lot C", "labels": ["mal formé"]},
        {"project": key, "issuetype": {"name": "Story"}, "summary": "Lot D"},
    ])
    assert [r["status"] for r in results] == ["Success", "Error", "Error", "Success"]
    assert results[1]["error"] == {"summary": "You must specify a summary of the issue."}
    assert "contains spaces" in results[2]["error"]["labels"]
    assert results[0]["issue"].fields.parent.key == epic.key and results[3]["issue"].fields.summary == "Lot D"
    failed = sdk.create_issues([{"project": key, "issuetype": {"name": "Task"}}])
    assert failed[0]["status"] == "Error" and ("POST", "/rest/api/2/issue/bulk", 400) in calls(jira)
    too_many = {"issueUpdates": [{"fields": {"project": {"key": key}, "issuetype": {"name": "Task"},
                                             "summary": f"n{n}"}} for n in range(51)]}
    with pytest.raises(JIRAError) as capped:
        sdk._session.post(sdk._get_url("issue/bulk"), json=too_many)
    assert capped.value.status_code == 400 and "50" in capped.value.text
    created = {i["key"] for i in held.records("issues")}
    assert {epic.key, task.key, v3.key, again.key, results[0]["issue"].key, results[3]["issue"].key} <= created


def test_sdk_edits_transitions_logs_work_comments_then_deletes(jira: Sandbox) -> None:
    held = control(jira)
    held.set_clock(NOON)
    sdk = client(jira)
    me = sdk.myself()["accountId"]
    issue = next(i for i in held.records("issues") if i["fields"]["status"]["name"] == "To Do")
    key, before = issue["key"], issue["fields"]["updated"]
    quiet = sdk.search_issues(f'updated >= "{jql_minute(NOON)}"', maxResults=0)
    assert key not in {i.key for i in quiet}
    held.set_clock(datetime(2026, 3, 2, 11, 5, tzinfo=timezone.utc))
    target = sdk.issue(key)
    target.update(fields={"summary": "Intitulé synchronisé", "duedate": "2026-04-15", "labels": ["sync"]},
                  notify=False)
    assert target.fields.summary == "Intitulé synchronisé" and target.fields.updated > before
    assert target.fields.updated.startswith("2026-03-02T12:05")
    sdk.transition_issue(target, "In Progress", comment="Démarré par la synchronisation")
    held.set_clock(datetime(2026, 3, 2, 11, 6, tzinfo=timezone.utc))
    worklog = sdk.add_worklog(key, timeSpent="1h 30m", comment="Atelier client",
                              started=datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc))
    assert (worklog.timeSpentSeconds, worklog.timeSpent, worklog.author.accountId) == (5400, "1h 30m", me)
    assert worklog.started == "2026-03-02T09:00:00.000+0100"
    comment = sdk.add_comment(key, "Facture émise")
    assert comment.body == "Facture émise" and comment.author.accountId == me
    assert [c.body for c in sdk.comments(key)] == ["Démarré par la synchronisation", "Facture émise"]
    assert sdk.comment(key, comment.id).id == comment.id
    sdk.add_issue_property(key, "passerelle.sync", {"crm": "salesforce", "dealId": "006AB"})
    assert sdk.issue_property(key, "passerelle.sync").value.dealId == "006AB"
    changed = sdk.search_issues(f'updated >= "{jql_minute(NOON)}" ORDER BY updated', fields="updated",
                                expand="changelog", maxResults=0)
    assert [i.key for i in changed] == [key]
    assert changed[0].fields.updated.startswith("2026-03-02T12:06")
    read = sdk.issue(key, expand="changelog")
    assert read.fields.status.name == "In Progress" and read.fields.labels == ["sync"]
    histories = read.changelog.histories
    assert {h.author.accountId for h in histories} == {me}
    assert [sorted(i.field for i in h.items) for h in histories] == [
        ["duedate", "labels", "summary"], ["status"], ["WorklogId", "timespent"]]
    status_item = histories[1].items[0]
    assert (status_item.fromString, status_item.toString) == ("To Do", "In Progress")
    assert [w.id for w in sdk.worklogs(key)][-1] == worklog.id
    sdk.transition_issue(key, "41")
    done = sdk.issue(key)
    assert done.fields.status.name == "Done" and done.fields.resolution.name == "Done" and done.fields.resolutiondate
    read.delete()
    with pytest.raises(JIRAError) as gone:
        sdk.issue(key)
    assert gone.value.status_code == 404
    assert key in {i["key"] for i in held.records("issues", include_deleted=True) if i.get("deleted")}
    assert key not in {i.key for i in sdk.search_issues(f'updated >= "{jql_minute(NOON)}"', maxResults=0)}
    v3 = client(jira, version="3")
    note = v3.add_comment(held.records("issues")[0]["key"], adf("Note ADF"))
    assert note.raw["body"]["type"] == "doc"
    log = v3.add_worklog(held.records("issues")[0]["key"], timeSpentSeconds="900", comment=adf("Revue"))
    assert log.raw["comment"]["content"][0]["content"][0]["text"] == "Revue"


def test_sdk_new_issue_reaches_jql_after_the_index_lag_or_when_reconciled(jira: Sandbox) -> None:
    held = control(jira)
    held.set_clock(NOON)
    held.config(search_index_lag_seconds=30)
    sdk = client(jira)
    key = held.records("projects")[0]["key"]
    created = sdk.create_issue(project=key, issuetype={"name": "Task"}, summary="Indexée plus tard")
    assert sdk.issue(created.key).fields.summary == "Indexée plus tard"
    query = f'project = {key} AND created >= "{jql_minute(NOON)}"'
    assert sdk.search_issues(query) == []
    reconciled = sdk.enhanced_search_issues(query, reconcileIssues=[int(created.id)])
    assert [i.key for i in reconciled] == [created.key]
    held.advance(30)
    assert [i.key for i in sdk.search_issues(query)] == [created.key]


def test_sdk_sees_jira_validation_errors(jira: Sandbox) -> None:
    sdk = client(jira)
    held = control(jira)
    key = held.records("projects")[0]["key"]
    issue_key = held.records("issues")[0]["key"]

    def error(call: Any) -> tuple[int, dict[str, Any]]:
        with pytest.raises(JIRAError) as caught:
            call()
        response = caught.value.response
        return caught.value.status_code, response.json()

    status, body = error(lambda: sdk.create_issue(project=key, issuetype={"name": "Task"}, summary="x",
                                                  status={"name": "Done"}))
    assert status == 400 and body == {"errorMessages": [], "errors": {
        "status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."}}
    status, body = error(lambda: sdk.create_issue(project=key, issuetype={"name": "Task"}, summary="a\nb"))
    assert status == 400 and body["errors"] == {"summary": "The summary is invalid because it contains newline characters."}
    status, body = error(lambda: sdk.create_issue(project=key, issuetype={"name": "Subtask"}, summary="orphan"))
    assert status == 400 and set(body["errors"]) == {"parent"}
    status, body = error(lambda: client(jira, version="3").create_issue(
        project=key, issuetype={"name": "Task"}, summary="texte", description="pas un document"))
    assert status == 400 and "Atlassian Document" in body["errors"]["description"]
    status, body = error(lambda: sdk.issue(issue_key).update(fields={"assignee": {"accountId": "712020:nobody"}}))
    assert status == 400 and set(body["errors"]) == {"assignee"}
    status, body = error(lambda: sdk.transition_issue(issue_key, "99"))
    assert status == 400 and body["errorMessages"] == ["Transition id '99' is not valid for this issue."]
    status, body = error(lambda: sdk.add_worklog(issue_key, comment="rien"))
    assert status == 400 and body["errors"] == {"timeLogged": "You must indicate the time spent working."}
    status, body = error(lambda: sdk.add_comment("NOPE-1", "x"))
    assert status == 404 and body["errorMessages"] == ["Issue does not exist or you do not have permission to see it."]
    status, body = error(lambda: sdk._session.get(sdk._get_url("no/such/resource")))
    assert status == 404 and body["errorMessages"][0].startswith("null for uri:")
    assert all(i["key"] != "orphan" for i in held.records("issues"))


def test_sdk_retries_429_with_retry_after_and_surfaces_it_without_retries(jira: Sandbox) -> None:
    held = control(jira)
    held.add_fault(kind="rate_limit", times=1, retry_after=1, path="/search/jql")
    sdk = client(jira)
    key = held.records("projects")[0]["key"]
    found = sdk.search_issues(f"project = {key}", maxResults=1)
    assert len(found) == 1
    assert [c[2] for c in calls(jira) if c[1].endswith("/search/jql")] == [429, 200]
    held.add_fault(kind="rate_limit", times=1, retry_after=1, path="/myself")
    impatient = client(jira, max_retries=0)
    with pytest.raises(JIRAError) as throttled:
        impatient.myself()
    headers = throttled.value.response.headers
    assert throttled.value.status_code == 429 and headers["Retry-After"] == "1"
    assert headers["RateLimit-Reason"] == "jira-burst-based" and headers["X-RateLimit-Remaining"] == "0"
    assert throttled.value.response.json()["errorMessages"] == ["Rate limit exceeded."]
