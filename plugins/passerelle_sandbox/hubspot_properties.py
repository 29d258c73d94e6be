"""HubSpot property definitions: read one, create one (``/crm/v3/properties/{objectType}``).

What an integration's set-up does to add its own fields (two-way-sync.md §2): ``POST`` with ``name``,
``label``, ``type``, ``fieldType`` and ``groupName`` (and ``hasUniqueValue``, for a property that identifies
a record: see ``hubspot_unique``) answers 201 with the definition; a name already taken
answers 409 ``OBJECT_ALREADY_EXISTS``; a ``type`` and ``fieldType`` that do not go together, or a missing
field, answer 400 ``VALIDATION_ERROR``. Values of the new property are then accepted by every object write.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.hubspot_errors import hs_error
from passerelle_sandbox.hubspot_model import PropertyDef

FIELD_TYPES = {
    "string": ("text", "textarea", "html", "phonenumber", "file"),
    "number": ("number", "calculation_equation"),
    "date": ("date",),
    "datetime": ("date",),
    "bool": ("booleancheckbox", "calculation_equation"),
    "enumeration": ("select", "radio", "checkbox", "booleancheckbox"),
}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


class PropertyWrites:
    """Property-definition handlers mixed into the HubSpot emulator."""

    lock: threading.RLock
    properties: dict[str, dict[str, PropertyDef]]

    if TYPE_CHECKING:  # provided by HubSpotApp
        def _type(self, name: str) -> str: ...
        def _json(self, call: Call) -> dict[str, Any]: ...

    def on_property(self, call: Call, object_type: str, name: str) -> Response:
        object_type = self._type(object_type)
        with self.lock:
            defs = list(self.properties[object_type].values())
        for order, definition in enumerate(defs):
            if definition.name == name:
                return json_response(definition.as_json(object_type, order))
        raise hs_error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {object_type}")

    def on_create_property(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        body = self._json(call)
        missing = [key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)]
        if missing:
            raise hs_error(400, "VALIDATION_ERROR", f"Property is missing required fields: {', '.join(missing)}")
        name, kind, field_type = str(body["name"]), str(body["type"]), str(body["fieldType"])
        if not NAME.match(name):
            raise hs_error(400, "VALIDATION_ERROR", f"Property name {name!r} must start with a lowercase letter and "
                                                    "hold only lowercase letters, digits and underscores")
        if field_type not in FIELD_TYPES.get(kind, ()):
            raise hs_error(400, "VALIDATION_ERROR", f"Property type {kind} does not support field type {field_type}")
        unique = body.get("hasUniqueValue", False)
        if not isinstance(unique, bool):
            raise hs_error(400, "VALIDATION_ERROR", f"hasUniqueValue must be a boolean, got {unique!r}")
        with self.lock:
            defs = self.properties[object_type]
            if name in defs:
                raise hs_error(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
            definition = PropertyDef(name, kind, field_type, label=str(body["label"]), group=str(body["groupName"]),
                                     unique=unique)
            defs[name] = definition
            order = len(defs) - 1
        return json_response(definition.as_json(object_type, order), 201)
