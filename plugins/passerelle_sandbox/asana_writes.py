"""Asana task writes, mixed into the Asana emulator (``two-way-sync.md`` §1.8).

``POST /tasks`` (one of ``workspace``, ``projects`` or ``parent`` required; 201), ``PUT /tasks/{gid}``,
``DELETE /tasks/{gid}`` (subtasks go with it), ``POST /tasks/{gid}/addProject`` / ``removeProject``,
``POST /tasks/{gid}/subtasks``, ``POST /tasks/{gid}/stories`` (a comment),
``POST /tasks/{gid}/addDependencies`` / ``removeDependencies`` / ``addDependents`` / ``removeDependents``.
Bodies are ``{"data": {…}}``; bad input is a 400 in Asana's error body. Every change that Asana
records as a story (completion, due date, name, assignee, notes, custom field, project membership,
comment) writes that story as the caller, bumps the task's ``modified_at`` and goes to the Events
API, so the next incremental read (``modified_since``, search ``modified_at.after``, events) sees it.
Creates answer 201 with a ``Location`` header. Projects listed in the ``comment_only_projects`` knob
are ones the caller may read and comment on but not edit: any other write touching them is a 403,
Asana's answer for objects the user has no write access to.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Iterable

from werkzeug.wrappers import Response

from passerelle_sandbox.asana_fields import FieldSettings
from passerelle_sandbox.asana_model import Record, bad_request, error_body, not_found, render, wanted_fields
from passerelle_sandbox.clock import canonicalize
from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.store import Collection

MAX_DEPENDENCIES = 30
READ_ONLY = ("gid", "resource_type", "created_at", "modified_at", "completed_at", "completed_by", "num_subtasks",
             "actual_time_minutes", "workspace_gid")
NOT_UPDATABLE = ("projects", "memberships", "parent", "workspace")
TASK_SUBTYPES = ("default_task", "milestone", "section", "approval")


def request_data(call: Call) -> Record:
    """The ``data`` object of a JSON body (numbers as exact Decimals)."""
    raw = call.request.get_data(cache=True)
    try:
        body = json.loads(raw, parse_float=Decimal) if raw else None
    except ValueError:
        raise bad_request("Could not parse request data, invalid JSON") from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise bad_request("data: Missing input")
    return data


def created_at_url(call: Call, collection: str, gid: str) -> str:
    """Where a created object can be read back: Asana's ``Location`` header on a 201."""
    root = call.path.split("/api/1.0", 1)[0]
    return f"{call.request.host_url.rstrip('/')}{root}/api/1.0/{collection}/{gid}"


def compact(record: Record) -> Record:
    out = {"gid": record["gid"], "resource_type": record["resource_type"], "name": record.get("name")}
    if record["resource_type"] == "task":
        out["resource_subtype"] = record.get("resource_subtype", "default_task")
    return out


def day_or_none(name: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise bad_request(f"{name}: Invalid date value: {value}") from None


class AsanaWriteRoutes:
    """``on_*`` write handlers; every mutation holds the app lock."""

    lock: Any
    config: dict[str, Any]
    workspace: Record
    users: Collection
    projects: Collection
    sections: Collection
    tasks: Collection
    stories: Collection
    field_settings: FieldSettings
    _next_gid: Callable[[], str]
    _emit: Callable[..., None]
    _with_actual_time: Callable[[Record], Record]
    now_text: Callable[[], str]

    # ----------------------------------------------------------------------------- helpers

    def _me(self) -> Record:
        return compact(next(iter(self.users.values())))

    def _assignee(self, value: Any) -> Record | None:
        if value is None:
            return None
        if value == "me":
            return self._me()
        user = self.users.get(str(value))
        if user is None:
            raise bad_request(f"assignee: Not a recognized ID: {value}")
        return compact(user)

    def _write_task(self, task: Record) -> None:
        self.tasks.touch(task["gid"])

    def _task_response(self, call: Call, task: Record, status: int = 200) -> Response:
        fields = wanted_fields(call.request.args.get("opt_fields"))
        headers = {"Location": created_at_url(call, "tasks", task["gid"])} if status == 201 else None
        return json_response({"data": render(self._with_actual_time(task), fields, full=True)}, status, headers)

    def _check_editable(self, task: Record | None = None, project: Record | None = None) -> None:
        """403 when the task (through its projects or its parent's) or the project is comment-only."""
        locked = set(self.config.get("comment_only_projects") or [])
        if not locked:
            return
        gids = {project["gid"]} if project else set()
        while task is not None:
            gids |= {m["project"]["gid"] for m in task.get("memberships", [])}
            task = self.tasks.get(task["parent"]["gid"]) if task.get("parent") else None
        if gids & locked:
            raise VendorError(403, error_body("Forbidden"))

    def _live_task(self, gid: str) -> Record:
        task = self.tasks.get(gid)
        if task is None:
            raise not_found("task", gid)
        return task

    def _watchers(self, task: Record) -> list[str]:
        parent = [task["parent"]["gid"]] if task.get("parent") else []
        return [m["project"]["gid"] for m in task.get("memberships", [])] + parent

    def _story(self, task: Record, subtype: str, text: str, comment: bool = False) -> Record:
        """A story on ``task`` by the caller; it bumps ``modified_at`` and is an event, as in Asana."""
        now = self.now_text()
        story: Record = {
            "gid": self._next_gid(), "resource_type": "story", "created_at": now, "created_by": self._me(),
            "resource_subtype": subtype, "type": "comment" if comment else "system", "text": text,
            "is_pinned": False, "is_edited": False, "source": "api", "target": compact(task),
        }
        if comment:
            story["html_text"] = f"<body>{text}</body>"
        self.stories.insert(story, at=now)
        self.tasks.touch(task["gid"], at=now)
        self._emit("added", story, [task["gid"], *self._watchers(task)], parent=compact(task))
        return story

    def _changed(self, task: Record, field: str, value: Any) -> None:
        change = {"field": field, "action": "changed", "new_value": value}
        for project in self._watchers(task) or [None]:
            self._emit("changed", task, [project] if project else [], change,
                       parent={"gid": project, "resource_type": "project"} if project else None)

    def _project_or_400(self, gid: Any, where: str) -> Record:
        project = self.projects.get(str(gid))
        if project is None:
            raise bad_request(f"{where}: Not a recognized ID: {gid}")
        return project

    def _membership(self, project: Record, section_gid: Any = None) -> Record:
        section = None
        if section_gid is not None:
            found = self.sections.get(str(section_gid))
            if found is None or found["project"]["gid"] != project["gid"]:
                raise bad_request(f"section: Not a recognized ID: {section_gid}")
            section = {"gid": found["gid"], "resource_type": "section", "name": found["name"]}
        else:
            first = next((s for s in self.sections.values() if s["project"]["gid"] == project["gid"]), None)
            section = None if first is None else {"gid": first["gid"], "resource_type": "section",
                                                  "name": first["name"]}
        return {"project": {"gid": project["gid"], "resource_type": "project", "name": project["name"]},
                "section": section}

    # ----------------------------------------------------------------------------- create

    def _build_task(self, data: Record, parent: Record | None) -> Record:
        for name in READ_ONLY:
            if name in data:
                raise bad_request(f"{name}: Cannot write this property")
        if data.get("due_on") is not None and data.get("due_at") is not None:
            raise bad_request("You may only provide one of due_on or due_at")
        workspace = data.get("workspace")
        if workspace is not None and str(workspace) != self.workspace["gid"]:
            raise bad_request(f"workspace: Not a recognized ID: {workspace}")
        projects = data.get("projects") or []
        if isinstance(projects, str):
            projects = [p for p in projects.split(",") if p]
        memberships = [self._membership(self._project_or_400(gid, f"projects: [{index}]"))
                       for index, gid in enumerate(projects)]
        for index, wanted in enumerate(data.get("memberships") or []):
            project = self._project_or_400(wanted.get("project"), f"memberships: [{index}]: project")
            memberships = [m for m in memberships if m["project"]["gid"] != project["gid"]]
            memberships.append(self._membership(project, wanted.get("section")))
        if parent is None and not memberships and workspace is None:
            raise bad_request("You should specify one of workspace, parent, projects")
        subtype = data.get("resource_subtype", "default_task")
        if subtype not in TASK_SUBTYPES:
            raise bad_request(f"resource_subtype: Not a valid enum value: {subtype}")
        name = data.get("name", "")
        if not isinstance(name, str):
            raise bad_request("name: Value is not a string")
        now = self.now_text()
        completed = bool(data.get("completed", False))
        task: Record = {
            "gid": self._next_gid(), "resource_type": "task", "resource_subtype": subtype, "name": name,
            "completed": completed, "completed_at": now if completed else None,
            "completed_by": self._me() if completed else None, "assignee": self._assignee(data.get("assignee")),
            "start_on": day_or_none("start_on", data.get("start_on")), "due_on": day_or_none("due_on", data.get("due_on")),
            "due_at": canonicalize(str(data["due_at"])) if data.get("due_at") else None,
            "created_at": now, "modified_at": now, "notes": data.get("notes", ""),
            "parent": compact(parent) if parent else None, "num_subtasks": 0, "memberships": memberships,
            "workspace": {"gid": self.workspace["gid"], "resource_type": "workspace", "name": self.workspace["name"]},
            "custom_fields": [],
        }
        self.field_settings.attach(task, [self.projects[m["project"]["gid"]] for m in memberships])
        if "custom_fields" in data:
            self.field_settings.apply(task, data["custom_fields"])
        return task

    def on_create_task(self, call: Call) -> Response:
        data = request_data(call)
        with self.lock:
            parent = self._live_task(str(data["parent"])) if data.get("parent") else None
            task = self._build_task(data, parent)
            self._check_editable(task)
            self._insert(task, parent)
            return self._task_response(call, task, 201)

    def on_create_subtask(self, call: Call, gid: str) -> Response:
        data = request_data(call)
        with self.lock:
            parent = self._live_task(gid)
            task = self._build_task(data, parent)
            self._check_editable(task)
            self._insert(task, parent)
            return self._task_response(call, task, 201)

    def _insert(self, task: Record, parent: Record | None) -> None:
        self.tasks.insert(task, at=task["modified_at"])
        if parent is not None:
            parent["num_subtasks"] = parent.get("num_subtasks", 0) + 1
        for membership in task["memberships"]:
            project = membership["project"]["gid"]
            self._emit("added", task, [project], parent={"gid": project, "resource_type": "project"})
        if parent is not None:
            self._emit("added", task, [parent["gid"]], parent=compact(parent))
        elif not task["memberships"]:
            self._emit("added", task, [])

    # ----------------------------------------------------------------------------- update

    def on_update_task(self, call: Call, gid: str) -> Response:
        data = request_data(call)
        with self.lock:
            task = self._live_task(gid)
            self._check_editable(task)
            for name in READ_ONLY + NOT_UPDATABLE:
                if name in data:
                    raise bad_request(f"{name}: Cannot write this property")
            if data.get("due_on") is not None and data.get("due_at") is not None:
                raise bad_request("You may only provide one of due_on or due_at")
            changes = self._validated_changes(task, data)
            custom = data.get("custom_fields")
            if custom is not None:
                trial = {"custom_fields": [dict(slot) for slot in task.get("custom_fields", [])]}
                self.field_settings.apply(trial, custom)  # all-or-nothing: validate before writing
            for field, value in changes.items():
                if task.get(field) == value:
                    continue
                self._apply_change(task, field, value)
            if custom is not None:
                for slot in self.field_settings.apply(task, custom):
                    self._story(task, f"{slot.get('type', 'text')}_custom_field_changed",
                                f"changed {slot['name']} to {slot['display_value']}")
                    self._changed(task, "custom_fields", slot["gid"])
            self._write_task(task)
            return self._task_response(call, task)

    def _validated_changes(self, task: Record, data: Record) -> Record:
        changes: Record = {}
        if "name" in data:
            if not isinstance(data["name"], str):
                raise bad_request("name: Value is not a string")
            changes["name"] = data["name"]
        if "notes" in data:
            changes["notes"] = str(data["notes"] or "")
        if "completed" in data:
            if not isinstance(data["completed"], bool):
                raise bad_request(f"completed: Not a boolean: {data['completed']}")
            changes["completed"] = data["completed"]
        for name in ("due_on", "start_on"):
            if name in data:
                changes[name] = day_or_none(name, data[name])
        if "due_at" in data:
            changes["due_at"] = canonicalize(str(data["due_at"])) if data["due_at"] else None
        if "assignee" in data:
            changes["assignee"] = self._assignee(data["assignee"])
        if "resource_subtype" in data:
            if data["resource_subtype"] not in TASK_SUBTYPES:
                raise bad_request(f"resource_subtype: Not a valid enum value: {data['resource_subtype']}")
            changes["resource_subtype"] = data["resource_subtype"]
        return changes

    def _apply_change(self, task: Record, field: str, value: Any) -> None:
        task[field] = value
        if field == "completed":
            task["completed_at"] = self.now_text() if value else None
            task["completed_by"] = self._me() if value else None
            self._story(task, "marked_complete" if value else "marked_incomplete",
                        "marked this task complete" if value else "marked incomplete")
        elif field in ("due_on", "due_at"):
            self._story(task, "due_date_changed", f"changed the due date to {value}" if value else "removed the due date")
        elif field == "name":
            self._story(task, "name_changed", f'changed the name to "{value}"')
        elif field == "assignee":
            self._story(task, "assigned" if value else "unassigned",
                        f"assigned to {value['name']}" if value else "unassigned this task")
        elif field == "notes":
            self._story(task, "notes_changed", "changed the description")
        self._changed(task, field, value if not isinstance(value, dict) else value.get("gid"))

    # ----------------------------------------------------------------------------- delete

    def on_delete_task(self, call: Call, gid: str) -> Response:
        with self.lock:
            task = self._live_task(gid)
            self._check_editable(task)
            doomed = [task] + [t for t in self.tasks.values() if (t.get("parent") or {}).get("gid") == gid]
            for record in doomed:
                self.tasks.delete(record["gid"])
                self._emit("deleted", record, self._watchers(record))
            if task.get("parent") and task["parent"]["gid"] in self.tasks:
                parent = self.tasks[task["parent"]["gid"]]
                parent["num_subtasks"] = max(0, parent.get("num_subtasks", 1) - 1)
        return json_response({"data": {}})

    # ----------------------------------------------------------------------- project links

    def on_add_project(self, call: Call, gid: str) -> Response:
        data = request_data(call)
        with self.lock:
            task = self._live_task(gid)
            if data.get("project") is None:
                raise bad_request("project: Missing input")
            project = self._project_or_400(data["project"], "project")
            self._check_editable(task, project)
            if sum(1 for k in ("insert_before", "insert_after", "section") if data.get(k)) > 1:
                raise bad_request("You may only provide one of insert_before, insert_after or section")
            membership = self._membership(project, data.get("section"))
            task["memberships"] = [m for m in task.get("memberships", []) if m["project"]["gid"] != project["gid"]]
            task["memberships"].append(membership)
            self.field_settings.attach(task, [project])
            self._story(task, "added_to_project", f"added this task to {project['name']}")
            self._emit("added", task, [project["gid"]], parent={"gid": project["gid"], "resource_type": "project"})
        return json_response({"data": {}})

    def on_remove_project(self, call: Call, gid: str) -> Response:
        data = request_data(call)
        with self.lock:
            task = self._live_task(gid)
            if data.get("project") is None:
                raise bad_request("project: Missing input")
            project = self._project_or_400(data["project"], "project")
            self._check_editable(task, project)
            kept = [m for m in task.get("memberships", []) if m["project"]["gid"] != project["gid"]]
            if len(kept) != len(task.get("memberships", [])):
                task["memberships"] = kept
                self._story(task, "removed_from_project", f"removed this task from {project['name']}")
                self._emit("removed", task, [project["gid"]],
                           parent={"gid": project["gid"], "resource_type": "project"})
        return json_response({"data": {}})

    # ----------------------------------------------------------------------------- stories

    def on_create_story(self, call: Call, gid: str) -> Response:
        data = request_data(call)
        text = data.get("text")
        if text is None and data.get("html_text") is not None:
            text = str(data["html_text"]).replace("<body>", "").replace("</body>", "")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("You must specify one of text or html_text")
        with self.lock:
            story = self._story(self._live_task(gid), "comment_added", text, comment=True)
            fields = wanted_fields(call.request.args.get("opt_fields"))
            return json_response({"data": render(story, fields, full=True)}, 201,
                                 {"Location": created_at_url(call, "stories", story["gid"])})

    # ------------------------------------------------------------------------ dependencies

    def _gid_list(self, data: Record, name: str) -> list[str]:
        values = data.get(name)
        if not isinstance(values, list) or not values:
            raise bad_request(f"{name}: Missing input")
        for index, value in enumerate(values):
            if str(value) not in self.tasks:
                raise bad_request(f"{name}: [{index}]: Not a recognized ID: {value}")
        return [str(v) for v in values]

    def _link(self, blocked: Record, blockers: Iterable[str], add: bool) -> None:
        current = list(blocked.get("_dependencies", []))
        for gid in blockers:
            if gid == blocked["gid"]:
                raise bad_request("A task cannot depend on itself")
            if add and gid not in current:
                current.append(gid)
            elif not add and gid in current:
                current.remove(gid)
        if len(current) > MAX_DEPENDENCIES:
            raise bad_request(f"Tasks can have at most {MAX_DEPENDENCIES} dependencies")
        blocked["_dependencies"] = current

    def _dependency_call(self, call: Call, gid: str, name: str, add: bool) -> Response:
        data = request_data(call)
        with self.lock:
            task = self._live_task(gid)
            self._check_editable(task)
            others = self._gid_list(data, name)
            if name == "dependencies":
                self._link(task, others, add)
            else:
                for other in others:
                    self._link(self.tasks[other], [gid], add)
        return json_response({"data": {}})

    def on_add_dependencies(self, call: Call, gid: str) -> Response:
        return self._dependency_call(call, gid, "dependencies", True)

    def on_remove_dependencies(self, call: Call, gid: str) -> Response:
        return self._dependency_call(call, gid, "dependencies", False)

    def on_add_dependents(self, call: Call, gid: str) -> Response:
        return self._dependency_call(call, gid, "dependents", True)

    def on_remove_dependents(self, call: Call, gid: str) -> Response:
        return self._dependency_call(call, gid, "dependents", False)
