"""Dataverse metadata API: a table's columns, read and created (``EntityDefinitions(LogicalName='…')/Attributes``).

``GET …/Attributes`` lists the columns (``LogicalName``, ``SchemaName``, ``AttributeType``, ``IsCustomAttribute``,
``MetadataId``; ``$select`` honoured). ``POST …/Attributes`` creates a custom column from an
``…AttributeMetadata`` body (``@odata.type`` Decimal, Money, String, DateTime, Integer, Boolean; ``SchemaName``
with the publisher's customization prefix, ``passerelle_PercentDone``; a ``DisplayName`` label): 204 with
``OData-EntityId`` naming the new attribute; the logical name is the schema name in lower case. A name already
taken or without a prefix is 400 (codes as observed: not confirmed). Every row then holds null for the column.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dynamics_model import TABLES, Record, metadata_id, odata_error
from passerelle_sandbox.dynamics_query import parse_select
from passerelle_sandbox.store import Collection

ATTRIBUTE_TYPES = {"DecimalAttributeMetadata": "Decimal", "MoneyAttributeMetadata": "Money",
                   "StringAttributeMetadata": "String", "DateTimeAttributeMetadata": "DateTime",
                   "IntegerAttributeMetadata": "Integer", "BooleanAttributeMetadata": "Boolean"}
_KEY = re.compile(r"^LogicalName='([a-z_0-9]+)'$")
_SCHEMA = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,7}_[A-Za-z][A-Za-z0-9_]*$")
EDM_TYPES = {"Decimal": "Edm.Decimal", "Money": "Edm.Decimal", "Integer": "Edm.Int32", "Boolean": "Edm.Boolean",
             "DateTime": "Edm.DateTimeOffset", "String": "Edm.String"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?$")
ATTRIBUTE_COLUMNS = ("LogicalName", "SchemaName", "AttributeType", "IsCustomAttribute", "MetadataId")


class DataverseMetadata:
    """Mixed into the Dynamics emulator."""

    lock: threading.RLock
    rows: dict[str, Collection]
    custom: dict[str, list[str]]
    custom_kinds: dict[tuple[str, str], Record]
    """(entity set, column) → ``{"type", "max_length"}`` of the columns made through this API."""
    base_url: str

    if TYPE_CHECKING:
        def _context(self, fragment: str) -> str: ...
        def columns(self, table: Any) -> tuple[str, ...]: ...

    def _entity(self, key: str) -> Any:
        match = _KEY.match(key)
        table = next((t for t in TABLES.values() if match and t.logical_name == match.group(1)), None)
        if table is None:
            raise odata_error(404, "0x80040217", f"Could not find an entity with key {key}.")
        return table

    def on_attributes(self, call: Call, key: str) -> Response:
        table = self._entity(key)
        with self.lock:
            custom = set(self.custom[table.entity_set])
            kinds = self.custom_kinds
            rows = [{"LogicalName": c, "SchemaName": c, "IsCustomAttribute": c in custom,
                     "AttributeType": kinds.get((table.entity_set, c), {}).get("type", "String" if c in custom else None),
                     "MetadataId": metadata_id(f"{table.logical_name}.{c}")}
                    for c in self.columns(table) if not c.startswith("_")]
        select = parse_select(call.request.args.get("$select"), ATTRIBUTE_COLUMNS, "MetadataId", "AttributeMetadata")
        return json_response({"@odata.context": self._context(f"EntityDefinitions('{table.logical_name}')/Attributes"),
                              "value": [{c: row[c] for c in select} for row in rows]})

    def on_create_attribute(self, call: Call, key: str) -> Response:
        table = self._entity(key)
        body = call.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise odata_error(400, "0x80060888", "The request body must be a JSON object.")
        kind = ATTRIBUTE_TYPES.get(str(body.get("@odata.type", "")).removeprefix("#").removeprefix(
            "Microsoft.Dynamics.CRM."))
        if kind is None:
            raise odata_error(400, "0x80060888", f"Unsupported attribute type '{body.get('@odata.type')}'; use one of "
                                                 f"{', '.join(ATTRIBUTE_TYPES)}.")
        schema = str(body.get("SchemaName") or "")
        if not _SCHEMA.match(schema):
            raise odata_error(400, "0x80040203", f"Invalid SchemaName '{schema}': a custom column's name starts with "
                                                 "its publisher's customization prefix and '_'.")
        labels = ((body.get("DisplayName") or {}).get("LocalizedLabels") or []) if isinstance(
            body.get("DisplayName"), dict) else []
        if not any(isinstance(label, dict) and str(label.get("Label") or "").strip() for label in labels):
            raise odata_error(400, "0x80040203", "DisplayName needs a localized label.")
        logical = schema.lower()
        with self.lock:
            if logical in self.columns(table):
                raise odata_error(400, "0x80044363", f"An attribute with the name {logical} already exists on "
                                                     f"{table.logical_name}.")
            self.custom[table.entity_set].append(logical)
            length = body.get("MaxLength")
            self.custom_kinds[(table.entity_set, logical)] = {
                "type": kind, "max_length": length if isinstance(length, int) and length > 0 else 100}
            for row in self.rows[table.entity_set].values():
                row.setdefault(logical, None)
        attribute = metadata_id(f"{table.logical_name}.{logical}")
        entity = f"{self.base_url}/api/data/v9.2/EntityDefinitions({metadata_id(table.logical_name)})/Attributes({attribute})"
        return Response(b"", status=204, headers={"OData-EntityId": entity})

    def custom_value(self, table: Any, name: str, value: Any) -> Any:
        """A value written to a column made through this API, checked against its type as Dataverse does."""
        meta = self.custom_kinds.get((table.entity_set, name))
        if meta is None or value is None:
            return value
        kind, expected = meta["type"], EDM_TYPES[meta["type"]]
        if kind in ("Decimal", "Money", "Integer"):
            ok = isinstance(value, (int, Decimal)) and not isinstance(value, bool) and (
                kind != "Integer" or isinstance(value, int))
        elif kind == "Boolean":
            ok = isinstance(value, bool)
        elif kind == "DateTime":
            ok = isinstance(value, str) and _DATE.match(value) is not None
        else:
            ok = isinstance(value, str)
            if ok and len(value) > meta["max_length"]:
                raise odata_error(400, "0x80044331", f"A validation error occurred. The length of the '{name}' "
                                                     f"attribute of the '{table.logical_name}' entity exceeded the "
                                                     f"maximum allowed length of '{meta['max_length']}'.")
        if not ok:
            raise odata_error(400, "0x80060888", f"Cannot convert the literal '{value}' to the expected type "
                                                 f"'{expected}'.")
        return value
