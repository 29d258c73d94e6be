"""Zoho field values on write, and custom-field creation (``POST {base}/settings/fields?module=…``).

A record's values are checked against the module's field metadata the way Zoho answers per record:
``INVALID_DATA`` with ``api_name``, ``json_path`` and ``expected_data_type``, ``maximum_length`` or
``supported_values``; a lookup to a missing record is ``INVALID_DATA`` "the related id given seems to
be invalid". System fields (``Created_Time``, ``Modified_By``…) sent back from a read are ignored.
A created field's API name is derived from its label (``Passerelle Key`` → ``Passerelle_Key``); a
field created ``unique`` refuses duplicate values (``DUPLICATE_DATA``) and is an upsert key.
"""

from __future__ import annotations

import re
import threading
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle import exact_json
from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_zoho import READ_ONLY_FIELDS
from passerelle_sandbox.zoho_model import Record, zoho_error

CREATABLE_TYPES = frozenset({"text", "textarea", "email", "phone", "website", "integer", "double", "currency",
                             "date", "datetime", "boolean", "picklist"})
TYPE_LENGTH = {"text": 255, "email": 100, "phone": 30, "website": 255, "textarea": 32000}
IGNORED_KEYS = READ_ONLY_FIELDS | {"id", "$se_module", "$approved", "$editable", "$currency_symbol"}


class FieldProblem(Exception):
    """One record's first problem, as Zoho reports it in that record's ``data[]`` entry."""

    def __init__(self, code: str, message: str, details: Record, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.details, self.status = code, message, details, status

    def entry(self) -> Record:
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


def invalid(name: str, path: str, **extra: Any) -> FieldProblem:
    return FieldProblem("INVALID_DATA", "invalid data", {**extra, "api_name": name, "json_path": path})


def api_name_for(label: str, taken: set[str]) -> str:
    """Zoho's API name for a new field: the label's words joined by ``_``, numbered when taken."""
    base = re.sub(r"[^0-9A-Za-z]+", "_", label).strip("_") or "Field"
    if base[0].isdigit():
        base = f"Field_{base}"
    name, number = base, 1
    while name.lower() in {t.lower() for t in taken}:
        name, number = f"{base}{number}", number + 1
    return name


def _number(value: Any) -> bool:
    return isinstance(value, (int, Decimal, float)) and not isinstance(value, bool)


class FieldValues:
    """Checks one value against its field's metadata; mixed into the Zoho emulator."""

    records: dict[str, dict[str, Record]]
    field_meta: dict[str, list[Record]]
    lock: threading.RLock

    if TYPE_CHECKING:
        def _user_stamp(self, user_id: str) -> Record | None: ...
        def _new_id(self) -> str: ...
        def _module(self, module: str) -> str: ...

    def _fields_of(self, module: str) -> dict[str, Record]:
        return {f["api_name"]: f for f in self.field_meta.get(module, [])}

    def _value(self, module: str, field: Record, value: Any, path: str, record: Record) -> Any:
        """The stored form of ``value`` for ``field``, or the problem Zoho reports."""
        name, kind = field["api_name"], field["data_type"]
        if value is None:
            return None
        if kind in TYPE_LENGTH:
            if not isinstance(value, str):
                raise invalid(name, path, expected_data_type=kind)
            limit = int(field.get("length") or TYPE_LENGTH[kind])
            if len(value) > limit:
                raise invalid(name, path, maximum_length=limit)
            if kind == "email" and value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
                raise invalid(name, path, expected_data_type="email")
            return value
        if kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise invalid(name, path, expected_data_type="integer")
            return value
        if kind in ("double", "currency"):
            if not _number(value):
                raise invalid(name, path, expected_data_type="double")
            return value if isinstance(value, (int, Decimal)) else Decimal(repr(value))
        if kind == "boolean":
            if not isinstance(value, bool):
                raise invalid(name, path, expected_data_type="boolean")
            return value
        if kind == "date":
            try:
                return date.fromisoformat(value).isoformat() if isinstance(value, str) and len(value) == 10 else _bad()
            except ValueError:
                raise invalid(name, path, expected_data_type="date") from None
        if kind == "datetime":
            try:
                return canonical(parse_instant(value)) if isinstance(value, str) and "T" in value else _bad()
            except ValueError:
                raise invalid(name, path, expected_data_type="datetime") from None
        if kind == "picklist":
            allowed = [v["actual_value"] for v in field.get("pick_list_values") or []]
            if not isinstance(value, str):
                raise invalid(name, path, expected_data_type="picklist")
            if allowed and value not in allowed:
                raise invalid(name, path, supported_values=allowed)
            return value
        if kind == "multiselectpicklist":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise invalid(name, path, expected_data_type="jsonarray")
            return value
        if kind == "ownerlookup":
            user_id = value.get("id") if isinstance(value, dict) else value
            stamp = self._user_stamp(str(user_id)) if isinstance(user_id, (str, int)) else None
            if stamp is None:
                raise FieldProblem("INVALID_DATA", "invalid data", {"api_name": name, "json_path": path,
                                                                    "expected_data_type": "jsonobject"})
            return {**stamp, "email": self.records["users"][stamp["id"]].get("email")}
        if kind == "lookup":
            return self._lookup(module, field, value, path, record)
        return value  # subforms and other structures are kept as sent

    def _lookup(self, module: str, field: Record, value: Any, path: str, record: Record) -> Record:
        name = field["api_name"]
        target = (field.get("lookup") or {}).get("module", {}).get("api_name")
        if target == "se_module":
            target = record.get("$se_module")
            if not isinstance(target, str) or not target:
                raise FieldProblem("MANDATORY_NOT_FOUND", "required field not found",
                                   {"api_name": "$se_module", "json_path": path.rsplit(".", 1)[0] + ".$se_module"})
            if target not in self.records or target == "users":
                raise invalid("$se_module", path.rsplit(".", 1)[0] + ".$se_module", expected_data_type="module")
        related = value.get("id") if isinstance(value, dict) else value
        if not isinstance(related, (str, int)) or isinstance(related, bool):
            raise invalid(name, path, expected_data_type="jsonobject")
        linked = self.records.get(str(target), {}).get(str(related))
        if linked is None:
            raise FieldProblem("INVALID_DATA", "the related id given seems to be invalid",
                               {"api_name": name, "json_path": path, "id": str(related)})
        label = next((linked[k] for k in ("Account_Name", "Deal_Name", "Full_Name", "Product_Name", "Subject", "Name")
                      if isinstance(linked.get(k), str)), None)
        return {"name": label, "id": linked["id"]}

    def record_values(self, module: str, data: Record, index: int) -> Record:
        """``data``'s writable values, checked; unknown fields are ``INVALID_DATA``."""
        fields = self._fields_of(module)
        values: Record = {}
        for name, value in data.items():
            path = f"$.data[{index}].{name}"
            if name in IGNORED_KEYS:
                continue
            field = fields.get(name)
            if field is None:
                raise invalid(name, path)
            values[name] = self._value(module, field, value, path, data)
        if "What_Id" in values and values["What_Id"] is not None:
            values["$se_module"] = data["$se_module"]
        return values

    # ------------------------------------------------------------------- field creation

    def on_create_fields(self, call: Call) -> Response:
        module = call.request.args.get("module")
        if not module:
            raise zoho_error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                             {"param": "module"})
        module = self._module(module)
        try:
            body = exact_json.loads(call.request.get_data() or b"null")
        except ValueError:
            raise zoho_error(400, "INVALID_DATA", "body", {"expected_data_type": "jsonobject"}) from None
        rows = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows:
            raise zoho_error(400, "MANDATORY_NOT_FOUND", "required field not found",
                             {"api_name": "fields", "json_path": "$.fields"})
        out: list[Record] = []
        with self.lock:
            meta = self.field_meta.setdefault(module, [])
            for index, row in enumerate(rows):
                out.append(self._create_field(meta, row, index))
        failed = sum(1 for o in out if o["status"] == "error")
        status = 201 if not failed else 400 if failed == len(out) else 207
        return json_response({"fields": out}, status)

    def _create_field(self, meta: list[Record], row: Any, index: int) -> Record:
        path = f"$.fields[{index}]"
        if not isinstance(row, dict):
            return invalid("fields", path, expected_data_type="jsonobject").entry()
        for key in ("field_label", "data_type"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                return FieldProblem("MANDATORY_NOT_FOUND", "required field not found",
                                    {"api_name": key, "json_path": f"{path}.{key}"}).entry()
        label, kind = row["field_label"].strip(), row["data_type"]
        if kind not in CREATABLE_TYPES:
            return invalid("data_type", f"{path}.data_type", supported_values=sorted(CREATABLE_TYPES)).entry()
        if any(f["field_label"].lower() == label.lower() for f in meta):
            return FieldProblem("DUPLICATE_DATA", "duplicate data",
                                {"api_name": "field_label", "json_path": f"{path}.field_label"}).entry()
        length = row.get("length", TYPE_LENGTH.get(kind))
        if kind in TYPE_LENGTH and (not isinstance(length, int) or not 1 <= length <= TYPE_LENGTH[kind]):
            return invalid("length", f"{path}.length", maximum_length=TYPE_LENGTH[kind]).entry()
        field: Record = {"api_name": api_name_for(label, {f["api_name"] for f in meta}), "field_label": label,
                         "data_type": kind, "custom_field": True, "id": self._new_id(), "visible": True,
                         "read_only": False, "system_mandatory": False, "unique": row.get("unique")}
        if kind in TYPE_LENGTH:
            field["length"] = length
        if kind == "picklist":
            values = row.get("pick_list_values") or []
            field["pick_list_values"] = [{"display_value": v.get("display_value"),
                                          "actual_value": v.get("actual_value", v.get("display_value")),
                                          "sequence_number": n} for n, v in enumerate(values, start=1)
                                         if isinstance(v, dict)]
        meta.append(field)
        return {"code": "SUCCESS", "details": {"id": field["id"]}, "message": "field created", "status": "success"}

    def on_field(self, call: Call, field_id: str) -> Response:
        module = call.request.args.get("module")
        if not module:
            raise zoho_error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                             {"param": "module"})
        with self.lock:
            field = next((f for f in self.field_meta.get(self._module(module), []) if f["id"] == field_id), None)
            if field is None:
                raise zoho_error(400, "INVALID_DATA", "the id given seems to be invalid", {"id": field_id})
            return json_response({"fields": [dict(field)]})


def _bad() -> Any:
    raise ValueError("wrong shape")
