"""folk writes, mixed into the folk emulator (``two-way-sync.md`` §1.6).

- ``POST /v1/people``, ``PATCH``/``DELETE /v1/people/{id}``; companies likewise;
- group objects (deals): ``GET``/``POST /v1/groups/{groupId}/{objectType}`` and ``GET``/``PATCH``/
  ``DELETE …/{objectId}``; the object types a group offers are configurable (``object_types``);
- values go in ``customFieldValues``: ``{groupId: {fieldName: value}}`` on people and companies (the
  record must belong to the group, possibly through the same request's ``groups``), flat
  ``{fieldName: value}`` on group objects; unknown fields, groups and mistyped values are 400s;
- a ``PATCH`` replaces the arrays it names and merges ``customFieldValues`` (``null`` clears a value);
- ``DELETE`` is permanent; no batch, no idempotency (a repeated create makes a second record), no
  concurrency control, and folk keeps no modification time: a snapshot read shows the new values.
Writes answer ``{"data": …, "deprecations": []}`` and count against the same per-minute budget.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.folk_model import folk_error
from passerelle_sandbox.store import NO_STAMPS, Collection

Record = dict[str, Any]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ARRAYS = ("emails", "phones", "urls", "addresses")
WRITABLE = {
    "people": ("firstName", "lastName", "fullName", "description", "birthday", "jobTitle", *ARRAYS, "companies",
               "groups", "customFieldValues"),
    "companies": ("name", "description", "industry", *ARRAYS, "groups", "customFieldValues"),
    "objects": ("name", "companies", "people", "customFieldValues"),
}
OBJECT_FIELDS = ({"name": "Status", "type": "singleSelect"}, {"name": "Deal value", "type": "numericField"},
                 {"name": "Close date", "type": "dateField"}, {"name": "Notes", "type": "textField"})

WRITE_RULES = [
    Rule("/v1/<any(people,companies):obj>", endpoint="create", methods=["POST"]),
    Rule("/v1/<any(people,companies):obj>/<record_id>", endpoint="update", methods=["PATCH"]),
    Rule("/v1/<any(people,companies):obj>/<record_id>", endpoint="delete", methods=["DELETE"]),
    Rule("/v1/groups/<group_id>/<object_type>", endpoint="objects", methods=["GET"]),
    Rule("/v1/groups/<group_id>/<object_type>", endpoint="object_create", methods=["POST"]),
    Rule("/v1/groups/<group_id>/<object_type>/<object_id>", endpoint="object_get", methods=["GET"]),
    Rule("/v1/groups/<group_id>/<object_type>/<object_id>", endpoint="object_update", methods=["PATCH"]),
    Rule("/v1/groups/<group_id>/<object_type>/<object_id>", endpoint="object_delete", methods=["DELETE"]),
]


def _invalid(message: str, **details: Any) -> Exception:
    return folk_error(400, message, details=details or None)


class FolkWriteRoutes:
    """``on_*`` write handlers over the app's ``records``, ``groups`` and ``field_definitions``."""

    records: dict[str, Collection]
    groups: list[Record]
    field_definitions: dict[str, dict[str, list[Record]]]
    config: dict[str, Any]
    lock: Any
    _rng: Any

    def load_writes(self) -> None:
        self.group_objects: dict[tuple[str, str], Collection] = {}

    def collection(self) -> Collection:
        """folk keeps no modification time and deletes for good: the store only holds the records."""
        return Collection(NO_STAMPS, self.clock, lock=self.lock)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------------- helpers

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"

    def _api_user(self) -> Record:
        """The key's owner: the workspace's first user."""
        user = next(iter(self.records["users"].values()), {"id": "usr_api", "fullName": "API", "email": None})
        return {"id": user["id"], "fullName": user.get("fullName"), "email": user.get("email")}

    def _body(self, call: Call, kind: str) -> Record:
        raw = call.request.get_data(as_text=True)
        try:
            body = json.loads(raw or "null", parse_float=Decimal)
        except ValueError:
            raise _invalid("Invalid JSON body") from None
        if not isinstance(body, dict):
            raise _invalid("Request body must be a JSON object")
        unknown = sorted(k for k in body if k not in WRITABLE[kind])
        if unknown:
            raise _invalid(f"Unknown property '{unknown[0]}'", **{unknown[0]: "not allowed"})
        return body

    def _group(self, group_id: Any) -> Record:
        group = next((g for g in self.groups if g["id"] == group_id), None)
        if group is None:
            raise _invalid(f"Group {group_id} not found", groups=group_id)
        return dict(group)

    def _links(self, obj: str, value: Any, name: str) -> list[Record]:
        """``[{id}]`` references to existing people or companies (companies may also come by name)."""
        if not isinstance(value, list):
            raise _invalid(f"{name} must be an array", **{name: value})
        out = []
        for item in value:
            ref = item.get("id") if isinstance(item, dict) else None
            if obj == "companies" and ref is None and isinstance(item, dict) and item.get("name"):
                out.append({"id": self._company_by_name(str(item["name"])), "name": item["name"]})
                continue
            record = self.records[obj].get(ref) if isinstance(ref, str) else None
            if record is None:
                raise _invalid(f"{name}: {ref} not found", **{name: ref})
            label = "name" if obj == "companies" else "fullName"
            out.append({"id": ref, label: record.get(label)})
        return out

    def _company_by_name(self, name: str) -> str:
        """folk links a company given by name, creating it when the workspace has none of that name."""
        found = next((c for c in self.records["companies"].values() if c.get("name") == name), None)
        if found is not None:
            return str(found["id"])
        company = self._blank("companies")
        company["name"] = name
        self.records["companies"].insert(company)
        return str(company["id"])

    def _blank(self, obj: str) -> Record:
        record: Record = {"id": self._new_id("per" if obj == "people" else "com")}
        if obj == "people":
            record.update({"firstName": "", "lastName": "", "fullName": "", "description": "", "birthday": None,
                           "jobTitle": ""})
        else:
            record.update({"name": "", "description": "", "industry": None})
        record.update({a: [] for a in ARRAYS})
        if obj == "people":
            record["companies"] = []
        now = self.now_text()  # type: ignore[attr-defined]
        record.update({"groups": [], "customFieldValues": {}, "createdAt": now, "createdBy": self._api_user()})
        return record

    def _typed(self, definition: Record, value: Any) -> Any:
        if value is None:
            return None
        kind, name = definition.get("type"), definition["name"]
        if kind == "numericField":
            try:
                number = Decimal(str(value)) if not isinstance(value, bool) else None
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite():
                raise _invalid(f"Custom field '{name}' expects a number", **{name: str(value)})
            return number
        if kind == "dateField" and not (isinstance(value, str) and DATE.match(value)):
            raise _invalid(f"Custom field '{name}' expects a date (YYYY-MM-DD)", **{name: value})
        return value

    def _values(self, definitions: list[Record], values: Any, current: Record) -> Record:
        if not isinstance(values, dict):
            raise _invalid("customFieldValues must be an object")
        known = {d["name"]: d for d in definitions}
        merged = dict(current)
        for name, value in values.items():
            if name not in known:
                raise _invalid(f"Unknown custom field '{name}'", customFieldValues=name)
            typed = self._typed(known[name], value)
            if typed is None:
                merged.pop(name, None)
            else:
                merged[name] = typed
        return merged

    # ----------------------------------------------------------- people and companies

    def _write(self, obj: str, record: Record, body: Record) -> None:
        entity = "person" if obj == "people" else "company"
        staged = dict(record)
        for name, value in body.items():
            if name in ARRAYS:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise _invalid(f"{name} must be an array of strings", **{name: value})
                if name == "emails" and any(not EMAIL.match(v) for v in value):
                    raise _invalid("emails contains an invalid e-mail address", emails=value)
                staged[name] = list(value)
            elif name == "companies":
                staged[name] = self._links("companies", value, name)
            elif name == "groups":
                if not isinstance(value, list):
                    raise _invalid("groups must be an array", groups=value)
                staged[name] = [self._group(g.get("id") if isinstance(g, dict) else g) for g in value]
            elif name == "birthday":
                if value is not None and not (isinstance(value, str) and DATE.match(value)):
                    raise _invalid("birthday must be a date (YYYY-MM-DD)", birthday=value)
                staged[name] = value
            elif name != "customFieldValues":
                if value is not None and not isinstance(value, str):
                    raise _invalid(f"{name} must be a string", **{name: value})
                staged[name] = value if value is not None else ""
        if "customFieldValues" in body:
            values = body["customFieldValues"]
            if not isinstance(values, dict):
                raise _invalid("customFieldValues must be an object of group id → values")
            member_of = {g["id"] for g in staged["groups"]}
            by_group = {k: dict(v) for k, v in staged.get("customFieldValues", {}).items()}
            for group_id, group_values in values.items():
                self._group(group_id)
                if group_id not in member_of:
                    raise _invalid(f"The {entity} is not in group {group_id}", customFieldValues=group_id)
                definitions = self.field_definitions.get(group_id, {}).get(entity, [])
                by_group[group_id] = self._values(definitions, group_values, by_group.get(group_id, {}))
            staged["customFieldValues"] = by_group
        if obj == "people":
            if {"firstName", "lastName"} & set(body) and "fullName" not in body:
                staged["fullName"] = f"{staged['firstName']} {staged['lastName']}".strip()
            if not str(staged.get("fullName") or "").strip():
                raise _invalid("A person needs a fullName, firstName or lastName", fullName=None)
        elif not str(staged.get("name") or "").strip():
            raise _invalid("name is required", name=None)
        record.clear()
        record.update(staged)

    def on_create(self, call: Call, obj: str) -> Response:
        body = self._body(call, obj)
        with self.lock:
            record = self._blank(obj)
            self._write(obj, record, body)
            self.records[obj].insert(record)
            return json_response({"data": _copy(record), "deprecations": []})

    def _found(self, obj: str, record_id: str) -> Record:
        record = self.records[obj].get(record_id)
        if record is None:
            raise folk_error(404, f"{'person' if obj == 'people' else 'company'} {record_id} not found")
        return record

    def on_update(self, call: Call, obj: str, record_id: str) -> Response:
        body = self._body(call, obj)
        with self.lock:
            record = self._found(obj, record_id)
            self._write(obj, record, body)
            return json_response({"data": _copy(record), "deprecations": []})

    def on_delete(self, call: Call, obj: str, record_id: str) -> Response:
        with self.lock:
            self._found(obj, record_id)
            self.records[obj].purge(record_id)
        return json_response({"data": {"id": record_id}, "deprecations": []})

    # ------------------------------------------------------------------ group objects

    def _object_store(self, group_id: str, object_type: str) -> Collection:
        if not any(g["id"] == group_id for g in self.groups):
            raise folk_error(404, f"group {group_id} not found")
        if object_type not in self.config.get("object_types", ("Deals",)):
            raise folk_error(404, f"object type {object_type} not found in group {group_id}")
        key = (group_id, object_type)
        if key not in self.group_objects:
            self.group_objects[key] = self.collection()
        return self.group_objects[key]

    def _group_object(self, group_id: str, object_type: str, object_id: str) -> tuple[Collection, Record]:
        store = self._object_store(group_id, object_type)
        record = store.get(object_id)
        if record is None:
            raise folk_error(404, f"object {object_id} not found")
        return store, record

    def _write_object(self, record: Record, body: Record) -> None:
        staged = dict(record)
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise _invalid("name is required", name=body["name"])
            staged["name"] = body["name"]
        if "companies" in body:
            staged["companies"] = self._links("companies", body["companies"], "companies")
        if "people" in body:
            staged["people"] = self._links("people", body["people"], "people")
        if "customFieldValues" in body:
            staged["customFieldValues"] = self._values(list(OBJECT_FIELDS), body["customFieldValues"],
                                                       staged["customFieldValues"])
        record.clear()
        record.update(staged)

    def on_objects(self, call: Call, group_id: str, object_type: str) -> Response:
        with self.lock:
            rows = [_copy(r) for r in self._object_store(group_id, object_type).values()]
        return self._page(call, rows)  # type: ignore[attr-defined]

    def on_object_create(self, call: Call, group_id: str, object_type: str) -> Response:
        body = self._body(call, "objects")
        with self.lock:
            store = self._object_store(group_id, object_type)
            if "name" not in body:
                raise _invalid("name is required", name=None)
            record: Record = {"id": self._new_id("obj"), "name": "", "companies": [], "people": [],
                              "customFieldValues": {}, "createdAt": self.now_text(),  # type: ignore[attr-defined]
                              "createdBy": self._api_user()}
            self._write_object(record, body)
            store.insert(record)
            return json_response({"data": _copy(record), "deprecations": []})

    def on_object_get(self, call: Call, group_id: str, object_type: str, object_id: str) -> Response:
        with self.lock:
            return json_response({"data": _copy(self._group_object(group_id, object_type, object_id)[1]),
                                  "deprecations": []})

    def on_object_update(self, call: Call, group_id: str, object_type: str, object_id: str) -> Response:
        body = self._body(call, "objects")
        with self.lock:
            _, record = self._group_object(group_id, object_type, object_id)
            self._write_object(record, body)
            return json_response({"data": _copy(record), "deprecations": []})

    def on_object_delete(self, call: Call, group_id: str, object_type: str, object_id: str) -> Response:
        with self.lock:
            store, _ = self._group_object(group_id, object_type, object_id)
            store.purge(object_id)
        return json_response({"data": {"id": object_id}, "deprecations": []})


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
