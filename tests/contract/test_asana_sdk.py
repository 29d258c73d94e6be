"""Contract test: Asana's own Python SDK (asana 5.x, OpenAPI-generated) reads and writes the emulator.

The SDK builds its paths from Asana's OpenAPI spec, wraps bodies in ``{"data": …}``, follows
``next_page.offset`` itself, unwraps ``data`` from every answer and turns any other status into an
``ApiException`` carrying the raw body: an unrouted path, a missing ``next_page`` or an error body
that is not Asana's fails here. It talks through urllib3, so TLS is verified with its
``ssl_ca_cert`` setting pointed at the sandbox CA; its urllib3 retry policy (429 and 5xx, honouring
``Retry-After``) is kept as shipped except where a test needs to see the 429 itself.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import asana
import pytest
from asana.rest import ApiException
from urllib3.util.retry import Retry

API = "/api/1.0"


class Counted(asana.ApiClient):
    """The SDK's client, remembering each ``(method, path)`` it sent."""

    def __init__(self, configuration: asana.Configuration) -> None:
        super().__init__(configuration)
        self.calls: list[tuple[str, str]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, url.split(API, 1)[1].split("?")[0]))
        return super().request(method, url, *args, **kwargs)


def sdk(sandbox: Any, token: str | None = None, retries: Retry | None = None) -> Counted:
    endpoint = sandbox.vendors["asana"]
    configuration = asana.Configuration()
    configuration.host = endpoint.base_url + API
    configuration.access_token = token or endpoint.credentials["personal_access_token"]
    configuration.ssl_ca_cert = str(sandbox.ca_path)
    if retries is not None:
        configuration.retry_strategy = retries
    return Counted(configuration)


@pytest.fixture
def client(sandbox: Any) -> Counted:
    sandbox.vendors["asana"].control.config(enforce_rate_limits=False)
    return sdk(sandbox)


def held(sandbox: Any) -> Any:
    return sandbox.vendors["asana"].control


def errors(exc: ApiException) -> list[dict[str, Any]]:
    return list(json.loads(exc.body)["errors"])


def a_project(sandbox: Any) -> dict[str, Any]:
    return sorted(held(sandbox).records("projects"), key=lambda p: p["gid"])[0]


def test_sdk_reads_workspace_teams_projects_and_sections(client: Counted, sandbox: Any) -> None:
    workspace = sandbox.vendors["asana"].credentials["workspace_gid"]
    me = asana.UsersApi(client).get_user("me", {"opt_fields": "name,email,workspaces"})
    assert me["email"] and me["workspaces"][0]["gid"] == workspace
    assert [w["gid"] for w in asana.WorkspacesApi(client).get_workspaces({})] == [workspace]
    teams = list(asana.TeamsApi(client).get_teams_for_workspace(workspace, {}))
    assert teams and teams[0]["resource_type"] == "team"
    projects = list(asana.ProjectsApi(client).get_projects_for_workspace(workspace, {"limit": 5}))
    assert sorted(p["gid"] for p in projects) == sorted(p["gid"] for p in held(sandbox).records("projects"))
    assert len([c for c in client.calls if c[1] == f"/workspaces/{workspace}/projects"]) == -(-len(projects) // 5)
    by_team = list(asana.ProjectsApi(client).get_projects_for_team(teams[0]["gid"], {}))
    assert {p["gid"] for p in by_team} == {p["gid"] for p in projects}
    project = asana.ProjectsApi(client).get_project(projects[0]["gid"], {"opt_fields": "name,modified_at,custom_fields"})
    assert set(project) == {"gid", "resource_type", "name", "modified_at", "custom_fields"}
    assert {f["name"] for f in project["custom_fields"]} == {"CRM deal", "Billable"}
    sections = list(asana.SectionsApi(client).get_sections_for_project(project["gid"], {}))
    assert [s["name"] for s in sections] == ["À faire", "En cours", "Terminé"]
    settings = list(asana.CustomFieldSettingsApi(client).get_custom_field_settings_for_project(project["gid"], {}))
    assert {s["custom_field"]["name"] for s in settings} == {"CRM deal", "Billable"}
    assert all(s["project"]["gid"] == project["gid"] for s in settings)
    with pytest.raises(ApiException) as missing:
        asana.ProjectsApi(client).get_project("1", {})
    assert missing.value.status == 404 and errors(missing.value)[0]["message"] == "project: Unknown object: 1"


def test_sdk_pages_tasks_of_project_and_section_with_custom_fields(client: Counted, sandbox: Any) -> None:
    project = a_project(sandbox)
    expected = {t["gid"] for t in held(sandbox).records("tasks")
                if any(m["project"]["gid"] == project["gid"] for m in t["memberships"])}
    tasks_api = asana.TasksApi(client)
    tasks = list(tasks_api.get_tasks_for_project(project["gid"], {"limit": 2, "opt_fields": "name,modified_at,custom_fields"}))
    assert {t["gid"] for t in tasks} == expected and len(tasks) == len(expected)
    assert len([c for c in client.calls if c[1] == f"/projects/{project['gid']}/tasks"]) == -(-len(expected) // 2)
    assert all({f["name"] for f in t["custom_fields"]} == {"CRM deal", "Billable"} for t in tasks)
    sections = list(asana.SectionsApi(client).get_sections_for_project(project["gid"], {}))
    in_sections = [t for s in sections for t in tasks_api.get_tasks_for_section(s["gid"], {"limit": 1})]
    assert sorted(t["gid"] for t in in_sections) == sorted(expected)
    task = tasks_api.get_task(tasks[0]["gid"], {"opt_fields": "name,completed,due_on,memberships.section.name,custom_fields"})
    assert task["memberships"][0]["project"]["gid"] == project["gid"] and "completed" in task
    assert {f["type"] for f in task["custom_fields"]} == {"text", "enum"}
    modified = list(tasks_api.get_tasks({"project": project["gid"], "modified_since": "2099-01-01T00:00:00Z"}))
    assert modified == []


def test_sdk_writes_tasks_stories_subtasks_and_project_links(client: Counted, sandbox: Any) -> None:
    control = held(sandbox)
    control.set_clock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    project, other = sorted(control.records("projects"), key=lambda p: p["gid"])[:2]
    settings = list(asana.CustomFieldSettingsApi(client).get_custom_field_settings_for_project(project["gid"], {}))
    deal = next(s["custom_field"] for s in settings if s["custom_field"]["name"] == "CRM deal")
    billable = next(s["custom_field"] for s in settings if s["custom_field"]["name"] == "Billable")
    yes = next(o for o in billable["enum_options"] if o["name"] == "Oui")
    tasks_api, stories_api = asana.TasksApi(client), asana.StoriesApi(client)
    created = tasks_api.create_task({"data": {
        "name": "Intégration SDK", "projects": [project["gid"]], "due_on": "2026-03-20", "assignee": "me",
        "custom_fields": {deal["gid"]: "006-SDK", billable["gid"]: yes["gid"]}}}, {})
    assert created["modified_at"] == "2026-03-02T09:00:00.000Z" and created["assignee"]["resource_type"] == "user"
    assert client.last_response.status == 201
    assert client.last_response.getheader("Location").endswith(f"{API}/tasks/{created['gid']}")
    values = {f["name"]: f["display_value"] for f in created["custom_fields"]}
    assert values == {"CRM deal": "006-SDK", "Billable": "Oui"}
    control.set_clock(datetime(2026, 3, 2, 10, tzinfo=timezone.utc))
    updated = tasks_api.update_task({"data": {"completed": True, "due_on": "2026-03-25", "name": "Intégration SDK v2"}},
                                    created["gid"], {"opt_fields": "name,completed,completed_at,due_on,modified_at"})
    assert updated == {"gid": created["gid"], "resource_type": "task", "name": "Intégration SDK v2", "completed": True,
                       "completed_at": "2026-03-02T10:00:00.000Z", "due_on": "2026-03-25",
                       "modified_at": "2026-03-02T10:00:00.000Z"}
    tasks_api.add_project_for_task({"data": {"project": other["gid"]}}, created["gid"])
    assert {t["gid"] for t in tasks_api.get_tasks_for_project(other["gid"], {})} >= {created["gid"]}
    tasks_api.remove_project_for_task({"data": {"project": other["gid"]}}, created["gid"])
    assert created["gid"] not in {t["gid"] for t in tasks_api.get_tasks_for_project(other["gid"], {})}
    child = tasks_api.create_subtask_for_task({"data": {"name": "Sous-tâche", "due_on": "2026-03-21"}}, created["gid"], {})
    assert child["parent"]["gid"] == created["gid"]
    assert [t["gid"] for t in tasks_api.get_subtasks_for_task(created["gid"], {})] == [child["gid"]]
    comment = stories_api.create_story_for_task({"data": {"text": "Commentaire du SDK"}}, created["gid"], {})
    assert comment["resource_subtype"] == "comment_added" and comment["created_by"]["gid"]
    stories = list(stories_api.get_stories_for_task(created["gid"], {"opt_fields": "resource_subtype,text,created_by"}))
    assert [s["resource_subtype"] for s in stories] == [
        "name_changed", "marked_complete", "due_date_changed", "added_to_project", "removed_from_project",
        "comment_added"]
    assert stories_api.get_story(comment["gid"], {})["text"] == "Commentaire du SDK"
    blocker = next(t for t in control.records("tasks") if t["gid"] != created["gid"] and t["memberships"])
    tasks_api.add_dependencies_for_task({"data": {"dependencies": [blocker["gid"]]}}, created["gid"])
    assert [t["gid"] for t in tasks_api.get_dependencies_for_task(created["gid"], {})] == [blocker["gid"]]
    assert created["gid"] in {t["gid"] for t in tasks_api.get_dependents_for_task(blocker["gid"], {})}
    tasks_api.remove_dependencies_for_task({"data": {"dependencies": [blocker["gid"]]}}, created["gid"])
    assert list(tasks_api.get_dependencies_for_task(created["gid"], {})) == []
    assert tasks_api.delete_task(created["gid"]) == {}
    with pytest.raises(ApiException) as gone:
        tasks_api.get_task(created["gid"], {})
    assert gone.value.status == 404
    assert created["gid"] in {t["gid"] for t in control.records("tasks", include_deleted=True) if t.get("_deleted")}
    assert child["gid"] not in {t["gid"] for t in control.records("tasks")}


def test_sdk_write_is_seen_by_the_next_incremental_read(client: Counted, sandbox: Any) -> None:
    control = held(sandbox)
    workspace = sandbox.vendors["asana"].credentials["workspace_gid"]
    project = a_project(sandbox)
    control.set_clock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    events_api, tasks_api = asana.EventsApi(client), asana.TasksApi(client)
    assert list(events_api.get_events(project["gid"], {})) == []  # the iterator swallows the first 412
    with pytest.raises(ApiException) as expired:
        events_api.get_events(project["gid"], {}, full_payload=True)
    assert expired.value.status == 412
    sync = json.loads(expired.value.body)["sync"]
    since = "2026-03-02T09:30:00Z"
    assert list(tasks_api.search_tasks_for_workspace(workspace, {"modified_at.after": since})) == []
    target = next(t for t in control.records("tasks") if t["memberships"]
                  and t["memberships"][0]["project"]["gid"] == project["gid"] and not t["completed"])
    control.set_clock(datetime(2026, 3, 2, 10, tzinfo=timezone.utc))
    tasks_api.update_task({"data": {"completed": True}}, target["gid"], {})
    found = list(tasks_api.search_tasks_for_workspace(workspace, {
        "modified_at.after": since, "projects.any": project["gid"], "completed": True,
        "opt_fields": "name,modified_at,completed"}))
    assert [(t["gid"], t["modified_at"]) for t in found] == [(target["gid"], "2026-03-02T10:00:00.000Z")]
    incremental = list(tasks_api.get_tasks({"project": project["gid"], "modified_since": since}))
    assert [t["gid"] for t in incremental] == [target["gid"]]
    answer = events_api.get_events(project["gid"], {"sync": sync}, full_payload=True)
    events = answer["data"]
    assert answer["has_more"] is False and answer["sync"] != sync
    assert {(e["type"], e["action"]) for e in events} >= {("task", "changed"), ("story", "added")}
    assert any(e["resource"]["gid"] == target["gid"] and e["change"]["field"] == "completed"
               for e in events if e["type"] == "task")
    with pytest.raises(ApiException) as bad:
        list(tasks_api.search_tasks_for_workspace(workspace, {"modified_at.after": "hier"}))
    assert bad.value.status == 400 and errors(bad.value)[0]["message"] == "modified_at.after: Invalid date/time value: hier"


def test_sdk_instantiates_a_project_template_and_polls_the_job(client: Counted, sandbox: Any) -> None:
    workspace = sandbox.vendors["asana"].credentials["workspace_gid"]
    team = list(asana.TeamsApi(client).get_teams_for_workspace(workspace, {}))[0]
    templates_api, jobs_api = asana.ProjectTemplatesApi(client), asana.JobsApi(client)
    templates = list(templates_api.get_project_templates({"workspace": workspace}))
    template = templates_api.get_project_template(templates[0]["gid"], {})
    start = template["requested_dates"][0]["gid"]
    with pytest.raises(ApiException) as strict:
        templates_api.instantiate_project(template["gid"], {"body": {"data": {
            "name": "Sans date", "team": team["gid"], "is_strict": True}}})
    assert strict.value.status == 422 and "requested_dates" in errors(strict.value)[0]["message"]
    job = templates_api.instantiate_project(template["gid"], {"body": {"data": {
        "name": "Client — Déploiement", "team": team["gid"], "public": True, "is_strict": True,
        "requested_dates": [{"gid": start, "value": "2026-04-01"}]}}})
    assert job["status"] == "not_started" and job["new_project"] is None
    polled = [jobs_api.get_job(job["gid"], {}) for _ in range(2)]
    assert [j["status"] for j in polled] == ["in_progress", "succeeded"]
    assert polled[0]["new_project"] is None and polled[1]["new_project"]["name"] == "Client — Déploiement"
    project = asana.ProjectsApi(client).get_project(polled[1]["new_project"]["gid"], {})
    assert project["start_on"] == "2026-04-01" and project["team"]["gid"] == team["gid"]
    tasks = list(asana.TasksApi(client).get_tasks_for_project(project["gid"], {"opt_fields": "name,due_on"}))
    assert tasks[0]["due_on"] == "2026-04-01" and len(tasks) == 4
    assert len(list(asana.SectionsApi(client).get_sections_for_project(project["gid"], {}))) == 3


def test_sdk_batch_runs_up_to_ten_actions(client: Counted, sandbox: Any) -> None:
    project = a_project(sandbox)
    task = next(t for t in held(sandbox).records("tasks") if t["memberships"])
    batch_api = asana.BatchAPIApi(client)
    answers = list(batch_api.create_batch_request({"data": {"actions": [
        {"relative_path": f"/tasks/{task['gid']}", "method": "get", "options": {"fields": ["name", "completed"]}},
        {"relative_path": "/tasks", "method": "post", "data": {"name": "Par lot", "projects": [project["gid"]]}},
        {"relative_path": "/tasks/1", "method": "get"},
    ]}}, {}))
    assert [a["status_code"] for a in answers] == [200, 201, 404]
    assert answers[0]["body"]["data"] == {"gid": task["gid"], "resource_type": "task", "name": task["name"],
                                          "completed": task["completed"]}
    assert answers[1]["body"]["data"]["gid"] in {t["gid"] for t in held(sandbox).records("tasks")}
    assert answers[2]["body"]["errors"][0]["message"] == "task: Unknown object: 1"
    too_many = [{"relative_path": "/users/me", "method": "get"}] * 11
    for actions in (too_many, []):
        with pytest.raises(ApiException) as refused:
            list(batch_api.create_batch_request({"data": {"actions": actions}}, {}))
        assert refused.value.status == 400 and errors(refused.value)[0]["help"]


def test_sdk_sees_asana_validation_errors(client: Counted, sandbox: Any) -> None:
    project = a_project(sandbox)
    tasks_api = asana.TasksApi(client)
    cases = [
        ({"name": "Nulle part"}, "You should specify one of workspace, parent, projects"),
        ({"name": "x", "projects": ["42"]}, "projects: [0]: Not a recognized ID: 42"),
        ({"name": "x", "projects": [project["gid"]], "due_on": "demain"}, "due_on: Invalid date value: demain"),
        ({"name": "x", "projects": [project["gid"]], "custom_fields": {"77": "v"}},
         "Custom field with ID 77 is not on given object"),
        ({"name": "x", "projects": [project["gid"]], "created_at": "2026-01-01T00:00:00Z"},
         "created_at: Cannot write this property"),
    ]
    before = len(held(sandbox).records("tasks"))
    for body, message in cases:
        with pytest.raises(ApiException) as refused:
            tasks_api.create_task({"data": body}, {})
        assert refused.value.status == 400
        assert errors(refused.value) == [{"message": message, "help": errors(refused.value)[0]["help"]}]
    assert len(held(sandbox).records("tasks")) == before
    with pytest.raises(ApiException) as missing:
        asana.StoriesApi(client).create_story_for_task({"data": {"text": "?"}}, "1", {})
    assert missing.value.status == 404
    with pytest.raises(ApiException) as unrouted:
        sdk_get(client, "/tasks/1/nowhere")
    assert unrouted.value.status == 404 and "No matching route" in errors(unrouted.value)[0]["message"]
    with pytest.raises(ApiException) as denied:
        asana.UsersApi(sdk(sandbox, token="2/0/0:bad")).get_user("me", {})
    assert denied.value.status == 401 and errors(denied.value)[0]["message"] == "Not Authorized"


def sdk_get(client: Counted, path: str) -> Any:
    return client.call_api(path, "GET", {}, {}, {"Accept": "application/json"}, response_type=object,
                           auth_settings=["personalAccessToken"], _return_http_data_only=True)


def test_sdk_gets_429_with_retry_after_and_retries_on_it(sandbox: Any) -> None:
    control = held(sandbox)
    control.config(requests_per_minute=2)
    impatient = sdk(sandbox, retries=Retry(total=0, raise_on_status=False))
    users = asana.UsersApi(impatient)
    users.get_user("me", {})
    users.get_user("me", {})
    with pytest.raises(ApiException) as throttled:
        users.get_user("me", {})
    assert throttled.value.status == 429 and int(throttled.value.headers["Retry-After"]) >= 1
    assert errors(throttled.value)[0]["message"].startswith("You've made too many requests")
    control.config(enforce_rate_limits=False)
    control.add_fault("rate_limit", retry_after=1, path="/users/me")
    patient = sdk(sandbox)  # the SDK's own retry policy honours Retry-After
    assert asana.UsersApi(patient).get_user("me", {})["gid"]
    assert patient.calls == [("GET", "/users/me")]


def test_sdk_gets_403_on_a_comment_only_project(client: Counted, sandbox: Any) -> None:
    project, other = sorted(held(sandbox).records("projects"), key=lambda p: p["gid"])[:2]
    held(sandbox).config(comment_only_projects=[project["gid"]])
    task = next(t for t in held(sandbox).records("tasks")
                if [m["project"]["gid"] for m in t["memberships"]] == [project["gid"]])
    tasks_api = asana.TasksApi(client)
    writes = [
        lambda: tasks_api.update_task({"data": {"name": "Renommée"}}, task["gid"], {}),
        lambda: tasks_api.delete_task(task["gid"]),
        lambda: tasks_api.create_task({"data": {"name": "x", "projects": [project["gid"]]}}, {}),
        lambda: tasks_api.create_subtask_for_task({"data": {"name": "x"}}, task["gid"], {}),
        lambda: tasks_api.add_project_for_task({"data": {"project": other["gid"]}}, task["gid"]),
    ]
    for write in writes:
        with pytest.raises(ApiException) as denied:
            write()
        assert denied.value.status == 403 and errors(denied.value)[0]["message"] == "Forbidden"
    assert held(sandbox).record("tasks", task["gid"])["name"] == task["name"]
    comment = asana.StoriesApi(client).create_story_for_task({"data": {"text": "Lu et commenté"}}, task["gid"], {})
    assert comment["type"] == "comment"  # comment-only access still comments
