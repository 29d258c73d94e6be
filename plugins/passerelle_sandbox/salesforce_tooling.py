"""Salesforce Tooling API: creating a custom field (``POST /services/data/vXX.X/tooling/sobjects/CustomField``).

The body is ``{"FullName": "<Object>.<Name>__c", "Metadata": {"label", "type", …}}``; ``Number``,
``Currency`` and ``Percent`` need ``precision`` (1–18) and ``scale`` (≤ precision), ``Text`` a ``length``
(1–255). The answer is 201 ``{"id": "00N…", "success": true, "errors": [], "warnings": [], "infos": []}``;
a name already taken is 400 ``DUPLICATE_DEVELOPER_NAME``, a bad definition 400 ``FIELD_INTEGRITY_EXCEPTION``
(Salesforce's array of ``{"message", "errorCode", "fields"}``). The field then appears in the object's
describe and every record holds null for it.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.ids import salesforce_id
from passerelle_sandbox.soql import FieldDef
from passerelle_sandbox.store import Collection

TOOLING_TYPES = {"Number": "double", "Currency": "currency", "Percent": "percent", "Text": "string", "Date": "date",
                 "DateTime": "datetime", "Checkbox": "boolean", "Url": "url", "Email": "email", "Phone": "phone",
                 "TextArea": "textarea"}
NUMERIC = ("Number", "Currency", "Percent")
_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*)__c$")
_serials = itertools.count(1)


def _refused(code: str, message: str, fields: list[str] | None = None) -> VendorError:
    return VendorError(400, [{"message": message, "errorCode": code, "fields": fields or []}])


class ToolingFields:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`."""

    objects: dict[str, Collection]
    schemas: dict[str, Any]
    lock: Any

    def on_tooling_create_field(self, call: Call, version: str) -> Response:
        body = call.request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("Metadata"), dict):
            raise _refused("JSON_PARSER_ERROR", "The request body must hold FullName and Metadata")
        full_name, meta = str(body.get("FullName") or ""), body["Metadata"]
        match = _NAME.match(full_name)
        if match is None:
            raise _refused("FIELD_INTEGRITY_EXCEPTION", f"Invalid FullName: {full_name} (Object.Field__c)", ["FullName"])
        kind, label = meta.get("type"), meta.get("label")
        if kind not in TOOLING_TYPES:
            raise _refused("FIELD_INTEGRITY_EXCEPTION", f"Invalid type: {kind}", ["type"])
        if not isinstance(label, str) or not label.strip() or len(label) > 40:
            raise _refused("FIELD_INTEGRITY_EXCEPTION", "Field label: a label of 1 to 40 characters is required",
                           ["label"])
        if kind in NUMERIC:
            precision, scale = meta.get("precision"), meta.get("scale")
            if not isinstance(precision, int) or not isinstance(scale, int) or not 1 <= precision <= 18 \
                    or not 0 <= scale <= precision:
                raise _refused("FIELD_INTEGRITY_EXCEPTION", "Precision must be 1 to 18 and scale 0 to the precision",
                               ["precision", "scale"])
        if kind == "Text" and not (isinstance(meta.get("length"), int) and 1 <= meta["length"] <= 255):
            raise _refused("FIELD_INTEGRITY_EXCEPTION", "Length: a value from 1 to 255 is required", ["length"])
        with self.lock:
            obj = next((name for name in self.schemas if name.lower() == match.group(1).lower()), None)
            if obj is None:
                raise _refused("FIELD_INTEGRITY_EXCEPTION", f"Cannot find the entity {match.group(1)}", ["FullName"])
            name = f"{match.group(2)}__c"
            if self.schemas[obj].field(name) is not None:
                raise _refused("DUPLICATE_DEVELOPER_NAME", f"There is already a field named {match.group(2)} on {obj}.")
            self.schemas[obj].add(FieldDef(name, TOOLING_TYPES[kind], label.strip()))
            for record in self.objects[obj].values():
                record.setdefault(name, None)
        field_id = salesforce_id("00N", "5g", next(_serials))
        return json_response({"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}, 201)
