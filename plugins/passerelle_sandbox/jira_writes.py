"""Jira emulator: issue writes. Create (one or bulk ≤50), edit, transition, worklog, comment, delete, properties.

Validation answers ``400 {"errorMessages": [], "errors": {field: message}}``. A field the create or
edit screen does not carry (``status``, ``reporter``, unknown ids, custom fields) gets Jira's
misleading "cannot be set" message, the same one Jira gives for a missing permission. Bulk create
returns ``201 {issues, errors: [{status, elementErrors, failedElementNumber}]}`` when at least one
issue was created, ``400`` with the same body when none was. Creating twice creates two issues:
Jira has no idempotency key.

Every write stamps the issue's ``updated`` (so ``updated >= …`` finds it) and edits, transitions and
worklogs append a changelog history authored by the API user. A new issue reaches JQL results
after ``search_index_lag_seconds`` (see :mod:`passerelle_sandbox.jira`).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical_ms
from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_jira import STATUSES
from passerelle_sandbox.jira_common import Record, jira_error, read_rich_text, rule
from passerelle_sandbox.jira_fields import CREATABLE, EDITABLE, FieldErrors, JiraFieldsMixin, parse_duration
from passerelle_sandbox.jira_meta import ISSUE_TYPE_IDS
from passerelle_sandbox.jira_reads import TRANSITIONS
from passerelle_sandbox.store import Collection

MAX_BULK = 50
STATUS_BY_NAME = {s[1]: s for s in STATUSES}
HISTORY_NAMES = {"issuetype": "issuetype", "fixVersions": "Fix Version", "components": "Component",
                 "parent": "IssueParentAssociation", "timeoriginalestimate": "timeoriginalestimate"}

WRITE_RULES = [
    rule("/rest/api/3/issue", "issue_create", ("POST",)),
    rule("/rest/api/3/issue/bulk", "issue_bulk", ("POST",)),
    rule("/rest/api/3/issue/<id_or_key>", "issue_edit", ("PUT",)),
    rule("/rest/api/3/issue/<id_or_key>", "issue_delete", ("DELETE",)),
    rule("/rest/api/3/issue/<id_or_key>/transitions", "issue_transition", ("POST",)),
    rule("/rest/api/3/issue/<id_or_key>/worklog", "worklog_add", ("POST",)),
    rule("/rest/api/3/issue/<id_or_key>/comment", "comment_add", ("POST",)),
    rule("/rest/api/3/issue/<id_or_key>/properties", "issue_property_keys"),
    rule("/rest/api/3/issue/<id_or_key>/properties/<prop>", "issue_property"),
    rule("/rest/api/3/issue/<id_or_key>/properties/<prop>", "issue_property_put", ("PUT",)),
]


class JiraWritesMixin(JiraFieldsMixin):
    """Handlers for issue writes; the history they leave is read by :mod:`passerelle_sandbox.jira_reads`."""

    issues: Collection
    projects: dict[str, Record]
    versions: dict[str, Record]
    users: dict[str, Record]
    worklogs: Collection
    comments: dict[str, list[Record]]
    histories: dict[str, list[Record]]
    components: dict[str, Record]
    account: Record
    config: dict[str, Any]
    lock: Any

    def load_write_counters(self) -> None:
        self._comment_serial = 10000
        self._history_serial = 10000

    # -------------------------------------------------------------------------- history

    def _display(self, name: str, value: Any) -> tuple[Any, Any]:
        """(``from``/``to``, ``fromString``/``toString``) of a record value, as Jira's changelog shows it."""
        if value is None or value == []:
            return None, None
        if name == "assignee":
            return value, (self.users.get(value) or {}).get("displayName")
        if name == "status":
            return STATUS_BY_NAME[value][0], value
        if name == "parent":
            return value, self.issues[value]["key"] if value in self.issues else None
        if name == "fixVersions":
            return ", ".join(value), ", ".join(self.versions[v]["name"] for v in value if v in self.versions)
        if name == "components":
            return ", ".join(value), ", ".join(self.components[c]["name"] for c in value if c in self.components)
        if name == "labels":
            return None, " ".join(value)
        if name == "issuetype":
            return ISSUE_TYPE_IDS.get(value), value
        return (str(value) if name in ("timeoriginalestimate", "timespent") else None), str(value)

    def _record_history(self, issue: Record, items: list[Record], now: int) -> None:
        if not items:
            return
        self._history_serial += 1
        self.histories.setdefault(issue["id"], []).append(
            {"id": str(self._history_serial), "author": self.account["accountId"], "created": now, "items": items})

    def _change(self, issue: Record, values: Record) -> list[Record]:
        items = []
        for name, new in values.items():
            old = issue.get(name)
            if old == new:
                continue
            old_id, old_text = self._display(name, old)
            issue[name] = new
            new_id, new_text = self._display(name, new)
            items.append({"field": HISTORY_NAMES.get(name, name), "fieldtype": "jira", "fieldId": name,
                          "from": old_id, "fromString": old_text, "to": new_id, "toString": new_text})
        return items

    def _set_status(self, issue: Record, status: str, now: int) -> list[Record]:
        was_done = STATUS_BY_NAME[issue["status"]][2] == "done"
        items = self._change(issue, {"status": status})
        if STATUS_BY_NAME[status][2] == "done" and not was_done:
            issue["resolutiondate"] = now
            items.append({"field": "resolution", "fieldtype": "jira", "fieldId": "resolution", "from": None,
                          "fromString": None, "to": "10000", "toString": "Done"})
        elif STATUS_BY_NAME[status][2] != "done" and was_done:
            issue["resolutiondate"] = None
            items.append({"field": "resolution", "fieldtype": "jira", "fieldId": "resolution", "from": "10000",
                          "fromString": "Done", "to": None, "toString": None})
        return items

    def _add_comment(self, issue: Record, text: str, now: int) -> Record:
        self._comment_serial += 1
        comment = {"id": str(self._comment_serial), "author": self.account["accountId"],
                   "updateAuthor": self.account["accountId"], "body": text, "created": now, "updated": now}
        self.comments.setdefault(issue["id"], []).append(comment)
        return comment

    # ---------------------------------------------------------------------------- create

    def _body(self, call: Call) -> Record:
        body = call.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise jira_error(400, "Invalid request payload. Refer to the REST API documentation and try again.")
        return body

    def _create_one(self, payload: Any, now: int) -> Record:
        """Create one issue from ``{fields, update, properties}``; raises :class:`FieldErrors`."""
        if not isinstance(payload, dict):
            raise FieldErrors({"fields": "Field 'fields' must be an object."})
        fields = payload.get("fields") or {}
        project_ref = fields.get("project") if isinstance(fields, dict) else None
        project = self._ref(project_ref, self.projects, "key")
        values = self._field_values(fields, CREATABLE, project["id"] if project else None)
        missing = {name: message for name, message in (
            ("project", "Specify a valid project ID or key"), ("issuetype", "Specify an issue type"),
            ("summary", "You must specify a summary of the issue.")) if name not in values and
            ("projectId" if name == "project" else name) not in values}
        if missing:
            raise FieldErrors(missing)
        if values["issuetype"] == "Subtask" and not values.get("parent"):
            raise FieldErrors({"parent": "Given parent work item does not belong to appropriate hierarchy."})
        comments = self._update_ops(None, payload.get("update"), values)
        properties = payload.get("properties") or []
        if not isinstance(properties, list) or not all(isinstance(p, dict) and p.get("key") for p in properties):
            raise FieldErrors({"properties": "Property key must be provided."})
        issue: Record = {"id": self._next_id("issues"),  # type: ignore[attr-defined]
                         "key": self.next_issue_key(self.projects[values["projectId"]]),  # type: ignore[attr-defined]
                         "projectId": values.pop("projectId"), "summary": "", "issuetype": "Task", "status": "To Do",
                         "assignee": None, "reporter": self.account["accountId"], "labels": [], "created": now,
                         "updated": now, "resolutiondate": None, "duedate": None, "fixVersions": [],
                         "timeoriginalestimate": None, "description": None, "components": [], "parent": None,
                         "properties": {p["key"]: p.get("value") for p in properties},
                         "indexedAt": now + int(float(self.config["search_index_lag_seconds"]) * 1000)}
        issue.update(values)
        self.issues.insert(issue, at=canonical_ms(now))
        for text in comments:
            self._add_comment(issue, text, now)
        return issue

    def created_ref(self, issue: Record) -> Record:
        return {"id": issue["id"], "key": issue["key"], "self": f"{self.api_root}/issue/{issue['id']}"}  # type: ignore[attr-defined]

    def on_issue_create(self, call: Call) -> Response:
        body = self._body(call)
        with self.lock:
            try:
                issue = self._create_one(body, self.now_ms())  # type: ignore[attr-defined]
            except FieldErrors as exc:
                raise jira_error(400, errors=exc.errors) from None
            return json_response(self.created_ref(issue), status=201)

    def on_issue_bulk(self, call: Call) -> Response:
        updates = self._body(call).get("issueUpdates")
        if not isinstance(updates, list) or not updates:
            raise jira_error(400, "Issue updates must be provided.")
        if len(updates) > MAX_BULK:
            raise jira_error(400, f"The number of issues to create exceeds the maximum of {MAX_BULK}.")
        created, errors = [], []
        with self.lock:
            now = self.now_ms()  # type: ignore[attr-defined]
            for index, payload in enumerate(updates):
                try:
                    created.append(self.created_ref(self._create_one(payload, now)))
                except FieldErrors as exc:
                    errors.append({"status": 400, "elementErrors": {"errorMessages": [], "errors": exc.errors},
                                   "failedElementNumber": index})
        return json_response({"issues": created, "errors": errors}, status=201 if created else 400)

    # ------------------------------------------------------------------------ edit, etc.

    def on_issue_edit(self, call: Call, id_or_key: str) -> Response:
        body = self._body(call)
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            now = self.now_ms()  # type: ignore[attr-defined]
            try:
                values = self._field_values(body.get("fields") or {}, EDITABLE, issue["projectId"])
                comments = self._update_ops(issue, body.get("update"), values)
            except FieldErrors as exc:
                raise jira_error(400, errors=exc.errors) from None
            self._record_history(issue, self._change(issue, values), now)
            for text in comments:
                self._add_comment(issue, text, now)
            self.issues.touch(issue["id"], at=canonical_ms(now))
        return Response(status=204)

    def on_issue_delete(self, call: Call, id_or_key: str) -> Response:
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            subtasks = [i for i in self.issues.values() if i.get("parent") == issue["id"] and i["issuetype"] == "Subtask"]
            if subtasks and call.request.args.get("deleteSubtasks", "false").lower() != "true":
                raise jira_error(400, "The issue has subtasks. To delete it, set deleteSubtasks to true.")
            for child in subtasks:
                self.control_delete("issues", child["id"])  # type: ignore[attr-defined]
            for child in (i for i in self.issues.values() if i.get("parent") == issue["id"]):
                child["parent"] = None
            self.control_delete("issues", issue["id"])  # type: ignore[attr-defined]
            self.comments.pop(issue["id"], None)
        return Response(status=204)

    def on_issue_transition(self, call: Call, id_or_key: str) -> Response:
        body = self._body(call)
        transition = body.get("transition")
        wanted = str(transition.get("id")) if isinstance(transition, dict) else None
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            if wanted not in self.available_transitions(issue):  # type: ignore[attr-defined]
                raise jira_error(400, f"Transition id '{wanted}' is not valid for this issue.")
            now = self.now_ms()  # type: ignore[attr-defined]
            try:
                values = self._field_values(body.get("fields") or {}, EDITABLE, issue["projectId"])
                comments = self._update_ops(issue, {k: v for k, v in (body.get("update") or {}).items() if k != "worklog"},
                                            values)
            except FieldErrors as exc:
                raise jira_error(400, errors=exc.errors) from None
            items = self._set_status(issue, TRANSITIONS[wanted], now) + self._change(issue, values)
            self._record_history(issue, items, now)
            for text in comments:
                self._add_comment(issue, text, now)
            self.issues.touch(issue["id"], at=canonical_ms(now))
        return Response(status=204)

    def on_worklog_add(self, call: Call, id_or_key: str) -> Response:
        body = self._body(call)
        errors: dict[str, str] = {}
        seconds = None
        if body.get("timeSpentSeconds") is not None:
            try:
                seconds = int(body["timeSpentSeconds"])
            except (TypeError, ValueError):
                errors["timeLogged"] = "Invalid time duration entered."
        elif body.get("timeSpent") is not None:
            seconds = parse_duration(body["timeSpent"])
            if seconds is None:
                errors["timeLogged"] = "Invalid time duration entered."
        if seconds is not None and seconds <= 0:
            errors["timeLogged"] = "Time Spent must be greater than zero."
        elif seconds is None and not errors:
            errors["timeLogged"] = "You must indicate the time spent working."
        text, problems = read_rich_text("comment", body.get("comment"))
        errors.update(problems)
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            now = self.now_ms()  # type: ignore[attr-defined]
            started = now
            if body.get("started") is not None:
                try:
                    started = self.parse_time(str(body["started"]))  # type: ignore[attr-defined]
                except ValueError:
                    errors["started"] = "Could not parse the date."
            if errors:
                raise jira_error(400, errors=errors)
            spent_before = sum(w["timeSpentSeconds"] for w in self.worklogs.values() if w["issueId"] == issue["id"])
            worklog = {"id": self._next_id("worklogs"), "issueId": issue["id"],  # type: ignore[attr-defined]
                       "author": self.account["accountId"], "updateAuthor": self.account["accountId"],
                       "comment": text or "", "started": started, "timeSpentSeconds": seconds, "created": now,
                       "updated": now, "properties": [dict(p) for p in body.get("properties") or [] if isinstance(p, dict)]}
            self.worklogs.insert(worklog, at=canonical_ms(now))
            spent = spent_before + int(seconds or 0)
            self._record_history(issue, [
                {"field": "timespent", "fieldtype": "jira", "fieldId": "timespent", "from": str(spent_before or "") or None,
                 "fromString": str(spent_before or "") or None, "to": str(spent), "toString": str(spent)},
                {"field": "WorklogId", "fieldtype": "jira", "from": None, "fromString": None,
                 "to": worklog["id"], "toString": worklog["id"]}], now)
            self.issues.touch(issue["id"], at=canonical_ms(now))
            return json_response(self.render_worklog(worklog, True), status=201)  # type: ignore[attr-defined]

    def on_comment_add(self, call: Call, id_or_key: str) -> Response:
        body = self._body(call)
        text, problems = read_rich_text("comment", body.get("body"))
        if not problems and not (text or "").strip():
            problems = {"comment": "Comment body can not be empty!"}
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            if problems:
                raise jira_error(400, errors=problems)
            now = self.now_ms()  # type: ignore[attr-defined]
            comment = self._add_comment(issue, text or "", now)
            self.issues.touch(issue["id"], at=canonical_ms(now))
            return json_response(self.render_comment(issue, comment), status=201)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------- entity properties

    def on_issue_property_keys(self, call: Call, id_or_key: str) -> Response:
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            base = f"{self.api_root}/issue/{issue['id']}/properties"  # type: ignore[attr-defined]
            return json_response({"keys": [{"self": f"{base}/{k}", "key": k} for k in sorted(issue.get("properties") or {})]})

    def on_issue_property(self, call: Call, id_or_key: str, prop: str) -> Response:
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            properties = issue.get("properties") or {}
            if prop not in properties:
                raise jira_error(404, f"The property with key '{prop}' does not exist.")
            return json_response({"key": prop, "value": properties[prop]})

    def on_issue_property_put(self, call: Call, id_or_key: str, prop: str) -> Response:
        value = call.request.get_json(silent=True)
        if value is None:
            raise jira_error(400, "The property value must be a valid JSON.")
        if len(call.request.get_data()) > 32_768:
            raise jira_error(400, "The property value is too long. The maximum length is 32768 characters.")
        with self.lock:
            issue = self.visible_issue(id_or_key)  # type: ignore[attr-defined]
            properties = issue.setdefault("properties", {})
            existed = prop in properties
            properties[prop] = value
        return Response(status=200 if existed else 201)
