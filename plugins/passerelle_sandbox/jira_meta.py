"""Jira emulator: the site's metadata. Server info, fields, issue types, statuses, projects, components, users.

``GET /serverInfo`` needs no authentication (as on Jira Cloud) and reports ``deploymentType: Cloud``:
clients read it to pick the Cloud API surface (``/search/jql``, ``accountId`` and ``query`` parameters).
Components are not part of the dataset: each project gets the same small set, numbered in project order.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_jira import STATUSES
from passerelle_sandbox.jira_common import API_VERSION, Record, jira_error, rule

ISSUE_TYPES = (  # id, name, subtask, hierarchy level, description
    ("10000", "Epic", False, 1, "A big user story that needs to be broken down."),
    ("10001", "Task", False, 0, "A small, distinct piece of work."),
    ("10002", "Story", False, 0, "Functionality or a feature expressed as a user goal."),
    ("10003", "Subtask", True, -1, "A small piece of work that's part of a larger task."),
    ("10004", "Bug", False, 0, "A problem or error."),
)
ISSUE_TYPE_IDS = {t[1]: t[0] for t in ISSUE_TYPES}
ISSUE_TYPE_NAMES = {t[0]: t[1] for t in ISSUE_TYPES}
CATEGORY_IDS = {"new": 2, "indeterminate": 4, "done": 3}
CATEGORY_COLOURS = {"new": "blue-gray", "indeterminate": "yellow", "done": "green"}
COMPONENTS = (("Intégration", "Connecteurs et flux"), ("Données", "Reprise et qualité des données"),
              ("Formation", "Accompagnement des utilisateurs"))
SYSTEM_FIELDS = (  # id, name, schema type, items, orderable
    ("summary", "Summary", "string", None, True), ("description", "Description", "string", None, True),
    ("issuetype", "Issue Type", "issuetype", None, True), ("project", "Project", "project", None, False),
    ("status", "Status", "status", None, False), ("statusCategory", "Status Category", "statusCategory", None, False),
    ("assignee", "Assignee", "user", None, True), ("reporter", "Reporter", "user", None, True),
    ("labels", "Labels", "array", "string", True), ("created", "Created", "datetime", None, False),
    ("updated", "Updated", "datetime", None, False), ("resolutiondate", "Resolved", "datetime", None, False),
    ("resolution", "Resolution", "resolution", None, True), ("duedate", "Due date", "date", None, True),
    ("fixVersions", "Fix versions", "array", "version", True), ("priority", "Priority", "priority", None, True),
    ("components", "Components", "array", "component", True), ("parent", "Parent", "issuelink", None, True),
    ("timeoriginalestimate", "Original estimate", "number", None, False),
    ("timespent", "Time Spent", "number", None, False), ("comment", "Comment", "comments-page", None, True),
    ("worklog", "Log Work", "array", "worklog", True),
)
CLAUSE_NAMES = {"issuetype": ["issuetype", "type"], "resolutiondate": ["resolutiondate", "resolved"],
                "duedate": ["duedate", "due"], "fixVersions": ["fixVersion"], "components": ["component"],
                "statusCategory": ["statusCategory"], "timeoriginalestimate": ["originalEstimate"],
                "timespent": ["timespent"], "created": ["created", "createdDate"],
                "updated": ["updated", "updatedDate"]}
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}

META_RULES = [
    rule("/rest/api/3/serverInfo", "server_info"),
    rule("/rest/api/3/field", "fields"),
    rule("/rest/api/3/issuetype", "issue_types"),
    rule("/rest/api/3/status", "statuses"),
    rule("/rest/api/3/priority", "priorities"),
    rule("/rest/api/3/project", "project_list"),
    rule("/rest/api/3/project/<key>", "project_one"),
    rule("/rest/api/3/project/<key>/components", "project_components"),
    rule("/rest/api/3/project/<key>/statuses", "project_statuses"),
    rule("/rest/api/3/user/search", "user_search"),
]


class JiraMetaMixin:
    """Handlers for the site metadata; mixed into :class:`passerelle_sandbox.jira.JiraApp`."""

    public_endpoints = frozenset({"server_info"})
    base_url: str
    projects: dict[str, Record]
    versions: dict[str, Record]
    users: dict[str, Record]
    lock: Any
    clock: Any
    config: dict[str, Any]

    @property
    def api_root(self) -> str:
        return f"{self.base_url}/rest/api/{API_VERSION.get()}"

    def load_meta(self) -> None:
        self.components: dict[str, Record] = {}
        serial = 10000
        for project in sorted(self.projects.values(), key=lambda p: int(p["id"])):
            for name, description in COMPONENTS:
                self.components[str(serial)] = {"id": str(serial), "name": name, "description": description,
                                                "projectId": project["id"], "lead": project.get("lead")}
                serial += 1

    # ------------------------------------------------------------------------ renderers

    def render_issue_type(self, type_id: str) -> Record:
        found = next(t for t in ISSUE_TYPES if t[0] == type_id)
        return {"self": f"{self.api_root}/issuetype/{found[0]}", "id": found[0], "description": found[4],
                "iconUrl": f"{self.base_url}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{10300 + int(found[0]) % 100}",
                "name": found[1], "untranslatedName": found[1], "subtask": found[2], "avatarId": 10300 + int(found[0]) % 100,
                "hierarchyLevel": found[3]}

    def render_status(self, status: tuple[str, str, str, str]) -> Record:
        category = status[2]
        return {"self": f"{self.api_root}/status/{status[0]}", "description": "", "iconUrl": f"{self.base_url}/",
                "name": status[1], "untranslatedName": status[1], "id": status[0],
                "statusCategory": {"self": f"{self.api_root}/statuscategory/{CATEGORY_IDS[category]}",
                                   "id": CATEGORY_IDS[category], "key": category,
                                   "colorName": CATEGORY_COLOURS[category], "name": status[3]}}

    def render_component(self, component: Record) -> Record:
        project = self.projects[component["projectId"]]
        body = {"self": f"{self.api_root}/component/{component['id']}", "id": component["id"],
                "name": component["name"], "description": component["description"], "assigneeType": "PROJECT_LEAD",
                "realAssigneeType": "PROJECT_LEAD", "isAssigneeTypeValid": True, "project": project["key"],
                "projectId": int(project["id"])}
        if component.get("lead"):
            body["lead"] = self.user_ref(component["lead"])  # type: ignore[attr-defined]
        return body

    def component_ref(self, component: Record) -> Record:
        return {"self": f"{self.api_root}/component/{component['id']}", "id": component["id"],
                "name": component["name"], "description": component["description"]}

    def full_project(self, project: Record) -> Record:
        body = self.render_project(project, {"description", "lead"}, [])  # type: ignore[attr-defined]
        body["self"] = f"{self.api_root}/project/{project['id']}"
        mine = [c for c in self.components.values() if c["projectId"] == project["id"]]
        versions = [v for v in self.versions.values() if str(v["projectId"]) == project["id"] and not v.get("deleted")]
        body.update({
            "components": [self.render_component(c) for c in mine],
            "issueTypes": [self.render_issue_type(t[0]) for t in ISSUE_TYPES],
            "versions": [self.render_version(v) for v in sorted(versions, key=lambda v: int(v["id"]))],  # type: ignore[attr-defined]
            "assigneeType": "UNASSIGNED", "roles": {}, "properties": {},
        })
        return body

    def find_project(self, key: str) -> Record:
        for project in self.projects.values():
            if not project.get("deleted") and key in (project["key"], project["id"]):
                return project
        raise jira_error(404, f"No project could be found with key '{key}'.")

    # ------------------------------------------------------------------------- handlers

    def on_server_info(self, call: Call) -> Response:
        now = self.clock.now()
        return json_response({
            "baseUrl": self.base_url, "displayUrl": self.base_url, "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100295,
            "buildDate": "2026-11-30T04:12:41.000+0000",
            "serverTime": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            "scmInfo": "0d4f0ab8c2a1e5f27f3c8a40c05fd0c1b5b2a7e9", "serverTitle": "Jira",
            "defaultLocale": {"locale": "en_US"}, "serverTimeZone": "Etc/UTC",
        })

    def on_fields(self, call: Call) -> Response:
        fields = []
        for field_id, name, kind, items, orderable in SYSTEM_FIELDS:
            schema: Record = {"type": kind, "system": field_id}
            if items:
                schema["items"] = items
            fields.append({"id": field_id, "key": field_id, "name": name, "custom": False, "orderable": orderable,
                           "navigable": True, "searchable": True, "clauseNames": CLAUSE_NAMES.get(field_id, [field_id]),
                           "schema": schema})
        return json_response(fields)

    def on_issue_types(self, call: Call) -> Response:
        return json_response([self.render_issue_type(t[0]) for t in ISSUE_TYPES])

    def on_statuses(self, call: Call) -> Response:
        return json_response([self.render_status(s) for s in STATUSES])

    def on_priorities(self, call: Call) -> Response:
        return json_response([{"self": f"{self.api_root}/priority/{i}", "id": i, "name": n,
                               "iconUrl": f"{self.base_url}/images/icons/priorities/{n.lower()}.svg"}
                              for i, n in PRIORITIES.items()])

    def on_project_list(self, call: Call) -> Response:
        with self.lock:
            live = sorted((p for p in self.projects.values() if not p.get("deleted")), key=lambda p: p["key"])
            return json_response([self.full_project(p) for p in live])

    def on_project_one(self, call: Call, key: str) -> Response:
        with self.lock:
            return json_response(self.full_project(self.find_project(key)))

    def on_project_components(self, call: Call, key: str) -> Response:
        with self.lock:
            project = self.find_project(key)
            mine = [c for c in self.components.values() if c["projectId"] == project["id"]]
            return json_response([self.render_component(c) for c in mine])

    def on_project_statuses(self, call: Call, key: str) -> Response:
        with self.lock:
            self.find_project(key)
        return json_response([{**self.render_issue_type(t[0]), "statuses": [self.render_status(s) for s in STATUSES]}
                              for t in ISSUE_TYPES])

    def on_user_search(self, call: Call) -> Response:
        args = call.request.args
        query = (args.get("query") or "").strip().lower()
        account = args.get("accountId")
        if not query and not account:
            raise jira_error(400, "One of 'query' or 'accountId' parameters must be provided.")
        try:
            start, size = int(args.get("startAt", 0)), int(args.get("maxResults", 50))
        except ValueError:
            raise jira_error(400, "startAt and maxResults must be integers") from None
        size = max(0, min(size, 1000))
        with self.lock:
            users = sorted(self.users.values(), key=lambda u: (u.get("displayName") or "", u["accountId"]))
            found = [u for u in users
                     if (account and u["accountId"] == account)
                     or (query and any(w.startswith(query) for w in _words(u)))]
            return json_response([self.user_ref(u["accountId"]) for u in found[max(0, start): max(0, start) + size]])  # type: ignore[attr-defined]


def _words(user: Record) -> list[str]:
    """What Jira's user search matches a query prefix against: display-name words and the e-mail."""
    words = [w.lower() for w in (user.get("displayName") or "").split()]
    words.append((user.get("displayName") or "").lower())
    if user.get("emailAddress"):
        words.append(user["emailAddress"].lower())
    return words

