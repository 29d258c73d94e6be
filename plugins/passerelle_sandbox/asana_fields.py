"""Asana custom fields on tasks: project custom field settings and the values tasks carry.

A project's custom field settings say which workspace custom fields its tasks show; every task in
that project carries each of them in ``custom_fields`` (``null`` until set). Values are written as
``custom_fields: {field_gid: value}``: a string for text fields, an enum option gid for enum
fields, a number for number fields. A field the task's projects do not carry is a 400
("Custom field with ID … is not on given object"), as Asana answers.
"""

from __future__ import annotations

from copy import deepcopy
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from passerelle_sandbox.asana_model import Record, bad_request


class FieldSettings:
    """Per project, the custom field settings (created on first use, gids from the app's sequence)."""

    def __init__(self, fields: list[Record], next_gid: Callable[[], str]) -> None:
        self.fields = {f["gid"]: f for f in fields}
        self._next_gid = next_gid
        self.by_project: dict[str, list[Record]] = {}

    def for_project(self, project: Record) -> list[Record]:
        settings = self.by_project.get(project["gid"])
        if settings is None:
            compact = {"gid": project["gid"], "resource_type": "project", "name": project["name"]}
            settings = [{"gid": self._next_gid(), "resource_type": "custom_field_setting",
                         "custom_field": deepcopy(field), "is_important": index == 0,
                         "parent": dict(compact), "project": dict(compact)}
                        for index, field in enumerate(self.fields.values())]
            self.by_project[project["gid"]] = settings
        return settings

    def attach(self, task: Record, projects: list[Record]) -> None:
        """Give ``task`` an empty slot for every field its projects carry and it lacks."""
        slots = task.setdefault("custom_fields", [])
        held = {slot["gid"] for slot in slots}
        for project in projects:
            for setting in self.for_project(project):
                field = setting["custom_field"]
                if field["gid"] not in held:
                    slots.append(empty_slot(field))
                    held.add(field["gid"])

    def apply(self, task: Record, values: Any) -> list[Record]:
        """Set ``{field_gid: value}`` on ``task``; the slots changed."""
        if not isinstance(values, dict):
            raise bad_request("custom_fields: Value must be an object mapping custom field ids to values")
        slots = {slot["gid"]: slot for slot in task.get("custom_fields", [])}
        changed = []
        for gid, value in values.items():
            slot = slots.get(str(gid))
            if slot is None:
                raise bad_request(f"Custom field with ID {gid} is not on given object")
            set_value(slot, value)
            changed.append(slot)
        return changed


def empty_slot(field: Record) -> Record:
    slot = deepcopy(field)
    kind = field.get("type")
    slot.update({"display_value": None, "enabled": True})
    if kind == "enum":
        slot["enum_value"] = None
    elif kind == "number":
        slot["number_value"] = None
    else:
        slot["text_value"] = None
    return slot


def set_value(slot: Record, value: Any) -> None:
    kind = slot.get("type")
    if kind == "enum":
        if value is None:
            slot.update({"enum_value": None, "display_value": None})
            return
        option = next((o for o in slot.get("enum_options", []) if o["gid"] == str(value)), None)
        if option is None:
            raise bad_request(f"custom_fields: Enum option {value} not found for custom field {slot['gid']}")
        slot.update({"enum_value": deepcopy(option), "display_value": option["name"]})
    elif kind == "number":
        if value is None:
            slot.update({"number_value": None, "display_value": None})
            return
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise bad_request(f"custom_fields: Number value expected for custom field {slot['gid']}") from None
        slot.update({"number_value": number, "display_value": str(number)})
    else:
        if value is not None and not isinstance(value, str):
            raise bad_request(f"custom_fields: Text value expected for custom field {slot['gid']}")
        slot.update({"text_value": value, "display_value": value})
