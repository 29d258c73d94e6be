"""HubSpot unique-value properties: duplicates refused, records addressed and upserted by ``idProperty``.

Rules follow ``two-way-sync.md`` §1.2. A property created with ``hasUniqueValue: true`` (and a contact's
``email``, which HubSpot keeps unique) never holds the same value on two live records: a create or update
that would give it one answers 409 ``CONFLICT`` naming the record that holds it ("… already exists.
Existing ID: N"), only the first duplicate reported. Such a property can stand for the record id:
``GET``/``PATCH /crm/v3/objects/{type}/{value}?idProperty=name``, ``batch/read`` with ``idProperty``, and
``batch/upsert`` whose inputs each name their ``idProperty``: an input whose value no record holds
creates one (``new: true``), else it updates that record (``new: false``); inputs that fail are listed in
``errors`` with a 207, the others applied. Naming a property that is not unique (``domain`` of a company
included: HubSpot does not keep it unique) answers 400 "Unable to perform update/upsert by non-unique …".
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.hubspot_errors import hs_error
from passerelle_sandbox.hubspot_model import OBJECT_TYPE_IDS, SINGULAR, PropertyDef
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
CASE_INSENSITIVE = frozenset({"email"})
BUILT_IN_UNIQUE = {"contacts": frozenset({"email"})}
"""Unique identifiers HubSpot defines itself; every other one is a property created with ``hasUniqueValue``."""


def _key(name: str, value: str) -> str:
    return value.lower() if name in CASE_INSENSITIVE else value


class UniqueValues:
    """Which live record holds each value of some unique properties, kept current as a request writes.

    A record not created yet (an earlier input of the same batch create) holds its values under a
    ``#n`` placeholder: a later input repeating one is refused as a duplicate within the batch."""

    def __init__(self, object_type: str, records: Collection, names: set[str]) -> None:
        self.object_type, self.names = object_type, names
        self.holders: dict[str, dict[str, str]] = {name: {} for name in names}
        self.keys: dict[str, dict[str, str]] = {}
        for record in records.values():
            if not record.get("archived"):
                self.set(record["id"], record["properties"])

    def set(self, record_id: str, values: Record) -> None:
        """``record_id`` now holds ``values``' unique values (and no longer the ones it had)."""
        held = self.keys.setdefault(record_id, {})
        for name in self.names:
            if name not in values:
                continue
            old = held.pop(name, None)
            if old is not None and self.holders[name].get(old) == record_id:
                del self.holders[name][old]
            if values[name]:
                key = _key(name, str(values[name]))
                self.holders[name].setdefault(key, record_id)
                held[name] = key

    def holder(self, name: str, value: str) -> str | None:
        return self.holders[name].get(_key(name, value))

    def check(self, record_id: str | None, values: Record) -> None:
        """409 when ``values`` give a unique property a value another live record holds."""
        for name in self.names:
            value = values.get(name)
            holder = self.holder(name, str(value)) if value else None
            if holder is None or holder == record_id:
                continue
            if holder.startswith("#"):
                raise hs_error(400, "VALIDATION_ERROR", f"Duplicate values of unique property {name} found in "
                                                        f"batch input: {value}")
            singular = SINGULAR.get(self.object_type, self.object_type)
            raise hs_error(409, "CONFLICT", f"{singular.capitalize()} already exists. Existing ID: {holder}",
                           errors=[{"message": f"A {singular} with {name} {value} already exists. "
                                               f"Existing ID: {holder}", "in": name}])


class UniqueWrites:
    """Unique-value handlers mixed into the HubSpot emulator (which provides the stores and writes used here)."""

    lock: threading.RLock
    portal_id: int
    records: dict[str, Collection]
    properties: dict[str, dict[str, PropertyDef]]

    if TYPE_CHECKING:  # provided by HubSpotApp and ObjectWrites
        def now_text(self) -> str: ...
        def _type(self, name: str) -> str: ...
        def _inputs(self, call: Call) -> list[Record]: ...
        def _property_values(self, object_type: str, properties: Any, current: Record | None = None) -> Record: ...
        def _insert(self, object_type: str, values: Record, links: list[Any], now: str) -> Record: ...
        def _apply(self, object_type: str, record: Record, values: Record, now: str) -> None: ...
        def _answer(self, object_type: str, record: Record) -> Record: ...
        def _batch_body(self, results: list[Record], started: str) -> Record: ...
        def _changed(self, object_type: str) -> None: ...

    def _unique_names(self, object_type: str) -> set[str]:
        return {d.name for d in self.properties[object_type].values() if d.unique} | BUILT_IN_UNIQUE.get(
            object_type, frozenset())

    def unique_values(self, object_type: str, names: set[str] | None = None) -> UniqueValues:
        return UniqueValues(object_type, self.records[object_type], self._unique_names(object_type)
                            if names is None else names)

    def refuse_duplicates(self, object_type: str, writes: list[tuple[str | None, Record]]) -> None:
        """409 (or 400 within a batch) for the first write giving a unique property a value already held;
        ``writes`` are ``(record id, values)``, ``None`` for a create."""
        names = self._unique_names(object_type) & {name for _, values in writes for name in values}
        if not names:
            return
        index = self.unique_values(object_type, names)
        for number, (record_id, values) in enumerate(writes):
            index.check(record_id, values)
            index.set(record_id or f"#{number}", values)

    def id_property(self, object_type: str, name: Any) -> str:
        """``name`` when it is a unique identifier of ``object_type``, else HubSpot's 400."""
        if not isinstance(name, str) or name not in self._unique_names(object_type):
            raise hs_error(400, "VALIDATION_ERROR", f"Unable to perform update/upsert by non-unique "
                                                    f"{OBJECT_TYPE_IDS.get(object_type, object_type)} property {name} "
                                                    f"in portal ID {self.portal_id}")
        return name

    def record_by(self, object_type: str, value: str, id_property: str | None) -> Record | None:
        """The record ``value`` names: its id, or with ``id_property`` the live record holding that value."""
        if id_property is None:
            return self.records[object_type].get(value)
        name = self.id_property(object_type, id_property)
        holder = self.unique_values(object_type, {name}).holder(name, value)
        return self.records[object_type][holder] if holder is not None else None

    def on_batch_upsert(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        inputs = self._inputs(call)
        with self.lock:
            keys = [(self.id_property(object_type, item.get("idProperty")), str(item.get("id", ""))) for item in inputs]
            repeated = sorted({value for key in keys if keys.count(key) > 1 for value in [key[1]]})
            if repeated:
                raise hs_error(400, "VALIDATION_ERROR",
                               f"Duplicate IDs found in batch input: {repeated}. IDs must be unique")
            started = self.now_text()
            index = self.unique_values(object_type)
            results, errors = [], []
            for item, (name, value) in zip(inputs, keys):
                try:
                    answer = self._upsert_one(object_type, index, name, value, item.get("properties", {}), started)
                except VendorError as error:
                    errors.append({key: error.body[key] for key in ("status", "category", "message", "errors")
                                   if key in error.body} | {"context": {"ids": [value]}})
                    continue
                if item.get("objectWriteTraceId") is not None:
                    answer["objectWriteTraceId"] = str(item["objectWriteTraceId"])
                results.append(answer)
            self._changed(object_type)
            payload = self._batch_body(results, started)
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
            return json_response(payload, 207)
        return json_response(payload)

    def _upsert_one(self, object_type: str, index: UniqueValues, name: str, value: str, properties: Any,
                    now: str) -> Record:
        holder = index.holder(name, value)
        if holder is not None:
            record = self.records[object_type][holder]
            values = self._property_values(object_type, properties, record)
            index.check(holder, values)
            self._apply(object_type, record, values, now)
        else:
            values = self._property_values(object_type, {**properties, name: value} if isinstance(properties, dict)
                                           else properties)
            index.check(None, values)
            record = self._insert(object_type, values, [], now)
        index.set(record["id"], record["properties"])
        return self._answer(object_type, record) | {"new": holder is None}
