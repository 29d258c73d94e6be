"""Salesforce REST writes: sObject create/update/delete, upsert by external ID, sObject Collections.

Shapes follow the REST API guide: create → 201 ``{"id","success":true,"errors":[]}``; update and
delete → 204; upsert → 201 on create, 200 ``created:false`` on update (204 before v46), 300 with
the candidates' URLs when several records share the external ID. Validation failures are 400 with
Salesforce's array ``[{"message","errorCode","fields"}]``; Collections answer 200 with per-item
``{"success":false,"errors":[{"statusCode","message","fields"}]}`` and, with ``allOrNone``, roll
the whole request back. ``If-Unmodified-Since`` (and ``If-Match`` on Account, whose rows carry an
``ETag``) answer 412 when the record changed. Every write stamps ``LastModifiedDate``,
``SystemModstamp`` and ``LastModifiedById`` (the API user), so the next incremental read sees it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.ids import normalize_salesforce_id
from passerelle_sandbox.salesforce_cases import DERIVED as CASE_DERIVED
from passerelle_sandbox.salesforce_cases import PICKLIST_VALUES
from passerelle_sandbox.salesforce_cases import REQUIRED as CASE_REQUIRED
from passerelle_sandbox.salesforce_cases import stamp_case
from passerelle_sandbox.salesforce_schema import SYSTEM_MANAGED, field_def
from passerelle_sandbox.soql import NUMBER_TYPES, FieldDef
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
READ_ONLY = SYSTEM_MANAGED | {"CreatedById", "LastModifiedById"}
DERIVED = {"Opportunity": frozenset({"IsClosed", "IsWon"}), **CASE_DERIVED}
REQUIRED = {
    "Account": ("Name",),
    "Contact": ("LastName",),
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "Product2": ("Name",),
    **CASE_REQUIRED,
}
CLOSED_STAGES = {"Closed Won": True, "Closed Lost": False}
MAX_COLLECTION = 200


class WriteError(Exception):
    """One record's validation failure: ``code``, ``message`` and the ``fields`` concerned."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.fields, self.status = code, message, fields or [], status

    def rest(self) -> VendorError:
        return VendorError(self.status, [{"message": self.message, "errorCode": self.code, "fields": self.fields}])

    def item(self) -> Record:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def etag(record: Record) -> str:
    """A hash of the row's content, as Salesforce's ETag is: any change of a value changes it."""
    digest = hashlib.sha1(json.dumps(record, sort_keys=True, default=str).encode()).digest()
    return f'"{base64.b64encode(digest).decode()}--gzip"'


def _json_body(call: Call) -> Any:
    try:
        return json.loads(call.request.get_data() or b"null", parse_float=Decimal)
    except ValueError as exc:
        error = {"message": f"Unexpected character: {exc}", "errorCode": "JSON_PARSER_ERROR"}
        raise VendorError(400, [error]) from None


def _json_token(value: Any) -> str:
    """The JSON parser's name for a value's token, as Salesforce's deserialization errors quote it."""
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, Decimal):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def _version_number(version: str) -> float:
    return float(version.lstrip("v"))


class SalesforceWrites:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`."""

    objects: dict[str, Collection]
    schemas: dict[str, Any]
    config: dict[str, Any]
    lock: Any

    # -- helpers the app provides: _schema, _unique_id, now_text

    def external_id_fields(self, obj: str) -> tuple[str, ...]:
        return tuple(self.config["external_id_fields"].get(obj, ()))

    def _coerce(self, obj: str, definition: FieldDef, value: Any) -> Any:
        if value is None:
            return None
        ftype = definition.type
        wrong = WriteError(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {ftype} from {_json_token(value)} value {value} or request may be "
            "missing a required field", [definition.name])
        if ftype in NUMBER_TYPES:
            if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
                raise wrong
            return value
        if ftype == "boolean":
            if not isinstance(value, bool):
                raise wrong
            return value
        if not isinstance(value, str):
            raise wrong
        allowed = PICKLIST_VALUES.get((obj, definition.name))
        if allowed is not None and value not in allowed:
            raise WriteError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                             f"{definition.label}: bad value for restricted picklist field: {value}", [definition.name])
        if ftype == "datetime":
            try:
                return canonical(parse_instant(value))
            except ValueError:
                raise wrong from None
        if ftype == "date":
            if len(value) != 10:
                raise wrong
            try:
                parse_instant(value + "T00:00:00Z")
            except ValueError:
                raise wrong from None
        if ftype == "reference":
            normalized = normalize_salesforce_id(value)
            if normalized is None:
                raise WriteError("MALFORMED_ID", f"{definition.label}: id value of incorrect type: {value}",
                                 [definition.name])
            target = definition.reference_to[0] if definition.reference_to else None
            if target in self.objects and normalized not in self.objects[target]:
                raise WriteError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [definition.name])
            return normalized
        return value

    def _changes(self, obj: str, body: Any, creating: bool) -> Record:
        """Validated field values of a create or update body (``attributes`` ignored)."""
        if not isinstance(body, dict):
            raise WriteError("JSON_PARSER_ERROR", "The request body must be a JSON object")
        schema = self.schemas[obj]
        changes: Record = {}
        locked: list[str] = []
        for name, value in body.items():
            if name == "attributes":
                continue
            definition = schema.field(name)
            if definition is None:
                raise WriteError("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj}", [])
            if definition.name in READ_ONLY or definition.name in DERIVED.get(obj, ()):
                locked.append(definition.name)
                continue
            changes[definition.name] = self._coerce(obj, definition, value)
        if locked:
            action = "create" if creating else "update"
            raise WriteError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {action} fields: {', '.join(locked)}. Please check the security settings of this field "
                "and verify that it is read/write for your profile or permission set.", locked)
        return changes

    def _require(self, obj: str, record: Record) -> None:
        missing = [name for name in REQUIRED.get(obj, ()) if record.get(name) in (None, "")]
        if missing:
            raise WriteError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _stamp(self, obj: str, record: Record, user_id: str, creating: bool) -> None:
        now = self.now_text()  # type: ignore[attr-defined]
        schema = self.schemas[obj]
        audit = ["LastModifiedById"] + (["CreatedById"] if creating else [])
        for name in audit:
            if schema.field(name) is None:
                schema.add(field_def(obj, name, user_id))
            record[name] = user_id
        if creating:
            record["CreatedDate"] = now
            record["IsDeleted"] = False
        record["LastModifiedDate"] = now
        if obj == "Opportunity" and "StageName" in record:
            stage = record.get("StageName")
            if "IsClosed" in record:
                record["IsClosed"] = stage in CLOSED_STAGES
            if "IsWon" in record:
                record["IsWon"] = CLOSED_STAGES.get(stage, False)
        if obj == "Case":
            stamp_case(record, creating, now, len(self.objects[obj]) + 1001)  # type: ignore[attr-defined]
        if creating:
            self.objects[obj].insert(record, by=user_id, at=now)
        else:
            self.objects[obj].touch(record["Id"], by=user_id, at=now)

    def _create(self, obj: str, body: Any, user_id: str, commit: bool = True) -> Record:
        changes = self._changes(obj, body, creating=True)
        record: Record = {name: None for name in self.schemas[obj].fields}
        record.update(changes)
        self._require(obj, record)
        record["Id"] = self._unique_id(obj)  # type: ignore[attr-defined]
        if commit:
            self._stamp(obj, record, user_id, creating=True)
        return record

    def _live(self, obj: str, record_id: str) -> Record:
        normalized = normalize_salesforce_id(record_id)
        record = self.objects[obj].get(normalized or "")
        if normalized is None:
            raise WriteError("MALFORMED_ID", f"malformed id {record_id}", [], 400)
        if record is None:
            raise WriteError("NOT_FOUND", "The requested resource does not exist", [], 404)
        if record.get("IsDeleted"):
            raise WriteError("ENTITY_IS_DELETED", "entity is deleted", [], 404)
        return record

    def _update(self, obj: str, record: Record, body: Any, user_id: str, commit: bool = True) -> None:
        changes = self._changes(obj, body, creating=False)
        self._require(obj, {**record, **changes})
        if commit:
            record.update(changes)
            self._stamp(obj, record, user_id, creating=False)

    def _check_preconditions(self, call: Call, obj: str, record: Record) -> None:
        headers = call.request.headers
        since = headers.get("If-Unmodified-Since")
        if since:
            try:
                instant = parsedate_to_datetime(since)
            except (TypeError, ValueError):
                instant = None
            if instant is None or instant.tzinfo is None:
                raise VendorError(400, [{"message": f"Invalid If-Unmodified-Since header: {since}",
                                         "errorCode": "BAD_REQUEST"}])
            modified = parse_instant(record["LastModifiedDate"]).replace(microsecond=0)
            if modified > instant:
                raise VendorError(412, [{"message": "The requested entity has been modified since "
                                         f"{since}.", "errorCode": "PRECONDITION_FAILED"}])
        match = headers.get("If-Match")
        if match and obj == "Account":
            wanted = {tag.strip() for tag in match.split(",")}
            if "*" not in wanted and etag(record) not in wanted:
                raise VendorError(412, [{"message": "The requested entity's ETag doesn't match the If-Match "
                                         "header.", "errorCode": "PRECONDITION_FAILED"}])

    # -- single-record endpoints

    def on_create(self, call: Call, version: str, sobject: str) -> Response:
        with self.lock:
            obj = self._schema(sobject).name  # type: ignore[attr-defined]
            try:
                record = self._create(obj, _json_body(call), call.principal["user_id"])
            except WriteError as exc:
                raise exc.rest() from None
        return json_response({"id": record["Id"], "success": True, "errors": []}, 201)

    def on_update_record(self, call: Call, version: str, sobject: str, record_id: str) -> Response:
        with self.lock:
            obj = self._schema(sobject).name  # type: ignore[attr-defined]
            try:
                record = self._live(obj, record_id)
                self._check_preconditions(call, obj, record)
                self._update(obj, record, _json_body(call), call.principal["user_id"])
            except WriteError as exc:
                raise exc.rest() from None
            headers = {"ETag": etag(record)} if obj == "Account" else None
        return Response(status=204, headers=headers)

    def on_delete_record(self, call: Call, version: str, sobject: str, record_id: str) -> Response:
        with self.lock:
            obj = self._schema(sobject).name  # type: ignore[attr-defined]
            try:
                record = self._live(obj, record_id)
            except WriteError as exc:
                raise exc.rest() from None
            self.objects[obj].delete(record["Id"])
        return Response(status=204)

    def _by_external_id(self, obj: str, field: str, value: str) -> tuple[str, list[Record]]:
        definition = self.schemas[obj].field(field)
        if definition is None or definition.name not in self.external_id_fields(obj):
            raise WriteError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}",
                             [], 404)
        name, wanted = definition.name, value.casefold()
        matches = [r for r in self.objects[obj].values()
                   if not r.get("IsDeleted") and r.get(name) is not None and str(r[name]).casefold() == wanted]
        return name, matches

    def on_external_record(self, call: Call, version: str, sobject: str, field: str, value: str) -> Response:
        with self.lock:
            obj = self._schema(sobject).name  # type: ignore[attr-defined]
            try:
                _, matches = self._by_external_id(obj, field, value)
            except WriteError as exc:
                raise exc.rest() from None
            if not matches:
                raise VendorError(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
            if len(matches) > 1:
                return json_response([f"/services/data/{version}/sobjects/{obj}/{r['Id']}" for r in matches], 300)
            schema = self.schemas[obj]
            fields = [(name, schema.fields[name].type == "datetime") for name in schema.fields]
            return json_response(self._render(obj, version, matches[0], fields))  # type: ignore[attr-defined]

    def on_upsert(self, call: Call, version: str, sobject: str, field: str, value: str) -> Response:
        with self.lock:
            obj = self._schema(sobject).name  # type: ignore[attr-defined]
            body = _json_body(call)
            user = call.principal["user_id"]
            try:
                name, matches = self._by_external_id(obj, field, value)
                if isinstance(body, dict) and any(k.lower() == name.lower() for k in body):
                    raise WriteError("INVALID_FIELD", f"Field {name} is an external ID and cannot be set in the "
                                     "request body when it is used as the upsert key", [name])
                if len(matches) > 1:
                    return json_response([f"/services/data/{version}/sobjects/{obj}/{r['Id']}" for r in matches], 300)
                if not matches:
                    if call.request.args.get("updateOnly", "").lower() == "true":
                        raise WriteError("NOT_FOUND", "The requested resource does not exist", [], 404)
                    record = self._create(obj, {**(body or {}), name: value}, user)
                    return json_response({"id": record["Id"], "success": True, "errors": [], "created": True}, 201)
                record = matches[0]
                self._check_preconditions(call, obj, record)
                self._update(obj, record, body, user)
            except WriteError as exc:
                raise exc.rest() from None
        if _version_number(version) < 46:
            return Response(status=204)
        return json_response({"id": record["Id"], "success": True, "errors": [], "created": False})

    # -- sObject Collections

    def _collection_records(self, call: Call) -> tuple[list[Any], bool]:
        body = _json_body(call)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise VendorError(400, [{"message": "The request body must contain a records array",
                                     "errorCode": "JSON_PARSER_ERROR"}])
        records = body["records"]
        if len(records) > MAX_COLLECTION:
            raise VendorError(400, [{"message": f"Maximum number of records exceeded ({MAX_COLLECTION})",
                                     "errorCode": "EXCEEDED_ID_LIMIT"}])
        return records, bool(body.get("allOrNone"))

    def _item_type(self, item: Any) -> str:
        attributes = item.get("attributes") if isinstance(item, dict) else None
        kind = attributes.get("type") if isinstance(attributes, dict) else None
        if not kind:
            raise WriteError("INVALID_TYPE", "Must send a concrete entity type.")
        try:
            return self._schema(kind).name  # type: ignore[attr-defined]
        except VendorError:
            raise WriteError("INVALID_TYPE", f"sObject type '{kind}' is not supported.") from None

    def _run_collection(self, items: list[Any], all_or_none: bool, attempt: Any, created: bool = False) -> Response:
        """``attempt(item, commit)`` validates (commit False) then applies one item; it returns the record id,
        or ``(id, created)`` for upserts (``created`` then appears in each result)."""

        def success(result: Any) -> Record:
            record_id, was_created = result if isinstance(result, tuple) else (result, None)
            return {"id": record_id, "success": True, "errors": [], "created": was_created}

        outcomes: list[Record] = []
        for item in items:
            try:
                outcomes.append(success(attempt(item, not all_or_none)))
            except WriteError as exc:
                outcomes.append({"id": None, "success": False, "errors": [exc.item()], "created": False})
        if all_or_none:
            if all(o["success"] for o in outcomes):
                outcomes = [success(attempt(item, True)) for item in items]
            else:
                rolled = WriteError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all "
                                    "records were valid and the request was using AllOrNone header").item()
                outcomes = [o if not o["success"] else {"id": None, "success": False, "errors": [rolled],
                                                         "created": False} for o in outcomes]
        keys = ("id", "success", "errors", "created") if created else ("id", "success", "errors")
        return json_response([{key: o[key] for key in keys} for o in outcomes])

    def on_collection_create(self, call: Call, version: str) -> Response:
        items, all_or_none = self._collection_records(call)
        user = call.principal["user_id"]

        def attempt(item: Any, commit: bool) -> str | None:
            if isinstance(item, dict) and item.get("id"):
                raise WriteError("INVALID_FIELD", "Id isn't allowed on create", ["Id"])
            record = self._create(self._item_type(item), item, user, commit)
            return str(record["Id"]) if commit else None

        with self.lock:
            return self._run_collection(items, all_or_none, attempt)

    def on_collection_update(self, call: Call, version: str) -> Response:
        items, all_or_none = self._collection_records(call)
        user = call.principal["user_id"]

        def attempt(item: Any, commit: bool) -> str:
            obj = self._item_type(item)
            record_id = item.get("id") or item.get("Id")
            if not record_id:
                raise WriteError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            record = self._live(obj, record_id)
            body = {k: v for k, v in item.items() if k.lower() != "id"}
            self._update(obj, record, body, user, commit)
            return str(record["Id"])

        with self.lock:
            return self._run_collection(items, all_or_none, attempt)

    def on_collection_delete(self, call: Call, version: str) -> Response:
        ids = [i for i in call.request.args.get("ids", "").split(",") if i]
        all_or_none = call.request.args.get("allOrNone", "").lower() == "true"
        if not ids or len(ids) > MAX_COLLECTION:
            raise VendorError(400, [{"message": "ids must list 1 to 200 record ids", "errorCode": "INVALID_ID_FIELD"}])

        def attempt(record_id: str, commit: bool) -> str:
            for obj, store in self.objects.items():
                if (normalize_salesforce_id(record_id) or "") in store:
                    record = self._live(obj, record_id)
                    if commit:
                        store.delete(record["Id"])
                    return str(record["Id"])
            raise WriteError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")

        with self.lock:
            return self._run_collection(ids, all_or_none, attempt)

    def on_collection_upsert(self, call: Call, version: str, sobject: str, field: str) -> Response:
        items, all_or_none = self._collection_records(call)
        user = call.principal["user_id"]
        with self.lock:
            obj = self._schema(sobject).name  # type: ignore[attr-defined]
            try:
                name, _ = self._by_external_id(obj, field, "")
            except WriteError as exc:
                raise exc.rest() from None

            def attempt(item: Any, commit: bool) -> tuple[str | None, bool]:
                if self._item_type(item) != obj:
                    raise WriteError("INVALID_TYPE", f"Every record must be of type {obj}")
                value = next((v for k, v in item.items() if k.lower() == name.lower()), None)
                if value in (None, ""):
                    raise WriteError("MISSING_ARGUMENT", f"{name} not specified", [name])
                return self.upsert_item(obj, name, value, item, user, commit)

            return self._run_collection(items, all_or_none, attempt, created=True)

    def upsert_item(self, obj: str, name: str, value: Any, item: Record, user: str,
                    commit: bool = True) -> tuple[str | None, bool]:
        """Upsert one item of a collection or bulk job on external id ``name`` = ``value``: ``(id, created)``."""
        _, matches = self._by_external_id(obj, name, str(value))
        if len(matches) > 1:
            ids = ", ".join(r["Id"] for r in matches)
            raise WriteError("DUPLICATE_EXTERNAL_ID",
                             f"{name}: more than one record found for external id field: [{ids}]", [name])
        body = {k: v for k, v in item.items() if k.lower() != name.lower()}
        if not matches:
            record = self._create(obj, {**body, name: value}, user, commit)
            return (str(record["Id"]) if commit else None), True
        self._update(obj, matches[0], body, user, commit)
        return str(matches[0]["Id"]), False
