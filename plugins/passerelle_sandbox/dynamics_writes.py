"""Dataverse Web API writes: create, update, upsert by alternate key, delete, read one and bulk operations.

Rules follow ``two-way-sync.md`` §1.5:

- ``POST /{set}`` → 204 with ``OData-EntityId``; with ``Prefer: return=representation`` → 201 and the row
  (``@odata.etag``, ``modifiedon``);
- ``PATCH /{set}(<guid>)`` updates (204, or 200 with the row) and creates a missing row unless
  ``If-Match: *``; ``If-Match: W/"<version>"`` that is not the row's version → 412;
- ``PATCH /{set}(key='v')``: upsert by alternate key, 204 either way; ``If-Match: *`` → 404 instead of
  creating, ``If-None-Match: *`` → 412 when the key exists;
- ``POST /{set}/Microsoft.Dynamics.CRM.CreateMultiple`` (200, the new ``Ids``) and ``…UpdateMultiple``
  (204), all rows or none;
- ``DELETE /{set}(<guid>)`` → 204 (an opportunity takes its products with it);
- ``GET /{set}(<guid>)`` with ``If-None-Match: W/"<version>"`` → 304 while unchanged;
- lookups are written as ``<navigation>@odata.bind: "/accounts(<guid>)"``; unknown columns, wrong types and
  option values outside the option set → 400 ``{"error": {"code", "message"}}``;
- every write gives the row a new version (what change tracking's delta links follow) and ``modifiedon``,
  and stamps ``_modifiedby_value`` with the application user the app registration acts as.

``$batch`` is in :mod:`passerelle_sandbox.dynamics_batch`; project tasks are written through the schedule
API of :mod:`passerelle_sandbox.dynamics_schedule`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.dataset_dynamics import MONEY, SCALES
from passerelle_sandbox.dynamics_model import BY_LOGICAL, Record, Table, odata_error, parse_preferences
from passerelle_sandbox.dynamics_query import GUID, parse_select
from passerelle_sandbox.dynamics_schedule import ACTIONS, SCHEDULED
from passerelle_sandbox.store import Collection, VersionConflict

APP_USER_ID = "6f0a3c1e-5b2d-4e8f-9a7c-3d1b2e4f5a60"
APP_USER_NAME = "# Passerelle"
"""The Dataverse application user bound to the app registration: ``modifiedby`` of every API write."""
ALTERNATE_KEYS: dict[str, tuple[str, ...]] = {
    "accounts": ("accountnumber",), "contacts": ("emailaddress1",), "products": ("productnumber",)}
IGNORED = frozenset({"createdon", "modifiedon", "versionnumber", "_createdby_value", "_modifiedby_value"})
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")
_KEY_PAIR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")
_BIND = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*)\(([0-9a-fA-F-]{36})\)$")
_ETAG = re.compile(r'^W/"(0|[1-9][0-9]*)"$')


def not_exist(table: Table, record_id: str) -> Exception:
    return odata_error(404, "0x80040217", f"{table.logical_name} With Id = {record_id} Does Not Exist")


def invalid_property(name: str, table: Table) -> Exception:
    return odata_error(400, "0x80060888", f"Invalid property '{name}' was found in entity "
                                          f"'Microsoft.Dynamics.CRM.{table.logical_name}'.")


class DataverseWrites:
    """Write handlers mixed into the Dynamics emulator (which provides the rows, clock and rendering)."""

    lock: threading.RLock
    rows: dict[str, Collection]
    base_url: str
    config: dict[str, Any]

    if TYPE_CHECKING:
        def _table(self, name: str) -> Table: ...
        def _now(self) -> str: ...
        def _defaults(self, obj: str, record_id: str, now: str) -> Record: ...
        def _price_line(self, row: Record, table: Table) -> None: ...
        def _render(self, table: Table, row: Record, columns: tuple[str, ...], prefs: Any) -> Record: ...
        def _context(self, fragment: str) -> str: ...
        def columns(self, table: Table) -> tuple[str, ...]: ...
        def control_delete(self, obj: str, record_id: str) -> Record: ...
        def schedule_action(self, call: Call, action: str, body: Any) -> Response: ...
        def read_operation_set(self, set_id: str) -> Response: ...
        def custom_value(self, table: Table, name: str, value: Any) -> Any: ...

    # ------------------------------------------------------------------------- addressing

    def _address(self, segment: str) -> tuple[Table, str | None, dict[str, Any] | None]:
        """``accounts(<guid>)`` → (table, id, None); ``accounts(accountnumber='A1')`` → (table, None, keys)."""
        match = _SEGMENT.match(segment)
        if match is None:
            return self._table(segment), None, None
        table, inside = self._table(match.group(1)), match.group(2).strip()
        if GUID.match(inside):
            return table, inside.lower(), None
        keys: dict[str, Any] = {}
        for name, literal in _KEY_PAIR.findall(inside):
            keys[name] = literal[1:-1].replace("''", "'") if literal.startswith("'") else literal.strip()
        if not keys or tuple(sorted(keys)) != tuple(sorted(ALTERNATE_KEYS.get(table.entity_set, ()))):
            raise odata_error(400, "0x80060888", f"Invalid key '{inside}' for entity '{table.logical_name}': the "
                                                 "values must name a GUID or the columns of an alternate key.")
        return table, None, keys

    def _find(self, table: Table, record_id: str | None, keys: dict[str, Any] | None) -> Record | None:
        if record_id is not None:
            return self.rows[table.entity_set].get(record_id)
        return next((r for r in self.rows[table.entity_set].values()
                     if all(str(r.get(k)) == str(v) for k, v in (keys or {}).items())), None)

    def entity_id(self, table: Table, row: Record) -> str:
        return f"{self.base_url}/api/data/v9.2/{table.entity_set}({row[table.pk]})"

    # --------------------------------------------------------------------------- values

    def _values(self, table: Table, body: Any) -> dict[str, Any]:
        """A request body as column values, checked as Dataverse checks them before writing anything."""
        if not isinstance(body, dict):
            raise odata_error(400, "0x80060888", "The request body must be a JSON object.")
        columns, values = self.columns(table), {}
        for name, value in body.items():
            if name.startswith("@odata.") or name in IGNORED:
                continue
            if name.endswith("@odata.bind"):
                column, value = self._bind(table, name[:-len("@odata.bind")], value)
                values[column] = value
                continue
            if name not in columns or name.startswith("_"):
                raise invalid_property(name, table)
            values[name] = self.custom_value(table, name, self._typed(table, name, value))
        return values

    def _bind(self, table: Table, navigation: str, value: Any) -> tuple[str, str | None]:
        column = f"_{navigation}_value"
        base, _, logical = navigation.rpartition("_")  # customerid_account: a lookup open to several tables
        if column not in table.lookups and table.lookups.get(f"_{base}_value") == logical:
            column = f"_{base}_value"
        if column not in table.lookups:
            raise odata_error(400, "0x80060888", f"An undeclared property '{navigation}' which only has property "
                                                 "annotations in the payload but no property value was found in "
                                                 "the payload.")
        if value is None:
            return column, None
        match = _BIND.match(str(value))
        target = BY_LOGICAL.get(table.lookups[column])
        if match is None or target is None or match.group(1) != target.entity_set:
            raise odata_error(400, "0x80060888", f"Invalid reference '{value}' for the lookup '{navigation}'.")
        record_id = match.group(2).lower()
        if record_id not in self.rows[target.entity_set]:
            raise not_exist(target, record_id)
        return column, record_id

    @staticmethod
    def _typed(table: Table, name: str, value: Any) -> Any:

        scale = MONEY if name in table.money else SCALES.get(name)
        if scale is not None and value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
                raise odata_error(400, "0x80060888", f"Cannot convert the literal '{value}' to the expected type "
                                                     "'Edm.Decimal'.")
            try:
                return Decimal(value).quantize(scale)
            except InvalidOperation:
                raise odata_error(400, "0x80060888", f"The value {value} of '{name}' is out of range.") from None
        options = table.options.get(name)
        if options is not None and value is not None:
            boolean = all(isinstance(k, bool) for k in options)
            if boolean != isinstance(value, bool) or (not boolean and not isinstance(value, int)):
                kind = "Edm.Boolean" if boolean else "Edm.Int32"
                raise odata_error(400, "0x80060888", f"Cannot convert the literal '{value}' to the expected type "
                                                     f"'{kind}'.")
            if value not in options:
                raise odata_error(400, "0x8004431a", f"A validation error occurred. The value {value} of '{name}' "
                                                     f"on record of type '{table.logical_name}' is outside the valid "
                                                     "range.")
        return value

    # ---------------------------------------------------------------------------- writes

    def _fill(self, table: Table, row: Record, values: dict[str, Any]) -> None:
        row.update(values)
        if table.entity_set == "opportunityproducts":
            self._price_line(row, table)

    def _write(self, table: Table, row: Record, values: dict[str, Any], now: str) -> None:
        self._fill(table, row, values)
        self.rows[table.entity_set].touch(row[table.pk], by=APP_USER_ID, at=now)

    def _insert(self, table: Table, record_id: str | None, values: dict[str, Any]) -> Record:
        record_id = (values.pop(table.pk, None) or record_id or str(uuid.uuid4())).lower()
        if not GUID.match(record_id):
            raise odata_error(400, "0x80060888", f"The value '{record_id}' of '{table.pk}' is not a GUID.")
        if record_id in self.rows[table.entity_set]:
            raise odata_error(412, "0x80040237", "A record with matching key values already exists.")
        if table.entity_set == "opportunityproducts" and values.get("_opportunityid_value") is None:
            raise odata_error(400, "0x80040200", "opportunityproduct needs an opportunity: bind opportunityid.")
        now = self._now()
        row = self._defaults(table.entity_set, record_id, now)
        self._fill(table, row, values)
        return self.rows[table.entity_set].insert(row, by=APP_USER_ID, at=now)

    def _answer(self, call: Call, table: Table, row: Record, created: bool) -> Response:
        """204 with ``OData-EntityId``, or the row (201 created / 200 updated) under ``return=representation``."""
        headers = {"OData-EntityId": self.entity_id(table, row)}
        if not _wants_representation(call):
            return Response(b"", status=204, headers=headers)
        columns = parse_select(call.request.args.get("$select"), self.columns(table), table.pk, table.logical_name)
        prefs = parse_preferences(call.request.headers.getlist("Prefer"), int(self.config["max_page_size"]))
        body = {"@odata.context": self._context(f"{table.entity_set}/$entity"),
                **self._render(table, row, columns, prefs)}
        headers["Preference-Applied"] = "return=representation"
        return json_response(body, status=201 if created else 200, headers=headers,
                             content_type="application/json; odata.metadata=minimal")

    def on_write(self, call: Call, name: str) -> Response:
        method = call.request.method
        if name in ACTIONS and method == "POST":
            return self.schedule_action(call, name, _json(call))
        table, record_id, keys = self._address(name)
        if table.entity_set in SCHEDULED:
            raise odata_error(400, "0x80040265", f"{table.logical_name} rows are written through the Project "
                                                 "schedule API (msdyn_PssCreateV1, msdyn_PssUpdateV1, "
                                                 "msdyn_PssDeleteV1 in an operation set).")
        if method == "POST":
            if record_id is not None or keys is not None:
                raise odata_error(405, "0x80060888", "The requested resource does not support http method 'POST'.")
            values = self._values(table, _json(call))
            with self.lock:
                row = self._insert(table, None, values)
            return self._answer(call, table, row, created=True)
        if record_id is None and keys is None:
            raise odata_error(405, "0x80060888", f"The requested resource does not support http method '{method}'.")
        if_match, if_none = call.request.headers.get("If-Match"), call.request.headers.get("If-None-Match")
        with self.lock:
            row = self._find(table, record_id, keys)
            if method == "DELETE":
                if row is None:
                    raise not_exist(table, record_id or name)
                self._check_version(table, row, if_match)
                self.control_delete(table.entity_set, row[table.pk])
                return Response(b"", status=204)
            values = self._values(table, _json(call))
            if row is None:
                if if_match is not None:
                    if keys is not None:
                        raise odata_error(404, "0x80040217", "A record with the specified key values does not exist "
                                                             f"in {table.logical_name} entity")
                    raise not_exist(table, record_id or name)
                row = self._insert(table, record_id, {**(keys or {}), **values})
                return self._answer(call, table, row, created=True)
            if if_none == "*":
                raise odata_error(412, "0x80040237", "A record with matching key values already exists.")
            self._check_version(table, row, if_match)
            values.pop(table.pk, None)
            self._write(table, row, values, self._now())
        return self._answer(call, table, row, created=False)

    def _check_version(self, table: Table, row: Record, if_match: str | None) -> None:
        """``If-Match: W/"<version>"`` must name the row's current version (``*``: any)."""
        if if_match is None or if_match.strip() == "*":
            return
        named = _ETAG.match(if_match.strip())
        try:
            self.rows[table.entity_set].check_version(row[table.pk], int(named.group(1)) if named else -1)
        except VersionConflict:
            raise odata_error(412, "0x80060882", "The version of the existing record doesn't match the RowVersion "
                                                 "property provided.") from None

    def read_one(self, call: Call, name: str) -> Response:
        """``GET /{set}(<guid>)``: one row, or 304 while ``If-None-Match`` names its current ETag."""
        if name.startswith("msdyn_operationsets("):
            with self.lock:
                return self.read_operation_set(name[len("msdyn_operationsets("):-1])
        table, record_id, keys = self._address(name)
        columns = parse_select(call.request.args.get("$select"), self.columns(table), table.pk, table.logical_name)
        prefs = parse_preferences(call.request.headers.getlist("Prefer"), int(self.config["max_page_size"]))
        with self.lock:
            row = self._find(table, record_id, keys)
            if row is None:
                raise not_exist(table, record_id or name)
            etag = f'W/"{self.rows[table.entity_set].version(row[table.pk])}"'
            if call.request.headers.get("If-None-Match") == etag:
                return Response(b"", status=304, headers={"ETag": etag})
            body = {"@odata.context": self._context(f"{table.entity_set}/$entity"),
                    **self._render(table, row, columns, prefs)}
        return json_response(body, headers={"ETag": etag}, content_type="application/json; odata.metadata=minimal")

    # -------------------------------------------------------------------- bulk operations

    def on_action(self, call: Call, name: str, action: str) -> Response:
        """``CreateMultiple`` (200 with the new ``Ids``) and ``UpdateMultiple`` (204): all rows or none."""
        table = self._table(name)
        operation = action.removeprefix("Microsoft.Dynamics.CRM.")
        if operation not in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
            raise odata_error(404, "0x8006088a", f"Resource not found for the segment '{action}'.")
        body = _json(call)
        targets = body.get("Targets") if isinstance(body, dict) else None
        if not isinstance(targets, list) or not targets:
            raise odata_error(400, "0x80040203", "Targets is required and must hold at least one entity.")
        prepared = []
        with self.lock:
            for target in targets:
                if target.get("@odata.type") != f"Microsoft.Dynamics.CRM.{table.logical_name}":
                    raise odata_error(400, "0x80040203", f"Every target must be of type "
                                                         f"Microsoft.Dynamics.CRM.{table.logical_name}.")
                values = self._values(table, target)
                record_id = str(values.get(table.pk) or "").lower() or None
                row = self.rows[table.entity_set].get(record_id) if record_id else None
                if operation == "UpdateMultiple" and row is None:
                    raise not_exist(table, record_id or "")
                if operation == "CreateMultiple" and row is not None:
                    raise odata_error(412, "0x80040237", "A record with matching key values already exists.")
                prepared.append((values, row))
            ids, now = [], self._now()
            for values, row in prepared:
                if row is None:
                    row = self._insert(table, None, values)
                else:
                    values.pop(table.pk, None)
                    self._write(table, row, values, now)
                ids.append(row[table.pk])
        if operation == "UpdateMultiple":
            return Response(b"", status=204)
        return json_response({"@odata.context": self._context(f"Microsoft.Dynamics.CRM.{operation}Response"),
                              "Ids": ids})


def _wants_representation(call: Call) -> bool:
    return any("return=representation" in p.replace(" ", "") for p in call.request.headers.getlist("Prefer"))


def _json(call: Call) -> Any:
    try:
        return json.loads(call.request.get_data(as_text=True) or "null", parse_float=Decimal)
    except ValueError:
        raise odata_error(400, "0x80060888", "The request body is not valid JSON.") from None
