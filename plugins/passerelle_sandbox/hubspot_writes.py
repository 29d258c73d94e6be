"""HubSpot CRM object writes: create, update, archive, batch create/update/archive (``/crm/v3/objects``).

Rules follow ``two-way-sync.md`` §1.2: a create answers 201 with the record, an update 200 with the
updated record and a new ``updatedAt``/modification date (so the next incremental read sees it), an
archive 204. Property values are checked like the API does before anything is written, and a bad value
fails the whole request with HubSpot's ``VALIDATION_ERROR`` body naming the property. Batches take at
most 100 inputs; a batch update naming unknown ids answers 207 with the others applied. A ticket needs its
stage (``hs_pipeline_stage``, of its pipeline, ``0`` by default) and a note its ``hs_timestamp``; moving a
ticket into a ``CLOSED`` stage stamps ``closed_date``. Unique-value properties (a duplicate refused, records
addressed by ``idProperty``, ``batch/upsert``) are in :mod:`passerelle_sandbox.hubspot_unique`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from passerelle_sandbox.clock import VirtualClock
from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.hubspot_errors import hs_error, property_errors
from passerelle_sandbox.hubspot_model import (
    ASSOCIATION_TYPE_IDS,
    PIPELINE_PROPERTIES,
    REQUIRED_ON_CREATE,
    FilterValueError,
    PropertyDef,
    comparable,
    modified_property,
    to_property_string,
)
from passerelle_sandbox.ids import NumericIdSequence
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
BATCH_INPUTS = 100
READ_ONLY = frozenset({"hs_object_id", "createdate", "hs_createdate", "hs_lastmodifieddate", "lastmodifieddate"})
Link = tuple[str, str, int]  # (to_type, to_id, association type id)


class ObjectWrites:
    """Write handlers mixed into the HubSpot emulator (which provides the stores and helpers used here)."""

    lock: threading.RLock
    clock: VirtualClock
    records: dict[str, Collection]
    properties: dict[str, dict[str, PropertyDef]]
    pipelines: dict[str, list[Record]]
    _next_id: dict[str, NumericIdSequence]

    if TYPE_CHECKING:  # provided by HubSpotApp and VendorApp
        def now_text(self) -> str: ...
        def _type(self, name: str) -> str: ...
        def _json(self, call: Call) -> Record: ...
        def _render(self, object_type: str, record: Record, wanted: list[str] | None,
                    all_properties: bool = False) -> Record: ...
        def _changed(self, object_type: str) -> None: ...
        def _stamp_modified(self, obj: str, record: Record, now: str) -> None: ...
        def _associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None) -> None: ...
        def refuse_duplicates(self, object_type: str, writes: list[tuple[str | None, Record]]) -> None: ...
        def record_by(self, object_type: str, value: str, id_property: str | None) -> Record | None: ...

    # ------------------------------------------------------------------------- validation

    def _property_values(self, object_type: str, properties: Any, current: Record | None = None) -> Record:
        """The request's property values as stored strings, or a 400 naming every bad property."""
        if not isinstance(properties, dict):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: `properties` must be an object")
        defs = self.properties[object_type]
        problems: list[tuple[str, str, str]] = []
        values: Record = {}
        for name, raw in properties.items():
            definition = defs.get(name)
            text = to_property_string(raw)
            if definition is None:
                problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            elif name in READ_ONLY:
                problems.append((name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'))
            elif text in (None, ""):
                values[name] = ""  # an empty value clears the property
            elif definition.type in ("datetime", "date", "number"):
                try:
                    normalized = comparable(definition, text)
                except FilterValueError:
                    code = "INVALID_FLOAT" if definition.type == "number" else "INVALID_DATE"
                    problems.append((name, code, f"{text} was not a valid {definition.type}."))
                else:
                    values[name] = text if definition.type == "number" else normalized
            elif definition.type == "bool" and text not in ("true", "false"):
                problems.append((name, "INVALID_OPTION", f'{text} was not one of the allowed options: [true, false]'))
            else:
                values[name] = text
        if current is None:
            problems += [(name, "REQUIRED_PROPERTY", f'"{name}" is required to create a {object_type[:-1]}')
                         for name in REQUIRED_ON_CREATE.get(object_type, ()) if not values.get(name)]
        if object_type in PIPELINE_PROPERTIES:
            problems += self._pipeline_problems(object_type, values, (current or {}).get("properties", {}))
        if problems:
            raise property_errors(problems)
        return values

    def _pipeline_problems(self, object_type: str, values: Record, stored: Record) -> list[tuple[str, str, str]]:
        """A deal's or ticket's pipeline must exist and its stage belong to it (the pipeline it is moved to, or its
        own); a ticket created without a pipeline goes to the default one (``0``), a deal to ``default``."""
        pipeline_name, stage_name = PIPELINE_PROPERTIES[object_type]
        pipelines = {p["id"]: p for p in self.pipelines.get(object_type, []) if not p.get("archived")}
        default = "default" if object_type == "deals" else "0"
        pipeline_id = values.get(pipeline_name) or stored.get(pipeline_name) or default
        if values.get(pipeline_name) and pipeline_id not in pipelines:
            return [(pipeline_name, "INVALID_OPTION",
                     f"{pipeline_id} was not one of the allowed options: [{', '.join(pipelines)}]")]
        stage = values.get(stage_name)
        stages = [s["id"] for s in pipelines.get(pipeline_id, {}).get("stages", []) if not s.get("archived")]
        if stage and stages and stage not in stages:
            return [(stage_name, "INVALID_OPTION",
                     f"{stage} is not a valid stage of pipeline {pipeline_id}; allowed options: [{', '.join(stages)}]")]
        return []

    def _closed_stage(self, object_type: str, properties: Record) -> bool:
        """Whether a ticket sits in a stage its pipeline marks ``CLOSED``."""
        if object_type != "tickets":
            return False
        pipeline_id = properties.get("hs_pipeline") or "0"
        pipeline = next((p for p in self.pipelines.get("tickets", []) if p["id"] == pipeline_id), {})
        stage = next((s for s in pipeline.get("stages", []) if s["id"] == properties.get("hs_pipeline_stage")), {})
        return (stage.get("metadata") or {}).get("ticketState") == "CLOSED"

    def _links(self, object_type: str, associations: Any) -> list[Link]:
        """``associations`` of a create (``[{to: {id}, types: [{associationCategory, associationTypeId}]}]``)."""
        if associations in (None, []):
            return []
        if not isinstance(associations, list):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: `associations` must be a list")
        by_type_id = {type_id: to_type for (from_type, to_type), type_id in ASSOCIATION_TYPE_IDS.items()
                      if from_type == object_type}
        links: list[Link] = []
        for item in associations:
            to_id = str(((item or {}).get("to") or {}).get("id", "")) if isinstance(item, dict) else ""
            types = item.get("types") if isinstance(item, dict) else None
            if not to_id or not isinstance(types, list) or not types:
                raise hs_error(400, "VALIDATION_ERROR", "each association needs `to.id` and a non-empty `types` list")
            for spec in types:
                type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
                to_type = by_type_id.get(type_id) if isinstance(type_id, int) else None
                if to_type is None:
                    raise hs_error(400, "VALIDATION_ERROR",
                                   f"{type_id} is not a valid association type id from {object_type}",
                                   context={"associationTypeId": [str(type_id)]})
                target = self.records[to_type].get(to_id)
                if target is None or target.get("archived"):
                    raise hs_error(400, "VALIDATION_ERROR", f"One or more associations are invalid: {to_type} {to_id} "
                                   "does not exist", context={"toObjectId": [to_id]})
                links.append((to_type, to_id, type_id))
        return links

    def _live(self, object_type: str, record_id: str, id_property: str | None = None) -> Record:
        record = self.record_by(object_type, record_id, id_property)
        if record is None or record.get("archived"):
            raise hs_error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                           context={"id": [record_id]})
        return record

    # ------------------------------------------------------------------------------ writes

    def _insert(self, object_type: str, values: Record, links: list[Link], now: str) -> Record:
        record_id = self._next_id[object_type]()
        properties = dict(values)
        properties.update({"hs_object_id": record_id, "createdate": now, modified_property(object_type): None})
        if "hs_lastmodifieddate" in self.properties[object_type]:
            properties["hs_lastmodifieddate"] = None  # shown, so stamped with the modification property
        if object_type == "deals" and not properties.get("pipeline"):
            properties["pipeline"] = "default"  # HubSpot puts a deal created without one there
        if object_type == "tickets" and not properties.get("hs_pipeline"):
            properties["hs_pipeline"] = "0"
        if self._closed_stage(object_type, properties):
            properties["closed_date"] = now
        record: Record = {"id": record_id, "properties": properties, "createdAt": now, "updatedAt": None,
                          "archived": False}
        self.records[object_type].insert(record, at=now)
        for to_type, to_id, type_id in links:
            self._associate(object_type, record_id, to_type, to_id, type_id)
        return record

    def _apply(self, object_type: str, record: Record, values: Record, now: str) -> None:
        was_closed = self._closed_stage(object_type, record["properties"])
        record["properties"].update(values)
        closed = self._closed_stage(object_type, record["properties"])
        if closed and not was_closed:
            record["properties"]["closed_date"] = now  # HubSpot stamps the move into a closed stage
        elif was_closed and not closed:
            record["properties"]["closed_date"] = ""
        self._stamp_modified(object_type, record, now)

    def _answer(self, object_type: str, record: Record) -> Record:
        return self._render(object_type, record, None, all_properties=True)

    def on_create(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        body = self._json(call)
        with self.lock:
            values = self._property_values(object_type, body.get("properties", {}))
            links = self._links(object_type, body.get("associations"))
            self.refuse_duplicates(object_type, [(None, values)])
            record = self._insert(object_type, values, links, self.now_text())
            self._changed(object_type)
            return json_response(self._answer(object_type, record), 201)

    def on_update(self, call: Call, object_type: str, record_id: str) -> Response:
        object_type = self._type(object_type)
        body = self._json(call)
        with self.lock:
            record = self._live(object_type, record_id, call.request.args.get("idProperty"))
            values = self._property_values(object_type, body.get("properties", {}), record)
            self.refuse_duplicates(object_type, [(record["id"], values)])
            self._apply(object_type, record, values, self.now_text())
            self._changed(object_type)
            return json_response(self._answer(object_type, record))

    def on_archive(self, call: Call, object_type: str, record_id: str) -> Response:
        """204 whether or not the record was live: archiving is idempotent, as HubSpot's."""
        object_type = self._type(object_type)
        with self.lock:
            self._archive(object_type, record_id)
        return Response(status=204)

    def _archive(self, object_type: str, record_id: str) -> None:
        record = self.records[object_type].get(record_id)
        if record is not None and not record.get("archived"):
            self.records[object_type].delete(record_id)
            self._changed(object_type)

    # ------------------------------------------------------------------------------ batches

    def _inputs(self, call: Call) -> list[Record]:
        inputs = self._json(call).get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: `inputs` must be a list of objects")
        if len(inputs) > BATCH_INPUTS:
            raise hs_error(400, "VALIDATION_ERROR", f"Batch input is limited to {BATCH_INPUTS} inputs, got {len(inputs)}")
        return inputs

    def _batch_body(self, results: list[Record], started: str) -> Record:
        return {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": self.now_text()}

    def on_batch_create(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        inputs = self._inputs(call)
        with self.lock:
            started = self.now_text()
            checked = [(self._property_values(object_type, item.get("properties", {})),
                        self._links(object_type, item.get("associations")), item.get("objectWriteTraceId"))
                       for item in inputs]
            self.refuse_duplicates(object_type, [(None, values) for values, _, _ in checked])
            results = []
            for values, links, trace in checked:
                answer = self._answer(object_type, self._insert(object_type, values, links, started))
                if trace is not None:
                    answer["objectWriteTraceId"] = str(trace)
                results.append(answer)
            self._changed(object_type)
            return json_response(self._batch_body(results, started), 201)

    def on_batch_update(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        inputs = self._inputs(call)
        with self.lock:
            started = self.now_text()
            checked: list[tuple[Record, Record]] = []
            missing: list[str] = []
            for item in inputs:
                record_id = str(item.get("id", ""))
                record = self.record_by(object_type, record_id, item.get("idProperty"))
                if record is None or record.get("archived"):
                    missing.append(record_id)
                    continue
                checked.append((record, self._property_values(object_type, item.get("properties", {}), record)))
            self.refuse_duplicates(object_type, [(record["id"], values) for record, values in checked])
            for record, values in checked:
                self._apply(object_type, record, values, started)
            self._changed(object_type)
            payload = self._batch_body([self._answer(object_type, record) for record, _ in checked], started)
        if missing:
            payload["numErrors"] = len(missing)
            payload["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                                  "message": "Could not get some " + object_type + " objects, they may be deleted "
                                             "or not exist. Check that ids are valid.",
                                  "context": {"ids": missing}}]
            return json_response(payload, 207)
        return json_response(payload)

    def on_batch_archive(self, call: Call, object_type: str) -> Response:
        object_type = self._type(object_type)
        inputs = self._inputs(call)
        with self.lock:
            for item in inputs:
                self._archive(object_type, str(item.get("id", "")))
        return Response(status=204)

