"""Asana project updates: ``PUT /projects/{gid}`` (name, notes, dates, owner, archived, custom field values).

As Asana documents: the body is ``{"data": {...}}``, only the fields given change, ``custom_fields`` maps a
field gid to its value (a field the project does not carry is a 400), ``owner`` is a user gid or null (an
unknown user is a 400, "Not a recognized ID"), an unknown project is a 404, and the
answer is the updated project. Every change bumps ``modified_at`` and emits a ``changed`` event, so the next
incremental read (``modified_since``, the Events API) sees it.
"""

from __future__ import annotations

from typing import Any, Callable

from werkzeug.wrappers import Response

from passerelle_sandbox.asana_fields import FieldSettings, empty_slot
from passerelle_sandbox.asana_model import Record, bad_request, not_found, render, wanted_fields
from passerelle_sandbox.asana_writes import compact, day_or_none, request_data
from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.store import Collection

TEXT_FIELDS = ("name", "notes")
DAY_FIELDS = ("due_on", "start_on")


class AsanaProjectRoutes:
    """``on_update_project``; the app supplies stores and helpers."""

    lock: Any
    projects: Collection
    users: Collection
    field_settings: FieldSettings
    _emit: Callable[..., None]
    now_text: Callable[[], str]

    def on_update_project(self, call: Call, gid: str) -> Response:
        data = request_data(call)
        with self.lock:
            project = self.projects.get(gid)
            if project is None:
                raise not_found("project", gid)
            changes: Record = {}
            for name in TEXT_FIELDS:
                if name in data:
                    if not isinstance(data[name], str) or (name == "name" and not data[name].strip()):
                        raise bad_request(f"{name}: Invalid value")
                    changes[name] = data[name]
            for name in DAY_FIELDS:
                if name in data:
                    changes[name] = day_or_none(name, data[name])
            if "owner" in data:
                owner = data["owner"]
                if owner is not None and str(owner) not in self.users:
                    raise bad_request(f"owner: Not a recognized ID: {owner}")
                changes["owner"] = compact(self.users[str(owner)]) if owner is not None else None
            if "archived" in data:
                if not isinstance(data["archived"], bool):
                    raise bad_request("archived: Value must be a boolean")
                changes["archived"] = data["archived"]
            if "custom_fields" in data:
                self._project_slots(project)
                self.field_settings.apply(project, data["custom_fields"])  # a bad field fails before any change
            self.projects.update(project["gid"], changes)
            self._emit("changed", project, [])
            return json_response({"data": render(project, wanted_fields(call.request.args.get("opt_fields")), True)})

    def _project_slots(self, project: Record) -> None:
        """The project's custom field values, one per field setting it carries."""
        slots = project.setdefault("custom_fields", [])
        held = {slot["gid"] for slot in slots}
        for setting in self.field_settings.for_project(project):
            if setting["custom_field"]["gid"] not in held:
                slots.append(empty_slot(setting["custom_field"]))
