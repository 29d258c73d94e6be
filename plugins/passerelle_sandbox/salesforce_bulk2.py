"""Bulk API 2.0 query jobs: ``POST /jobs/query``, poll ``GET /jobs/query/{id}``, read CSV ``/results``.

A job runs its SOQL when created (the rows are the org as of that instant) and reports
``UploadComplete``, then ``InProgress`` for ``bulk_query_polls_in_progress`` polls, then
``JobComplete`` (or ``Failed`` with the ``errorMessage`` of the ``bulk_query_failure`` knob).
Results are CSV in the requested column order, with the job's delimiter and line ending; ``maxRecords`` pages them, linked by ``Sforce-Locator`` (opaque, the string ``null`` on the
last page) with ``Sforce-NumberOfRecords``. Reading results before completion is 412
``JOB_NOT_COMPLETE``; reading a job with another API version than its own is 409. Bulk queries
refuse what Bulk API 2.0 refuses: aggregates and parent-to-child subqueries.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.ids import salesforce_id
from passerelle_sandbox.soql import CompiledQuery, SoqlError, compile_query, execute
from passerelle_sandbox.soql_relations import PathColumn, follow
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
DELIMITERS = {"COMMA": ",", "TAB": "\t", "SEMICOLON": ";", "PIPE": "|", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DEFAULT_PAGE = 50_000
_serial = itertools.count(1)


@dataclass
class QueryJob:
    info: Record
    columns: list[tuple[str, Any]]  # (header, field name or PathColumn)
    rows: list[Record]
    polls: int = 0


def new_job_id() -> str:
    """A Bulk API job id (``750`` prefix, shared by query and ingest jobs of either API version)."""
    return salesforce_id("750", "5g", 62**6 + next(_serial))


def _job_error(status: int, code: str, message: str) -> VendorError:
    return VendorError(status, [{"errorCode": code, "message": message}])


J = TypeVar("J")


def versioned_job(jobs: dict[str, J], version: str, job_id: str) -> J:
    """A Bulk API 2.0 job (query or ingest), read with the API version it was created with."""
    job = jobs.get(job_id)
    if job is None:
        raise _job_error(404, "NOT_FOUND", "The requested resource does not exist")
    created = job.info["apiVersion"]  # type: ignore[attr-defined]
    if float(version.lstrip("v")) != created:
        raise _job_error(409, "INVALIDJOB", f"Job {job_id} was created with API version {created}; "
                         "use the same version to access it")
    return job


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    return str(value)


def encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int | None:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class Bulk2Queries:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`."""

    config: dict[str, Any]
    objects: dict[str, Collection]
    schemas: dict[str, Any]
    lock: Any
    clock: Any
    org_id: str

    _bulk_jobs: dict[str, QueryJob]  # set by the app's load(), so a reset forgets the jobs

    @property
    def bulk_jobs(self) -> dict[str, QueryJob]:
        return self._bulk_jobs

    def _columns(self, compiled: CompiledQuery) -> list[tuple[str, Any]]:
        if compiled.aggregate is not None:
            raise _job_error(400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0")
        if compiled.columns is None:
            return [(name, name) for name in compiled.fields]
        columns: list[tuple[str, Any]] = []
        for kind, column in compiled.columns:
            if kind == "child":
                raise _job_error(400, "API_ERROR", "Aggregate Relationships not supported in Bulk Query")
            if kind == "field":
                columns.append((column[0], column[0]))
            else:
                header = ".".join([hop.relationship for hop in column.hops] + [column.field.name])
                columns.append((header, column))
        return columns

    def on_bulk_query_create(self, call: Call, version: str) -> Response:
        body = call.request.get_json(silent=True)
        if not isinstance(body, dict):
            raise _job_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise _job_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
        delimiter = body.get("columnDelimiter", "COMMA")
        ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or ending not in LINE_ENDINGS:
            raise _job_error(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        with self.lock:
            try:
                compiled = compile_query(str(body.get("query") or ""), self.schemas, self.clock.now(), self.objects)
            except SoqlError as exc:
                raise _job_error(400, exc.code, exc.message) from None
            columns = self._columns(compiled)
            keep = self._keep(operation == "queryAll")  # type: ignore[attr-defined]
            rows = execute(compiled, self.objects[compiled.object].values(), keep)
            now = self.now_text()  # type: ignore[attr-defined]
            stamp = now[:-1] + "+0000"
            info = {
                "id": new_job_id(),
                "operation": operation,
                "object": compiled.object,
                "createdById": call.principal["user_id"],
                "createdDate": stamp,
                "systemModstamp": stamp,
                "state": "UploadComplete",
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(version.lstrip("v")),
                "lineEnding": ending,
                "columnDelimiter": delimiter,
            }
            self.bulk_jobs[info["id"]] = QueryJob(info, columns, rows)
        return json_response(info)

    def _job(self, version: str, job_id: str) -> QueryJob:
        return versioned_job(self.bulk_jobs, version, job_id)

    def on_bulk_query_job(self, call: Call, version: str, job_id: str) -> Response:
        with self.lock:
            job = self._job(version, job_id)
            if job.info["state"] in ("UploadComplete", "InProgress"):
                job.polls += 1
                waiting = job.polls <= int(self.config["bulk_query_polls_in_progress"])
                failure = self.config.get("bulk_query_failure")
                job.info["state"] = "InProgress" if waiting else "Failed" if failure else "JobComplete"
                if job.info["state"] == "Failed":
                    job.info["errorMessage"] = str(failure)
            complete = job.info["state"] == "JobComplete"
            return json_response({**job.info, "jobType": "V2Query", "numberRecordsProcessed":
                                  len(job.rows) if complete else 0, "retries": 0, "totalProcessingTime": 0,
                                  "isPkChunkingSupported": True})

    def on_bulk_query_abort(self, call: Call, version: str, job_id: str) -> Response:
        body = call.request.get_json(silent=True) or {}
        with self.lock:
            job = self._job(version, job_id)
            if body.get("state") != "Aborted":
                raise _job_error(400, "INVALIDJOB", "Only the state Aborted can be set on a query job")
            if job.info["state"] == "JobComplete":
                raise _job_error(400, "INVALIDJOB", "Cannot abort a job that is complete")
            job.info["state"] = "Aborted"
            return json_response(job.info)

    def on_bulk_query_delete(self, call: Call, version: str, job_id: str) -> Response:
        with self.lock:
            self._job(version, job_id)
            del self.bulk_jobs[job_id]
        return Response(status=204)

    def on_bulk_query_list(self, call: Call, version: str) -> Response:
        with self.lock:
            records = [{**job.info, "jobType": "V2Query"} for job in self.bulk_jobs.values()]
        return json_response({"done": True, "records": records, "nextRecordsUrl": None})

    def on_bulk_query_results(self, call: Call, version: str, job_id: str) -> Response:
        args = call.request.args
        with self.lock:
            job = self._job(version, job_id)
            if job.info["state"] != "JobComplete":
                raise _job_error(412, "JOB_NOT_COMPLETE", f"Job {job_id} is not complete: {job.info['state']}")
            locator = args.get("locator")
            offset = 0 if not locator else decode_locator(locator)
            if offset is None or offset > len(job.rows):
                raise _job_error(400, "INVALID_LOCATOR", f"Invalid locator: {locator}")
            size = args.get("maxRecords", "")
            page = int(size) if size.isdigit() and int(size) > 0 else DEFAULT_PAGE
            end = min(len(job.rows), offset + page)
            text = self._csv(job, job.rows[offset:end])
        headers = {"Sforce-NumberOfRecords": str(end - offset),
                   "Sforce-Locator": encode_locator(end) if end < len(job.rows) else "null"}
        return Response(text, status=200, headers=headers, content_type="text/csv")

    def _csv(self, job: QueryJob, rows: list[Record]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=DELIMITERS[job.info["columnDelimiter"]],
                            lineterminator=LINE_ENDINGS[job.info["lineEnding"]], quoting=csv.QUOTE_ALL)
        writer.writerow([header for header, _ in job.columns])
        for row in rows:
            values = []
            for _, column in job.columns:
                if isinstance(column, PathColumn):
                    parent = follow(self.objects, column.hops, row)
                    values.append(csv_value(parent.get(column.field.name) if parent else None))
                else:
                    values.append(csv_value(row.get(column)))
            writer.writerow(values)
        return out.getvalue()
