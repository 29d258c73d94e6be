"""Bulk API 2.0 ingest jobs: ``POST /jobs/ingest``, ``PUT .../batches`` (CSV), ``PATCH`` ``UploadComplete``, results.

A job is ``Open`` while CSV is uploaded (each upload with its header row), runs its rows when set to
``UploadComplete`` (``insert``, ``update``, ``upsert`` on ``externalIdFieldName``, ``delete``,
``hardDelete``), then reports ``InProgress`` for ``bulk_ingest_polls_in_progress`` polls and
``JobComplete``. Each row succeeds or fails alone: ``successfulResults/`` lists ``sf__Id``,
``sf__Created`` and the row, ``failedResults/`` ``sf__Id``, ``sf__Error`` (``CODE:message:fields --``)
and the row, ``unprocessedrecords/`` (any case) the rows an abort left. An unknown column fails the whole job
(``InvalidBatch : Field name not found``). In CSV an empty cell leaves a field as it is and ``#N/A``
empties it. Writes stamp ``SystemModstamp`` like every other write, so the next incremental read sees them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.ids import normalize_salesforce_id
from passerelle_sandbox.salesforce_bulk2 import DELIMITERS, LINE_ENDINGS, new_job_id, versioned_job
from passerelle_sandbox.salesforce_writes import WriteError, _json_body
from passerelle_sandbox.soql import NUMBER_TYPES, FieldDef
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
NULL = "#N/A"
FINISHED = ("JobComplete", "Failed", "Aborted")


def _job_error(status: int, code: str, message: str) -> VendorError:
    return VendorError(status, [{"errorCode": code, "message": message}])


def row_error(exc: WriteError) -> str:
    """A failed row's ``sf__Error``, as Bulk API results word it."""
    return f"{exc.code}:{exc.message}:{','.join(exc.fields)} --"


def csv_field_value(definition: FieldDef, text: str) -> Any:
    """A CSV cell as the JSON value the REST API would take for the field."""
    if text == NULL:
        return None
    wrong = WriteError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                       f"{definition.label}: value not of required type: {text}", [definition.name])
    if definition.type == "boolean":
        if text.lower() not in ("true", "false", "1", "0"):
            raise wrong
        return text.lower() in ("true", "1")
    if definition.type in NUMBER_TYPES:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise wrong from None
        if not number.is_finite():
            raise wrong
        return int(number) if definition.type in ("int", "long") and number == number.to_integral_value() else number
    return text


@dataclass
class IngestJob:
    info: Record
    columns: list[str] = field(default_factory=list)  # every uploaded column, first-seen order
    rows: list[dict[str, str]] = field(default_factory=list)
    successful: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)
    failed: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    polls: int = 0


class BulkIngest:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`; ``bulk_write`` also serves Bulk API 1.0."""

    config: dict[str, Any]
    objects: dict[str, Collection]
    schemas: dict[str, Any]
    lock: Any

    _ingest_jobs: dict[str, IngestJob]  # set by the app's load(), so a reset forgets the jobs

    # -- one row, whatever the API

    def bulk_write(self, obj: str, operation: str, values: Record, external_id: str | None,
                   user: str) -> tuple[str, bool]:
        """Apply one row of a bulk job: ``(record id, created)``, or a :class:`WriteError`."""
        record_id = next((str(v) for k, v in values.items() if k.lower() == "id" and v not in (None, "")), None)
        body = {k: v for k, v in values.items() if k.lower() != "id"}
        if operation == "insert":
            if record_id is not None:
                raise WriteError("INVALID_FIELD_FOR_INSERT_UPDATE", "Cannot specify Id in an insert call", ["Id"])
            return str(self._create(obj, body, user)["Id"]), True  # type: ignore[attr-defined]
        if operation in ("delete", "hardDelete"):
            if record_id is None:
                raise WriteError("MISSING_ARGUMENT", "Id not specified in a delete call", ["Id"])
            if body:
                raise WriteError("INVALID_FIELD", f"The '{operation}' batch must contain only 'Id'", sorted(body))
            record = self._live(obj, record_id)  # type: ignore[attr-defined]
            if operation == "hardDelete":
                self.objects[obj].purge(record["Id"])
            else:
                self.objects[obj].delete(record["Id"])
            return str(record["Id"]), False
        if operation == "update" or (operation == "upsert" and (external_id or "").lower() == "id"):
            if record_id is None:
                if operation == "upsert":
                    return str(self._create(obj, body, user)["Id"]), True  # type: ignore[attr-defined]
                raise WriteError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            if normalize_salesforce_id(record_id) is None:
                raise WriteError("MALFORMED_ID", f"Id: id value of incorrect type: {record_id}", ["Id"])
            record = self._live(obj, record_id)  # type: ignore[attr-defined]
            self._update(obj, record, body, user)  # type: ignore[attr-defined]
            return str(record["Id"]), False
        name, _ = self._by_external_id(obj, external_id or "", "")  # type: ignore[attr-defined]
        value = next((v for k, v in values.items() if k.lower() == name.lower()), None)
        if value in (None, ""):
            raise WriteError("MISSING_ARGUMENT", f"{name} not specified", [name])
        record_id, created = self.upsert_item(obj, name, value, body, user)  # type: ignore[attr-defined]
        return str(record_id), created

    # -- jobs

    def _ingest_job(self, version: str, job_id: str) -> IngestJob:
        return versioned_job(self._ingest_jobs, version, job_id)

    def _ingest_view(self, job: IngestJob) -> Record:
        processed = len(job.successful) + len(job.failed)
        return {**job.info, "jobType": "V2Ingest", "numberRecordsProcessed": processed,
                "numberRecordsFailed": len(job.failed), "retries": 0, "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0, "apexProcessingTime": 0}

    def on_ingest_create(self, call: Call, version: str) -> Response:
        body = _json_body(call)
        if not isinstance(body, dict):
            raise _job_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise _job_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if body.get("contentType", "CSV") != "CSV":
            raise _job_error(400, "INVALIDJOB", f"InvalidJob : Invalid content type: {body.get('contentType')}")
        delimiter, ending = body.get("columnDelimiter", "COMMA"), body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or ending not in LINE_ENDINGS:
            raise _job_error(400, "INVALIDJOB", "InvalidJob : Invalid columnDelimiter or lineEnding")
        external = body.get("externalIdFieldName")
        with self.lock:
            try:
                obj = self._schema(str(body.get("object") or "")).name  # type: ignore[attr-defined]
            except VendorError:
                raise _job_error(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}") from None
            if operation == "upsert":
                if not external:
                    raise _job_error(400, "INVALIDJOB", "InvalidJob : External ID field is required for upsert")
                if str(external).lower() != "id":
                    try:
                        external, _ = self._by_external_id(obj, str(external), "")  # type: ignore[attr-defined]
                    except WriteError as exc:
                        raise _job_error(400, "INVALIDJOB", f"InvalidJob : {exc.message}") from None
            stamp = self.now_text()[:-1] + "+0000"  # type: ignore[attr-defined]
            job_id = new_job_id()
            info = {
                "id": job_id, "operation": operation, "object": obj, "createdById": call.principal["user_id"],
                "createdDate": stamp, "systemModstamp": stamp, "state": "Open",
                "externalIdFieldName": external if operation == "upsert" else None,
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(version.lstrip("v")),
                "contentUrl": f"services/data/{version}/jobs/ingest/{job_id}/batches",
                "lineEnding": ending, "columnDelimiter": delimiter,
            }
            self._ingest_jobs[job_id] = IngestJob(info)
        return json_response(info)

    def on_ingest_upload(self, call: Call, version: str, job_id: str) -> Response:
        text = call.request.get_data().decode("utf-8-sig", errors="replace")
        with self.lock:
            job = self._ingest_job(version, job_id)
            if job.info["state"] != "Open":
                raise _job_error(409, "INVALIDJOBSTATE", f"Job {job_id} is {job.info['state']}: data can only be "
                                 "uploaded to an Open job")
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.info["columnDelimiter"]])
            header = next(reader, None)
            if not header:
                raise _job_error(400, "INVALIDREQUEST", "The CSV data is empty: a header row is required")
            rows = [dict(zip(header, row)) for row in reader if row]
            job.columns.extend(name for name in header if name not in job.columns)
            job.rows.extend(rows)
        return Response(status=201)

    def on_ingest_state(self, call: Call, version: str, job_id: str) -> Response:
        body = _json_body(call)
        state = body.get("state") if isinstance(body, dict) else None
        with self.lock:
            job = self._ingest_job(version, job_id)
            current = job.info["state"]
            if state == "UploadComplete":
                if current != "Open":
                    raise _job_error(409, "INVALIDJOBSTATE", f"Job {job_id} is {current}, not Open")
                job.info["state"] = "UploadComplete"
                self._run_ingest(job, call.principal["user_id"])
            elif state == "Aborted":
                if current in FINISHED:
                    raise _job_error(409, "INVALIDJOBSTATE", f"Job {job_id} is {current}: it cannot be aborted")
                job.info["state"] = "Aborted"
                if current == "Open":
                    job.unprocessed = list(job.rows)
            else:
                raise _job_error(400, "INVALIDREQUEST", f"Invalid state: {state}; use UploadComplete or Aborted")
            return json_response(job.info)

    def _run_ingest(self, job: IngestJob, user: str) -> None:
        obj, operation = job.info["object"], job.info["operation"]
        schema = self.schemas[obj]
        unknown = [name for name in job.columns if schema.field(name) is None]
        if unknown:
            job.info["state"], job.info["errorMessage"] = "Failed", f"InvalidBatch : Field name not found : {unknown[0]}"
            job.unprocessed = list(job.rows)
            return
        if operation in ("delete", "hardDelete") and [c.lower() for c in job.columns] != ["id"]:
            job.info["state"] = "Failed"
            job.info["errorMessage"] = f"InvalidBatch : The '{operation}' batch must contain only 'Id'"
            job.unprocessed = list(job.rows)
            return
        for row in job.rows:
            try:
                values = {schema.field(k).name: csv_field_value(schema.field(k), v) for k, v in row.items() if v != ""}
                record_id, created = self.bulk_write(obj, operation, values, job.info["externalIdFieldName"], user)
            except WriteError as exc:
                given = next((v for k, v in row.items() if k.lower() == "id"), "")
                job.failed.append((given, row_error(exc), row))
            else:
                job.successful.append((record_id, created, row))

    def on_ingest_job(self, call: Call, version: str, job_id: str) -> Response:
        with self.lock:
            job = self._ingest_job(version, job_id)
            if job.info["state"] in ("UploadComplete", "InProgress"):
                job.polls += 1
                waiting = job.polls <= int(self.config["bulk_ingest_polls_in_progress"])
                job.info["state"] = "InProgress" if waiting else "JobComplete"
            return json_response(self._ingest_view(job))

    def on_ingest_list(self, call: Call, version: str) -> Response:
        with self.lock:
            records = [self._ingest_view(job) for job in self._ingest_jobs.values()]
        return json_response({"done": True, "records": records, "nextRecordsUrl": None})

    def on_ingest_delete(self, call: Call, version: str, job_id: str) -> Response:
        with self.lock:
            job = self._ingest_job(version, job_id)
            if job.info["state"] not in ("UploadComplete", *FINISHED):
                raise _job_error(409, "INVALIDJOBSTATE", f"Job {job_id} is {job.info['state']}: only a closed, "
                                 "complete, failed or aborted job can be deleted")
            del self._ingest_jobs[job_id]
        return Response(status=204)

    def on_ingest_results(self, call: Call, version: str, job_id: str, kind: str) -> Response:
        with self.lock:
            job = self._ingest_job(version, job_id)
            if kind.lower() != "unprocessedrecords" and job.info["state"] not in FINISHED:
                raise _job_error(409, "INVALIDJOBSTATE", f"Job {job_id} is {job.info['state']}: results are "
                                 "available once it is complete")
            if kind == "successfulResults":
                head = ["sf__Id", "sf__Created"]
                lines = [[i, "true" if created else "false", *self._cells(job, row)] for i, created, row in job.successful]
            elif kind == "failedResults":
                head = ["sf__Id", "sf__Error"]
                lines = [[i, error, *self._cells(job, row)] for i, error, row in job.failed]
            else:
                head, lines = [], [self._cells(job, row) for row in job.unprocessed]
            out = io.StringIO()
            writer = csv.writer(out, delimiter=DELIMITERS[job.info["columnDelimiter"]],
                                lineterminator=LINE_ENDINGS[job.info["lineEnding"]], quoting=csv.QUOTE_ALL)
            writer.writerow(head + job.columns)
            writer.writerows(lines)
        return Response(out.getvalue(), status=200, content_type="text/csv; charset=UTF-8")

    @staticmethod
    def _cells(job: IngestJob, row: dict[str, str]) -> list[str]:
        return [row.get(name, "") for name in job.columns]
