"""Jira emulator: reading the ``fields`` and ``update`` objects of an issue write into record values.

Values arrive as Jira takes them (``{"key": …}`` or ``{"id": …}`` references, ``{"accountId": …}``
users, ``YYYY-MM-DD`` dates, ``2h 30m`` durations) and leave as the record values the emulator
stores (ids, account ids, names, seconds). Every problem is collected per field, so one answer lists
them all, as Jira's ``errors`` object does.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from passerelle_sandbox.jira_common import Record, read_rich_text
from passerelle_sandbox.jira_meta import ISSUE_TYPE_IDS, ISSUE_TYPE_NAMES, PRIORITIES
from passerelle_sandbox.store import Collection

CANNOT_SET = "Field '{0}' cannot be set. It is not on the appropriate screen, or unknown."
EDITABLE = ("summary", "description", "issuetype", "assignee", "labels", "duedate", "priority", "parent",
            "components", "fixVersions", "timetracking")
CREATABLE = ("project", *EDITABLE)
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhm])")
UNIT_SECONDS = {"w": 144_000, "d": 28_800, "h": 3600, "m": 60}


def parse_duration(text: str) -> int | None:
    """Seconds in ``2h 30m`` / ``1d`` / ``1w`` (8-hour days, 5-day weeks); None when unreadable."""
    parts = DURATION.findall(str(text))
    if not parts or DURATION.sub("", str(text)).strip():
        return None
    return int(sum(Decimal(n) * UNIT_SECONDS[u] for n, u in parts))


class FieldErrors(Exception):
    """Per-field messages for Jira's ``errors`` object (a bulk create reports them per element)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


class JiraFieldsMixin:
    """Field translation for :class:`passerelle_sandbox.jira_writes.JiraWritesMixin`."""

    issues: Collection
    projects: dict[str, Record]
    versions: dict[str, Record]
    users: dict[str, Record]
    components: dict[str, Record]

    def _ref(self, value: Any, store: dict[str, Record], by_name: str = "name") -> Record | None:
        if not isinstance(value, dict):
            return None
        if "id" in value:
            return store.get(str(value["id"]))
        if by_name in value:
            return next((r for r in store.values() if r.get(by_name) == value[by_name]), None)
        return None

    def _field_values(self, fields: dict[str, Any], allowed: tuple[str, ...], project_id: str | None) -> Record:
        """Record-level values of an input ``fields`` object; raises :class:`FieldErrors`."""
        errors: dict[str, str] = {}
        values: Record = {}
        if not isinstance(fields, dict):
            raise FieldErrors({"fields": "Field 'fields' must be an object."})
        for name, value in fields.items():
            if name not in allowed:
                errors[name] = CANNOT_SET.format(name)
            elif name == "project":
                project = self._ref(value, self.projects, "key")
                if project is None or project.get("deleted"):
                    errors["project"] = "Specify a valid project ID or key"
                else:
                    values["projectId"] = project["id"]
            elif name == "issuetype":
                type_id = str(value.get("id")) if isinstance(value, dict) and "id" in value else ISSUE_TYPE_IDS.get(
                    value.get("name") if isinstance(value, dict) else None, "")
                if type_id not in ISSUE_TYPE_NAMES:
                    errors["issuetype"] = "The issue type selected is invalid."
                else:
                    values["issuetype"] = ISSUE_TYPE_NAMES[type_id]
            elif name == "summary":
                if not isinstance(value, str) or not value.strip():
                    errors["summary"] = "You must specify a summary of the issue."
                elif "\n" in value or "\r" in value:
                    errors["summary"] = "The summary is invalid because it contains newline characters."
                elif len(value) > 255:
                    errors["summary"] = "Summary must be less than 255 characters."
                else:
                    values["summary"] = value
            elif name == "description":
                text, problems = read_rich_text("description", value)
                errors.update(problems)
                values["description"] = text
            elif name == "assignee":
                account = value.get("accountId") if isinstance(value, dict) else None
                if value is None or (isinstance(value, dict) and value.get("accountId") is None and "accountId" in value):
                    values["assignee"] = None
                elif account not in self.users or not self.users[account].get("active"):
                    errors["assignee"] = f"User '{account or value}' cannot be assigned issues."
                else:
                    values["assignee"] = account
            elif name == "labels":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    errors["labels"] = "Operation value must be an array of strings"
                elif any(" " in v for v in value):
                    bad = next(v for v in value if " " in v)
                    errors["labels"] = f"The label '{bad}' contains spaces which is invalid."
                else:
                    values["labels"] = list(dict.fromkeys(value))
            elif name == "duedate":
                if value is not None and not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
                    errors["duedate"] = "Error parsing date string: " + str(value)
                else:
                    values["duedate"] = value
            elif name == "priority":
                wanted = value.get("id") if isinstance(value, dict) else None
                named = value.get("name") if isinstance(value, dict) else None
                match = PRIORITIES.get(str(wanted)) if wanted is not None else named if named in PRIORITIES.values() else None
                if match is None:
                    errors["priority"] = "Specify the Priority (id or name) in the correct format"
                else:
                    values["priority"] = match
            elif name == "parent":
                key = (value or {}).get("key") or (value or {}).get("id") if isinstance(value, dict) or value is None else None
                parent = next((i for i in self.issues.values() if key is not None and str(key) in (i["id"], i["key"])), None)
                if value is None:
                    values["parent"] = None
                elif parent is None:
                    errors["parent"] = "Could not find issue by id or key."
                else:
                    values["parent"] = parent["id"]
            elif name == "components":
                found = [self._ref(v, self.components) for v in value] if isinstance(value, list) else [None]
                if any(c is None or (project_id and c["projectId"] != project_id) for c in found):
                    errors["components"] = "Component name or id is not valid"
                else:
                    values["components"] = [c["id"] for c in found if c]
            elif name == "fixVersions":
                found = [self._ref(v, self.versions) for v in value] if isinstance(value, list) else [None]
                if any(v is None or (project_id and str(v["projectId"]) != project_id) for v in found):
                    errors["fixVersions"] = "Version name or id is not valid"
                else:
                    values["fixVersions"] = [v["id"] for v in found if v]
            elif name == "timetracking":
                estimate = parse_duration((value or {}).get("originalEstimate", "")) if isinstance(value, dict) else None
                if estimate is None:
                    errors["timetracking"] = "The original estimate specified is not valid."
                else:
                    values["timeoriginalestimate"] = estimate
        if errors:
            raise FieldErrors(errors)
        return values

    def _update_ops(self, issue: Record | None, update: Any, values: Record) -> list[str]:
        """Apply ``update`` operations (labels add/remove/set, comment add) into ``values``; comment bodies."""
        comments: list[str] = []
        if not update:
            return comments
        if not isinstance(update, dict):
            raise FieldErrors({"update": "Field 'update' must be an object."})
        for name, operations in update.items():
            for operation in operations if isinstance(operations, list) else [operations]:
                if not isinstance(operation, dict):
                    raise FieldErrors({name: "Operation must be an object."})
                for verb, value in operation.items():
                    if name == "comment" and verb == "add":
                        text, problems = read_rich_text("comment", (value or {}).get("body"))
                        if problems or not text:
                            raise FieldErrors(problems or {"comment": "Comment body can not be empty!"})
                        comments.append(text)
                    elif name == "labels" and verb in ("add", "remove", "set"):
                        current = list(values.get("labels", (issue or {}).get("labels") or []))
                        if verb == "set":
                            current = list(value or [])
                        elif verb == "add" and value not in current:
                            current.append(value)
                        elif verb == "remove":
                            current = [v for v in current if v != value]
                        values.update(self._field_values({"labels": current}, EDITABLE, None))
                    elif verb == "set" and name in EDITABLE:
                        values.update(self._field_values({name: value}, EDITABLE, (issue or {}).get("projectId")))
                    else:
                        raise FieldErrors({name: CANNOT_SET.format(name)})
        return comments
