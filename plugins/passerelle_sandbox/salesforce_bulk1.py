"""Bulk API 1.0 (``/services/async/<version>/job``), JSON content type only, as simple-salesforce's ``sf.bulk`` uses it.

The session travels in ``X-SFDC-Session``; errors are ``{"exceptionCode", "exceptionMessage"}`` (an
expired session is 400 ``InvalidSessionId``). A job (``insert``, ``update``, ``upsert``, ``delete``,
``hardDelete``, ``query``, ``queryAll``) takes batches while ``Open``: a DML batch is a JSON array of
records, run when added, whose ``result`` lists ``{success, created, id, errors}`` per record in input
order; a query batch is SOQL text whose ``result`` lists result ids, each a JSON array of records with
datetimes and dates as epoch milliseconds. Batches report ``Queued`` when added and ``Completed``
(or ``Failed`` with ``stateMessage``) afterwards; ``{"state": "Closed"}`` closes the job.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.clock import parse_instant
from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.ids import salesforce_id
from passerelle_sandbox.salesforce_bulk2 import new_job_id
from passerelle_sandbox.salesforce_writes import WriteError
from passerelle_sandbox.soql import SoqlError, compile_query, execute
from passerelle_sandbox.soql_relations import PathColumn, follow
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
DML = ("insert", "update", "upsert", "delete", "hardDelete")
QUERIES = ("query", "queryAll")
_batches = itertools.count(1)


def async_error(code: str, message: str, status: int = 400) -> VendorError:
    return VendorError(status, {"exceptionCode": code, "exceptionMessage": message})


def epoch_millis(text: str) -> int:
    """A stored date or datetime as Bulk API 1.0 JSON writes it: milliseconds since 1970 UTC."""
    instant = parse_instant(text if "T" in text else text + "T00:00:00Z")
    return int(instant.timestamp() * 1000)


@dataclass
class AsyncBatch:
    info: Record
    request: Any
    results: list[Record] = field(default_factory=list)  # DML: one per record; query: the rows
    result_id: str = ""


@dataclass
class AsyncJob:
    info: Record
    batches: dict[str, AsyncBatch] = field(default_factory=dict)


class BulkV1:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`."""

    objects: dict[str, Collection]
    schemas: dict[str, Any]
    lock: Any
    clock: Any
    tokens: Any

    _async_jobs: dict[str, AsyncJob]  # set by the app's load(), so a reset forgets the jobs

    def async_principal(self, call: Call) -> Any:
        session = call.request.headers.get("X-SFDC-Session", "").strip()
        if session.lower().startswith(("bearer ", "oauth ")):
            session = session.split(" ", 1)[1].strip()
        if session:
            state, token = self.tokens.check(session)
            if state == "valid" and token is not None and token.data.get("kind") == "access":
                return token.data
        raise async_error("InvalidSessionId", "Invalid session id")

    def _stamp_text(self) -> str:
        return self.now_text()[:-1] + "+0000"  # type: ignore[attr-defined]

    def _async_job(self, job_id: str) -> AsyncJob:
        job = self._async_jobs.get(job_id)
        if job is None:
            raise async_error("InvalidJob", f"Unable to find job with id: {job_id}")
        return job

    def _async_view(self, job: AsyncJob) -> Record:
        batches = [b.info for b in job.batches.values()]
        counts = {state: sum(1 for b in batches if b["state"] == state)
                  for state in ("Queued", "InProgress", "Completed", "Failed")}
        return {**job.info, "numberBatchesQueued": counts["Queued"], "numberBatchesInProgress": counts["InProgress"],
                "numberBatchesCompleted": counts["Completed"], "numberBatchesFailed": counts["Failed"],
                "numberBatchesTotal": len(batches),
                "numberRecordsProcessed": sum(b["numberRecordsProcessed"] for b in batches),
                "numberRecordsFailed": sum(b["numberRecordsFailed"] for b in batches)}

    def on_async_job_create(self, call: Call, version: str) -> Response:
        try:
            body = json.loads(call.request.get_data() or b"null")
        except ValueError:
            raise async_error("InvalidJob", "Unable to parse the job: the body must be JSON") from None
        if not isinstance(body, dict):
            raise async_error("InvalidJob", "The job must be a JSON object")
        operation = body.get("operation")
        if operation not in DML + QUERIES:
            raise async_error("InvalidJob", f"Invalid operation: {operation}")
        if body.get("contentType") != "JSON":
            raise async_error("InvalidJob", f"Unsupported content type: {body.get('contentType')}; this API "
                              "answers JSON jobs only")
        mode = body.get("concurrencyMode", "Parallel")
        serial = mode in ("Serial", 1, "1")
        with self.lock:
            try:
                obj = self._schema(str(body.get("object") or "")).name  # type: ignore[attr-defined]
            except VendorError:
                raise async_error("InvalidJob", f"Unable to find object: {body.get('object')}") from None
            external = body.get("externalIdFieldName")
            if operation == "upsert":
                if not external:
                    raise async_error("InvalidJob", "External ID field is required for upsert")
                if str(external).lower() != "id":
                    try:
                        external, _ = self._by_external_id(obj, str(external), "")  # type: ignore[attr-defined]
                    except WriteError as exc:
                        raise async_error("InvalidJob", exc.message) from None
            stamp = self._stamp_text()
            info = {
                "apexProcessingTime": 0, "apiActiveProcessingTime": 0, "apiVersion": float(version),
                "assignmentRuleId": None, "concurrencyMode": "Serial" if serial else "Parallel",
                "contentType": "JSON", "createdById": call.principal["user_id"], "createdDate": stamp,
                "externalIdFieldName": external if operation == "upsert" else None, "fastPathEnabled": False,
                "id": new_job_id(), "numberRetries": 0, "object": obj, "operation": operation, "state": "Open",
                "systemModstamp": stamp, "totalProcessingTime": 0,
            }
            job = AsyncJob(info)
            self._async_jobs[info["id"]] = job
            return json_response(self._async_view(job), 201)

    def on_async_job(self, call: Call, version: str, job_id: str) -> Response:
        with self.lock:
            return json_response(self._async_view(self._async_job(job_id)))

    def on_async_job_state(self, call: Call, version: str, job_id: str) -> Response:
        try:
            body = json.loads(call.request.get_data() or b"null")
        except ValueError:
            body = None
        state = body.get("state") if isinstance(body, dict) else None
        with self.lock:
            job = self._async_job(job_id)
            if state not in ("Closed", "Aborted"):
                raise async_error("InvalidJob", f"Invalid state: {state}; use Closed or Aborted")
            if job.info["state"] != "Open":
                raise async_error("InvalidJobState", f"Job {job_id} is {job.info['state']}, not Open")
            job.info["state"] = state
            job.info["systemModstamp"] = self._stamp_text()
            return json_response(self._async_view(job))

    def on_async_batch_create(self, call: Call, version: str, job_id: str) -> Response:
        data = call.request.get_data()
        with self.lock:
            job = self._async_job(job_id)
            if job.info["state"] != "Open":
                raise async_error("InvalidJobState", f"Job {job_id} is {job.info['state']}: batches can only be "
                                  "added to an Open job")
            stamp = self._stamp_text()
            info = {"apexProcessingTime": 0, "apiActiveProcessingTime": 0, "createdDate": stamp,
                    "id": salesforce_id("751", "5g", 62**6 + next(_batches)), "jobId": job_id,
                    "numberRecordsFailed": 0, "numberRecordsProcessed": 0, "state": "Queued", "stateMessage": None,
                    "systemModstamp": stamp, "totalProcessingTime": 0}
            if job.info["operation"] in QUERIES:
                batch = AsyncBatch(dict(info), data.decode("utf-8", errors="replace"))
                self._run_query(job, batch, version)
            else:
                try:
                    records = json.loads(data or b"null", parse_float=Decimal)
                except ValueError:
                    raise async_error("InvalidBatch", "Unable to parse the batch: the body must be a JSON array "
                                      "of records") from None
                if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                    raise async_error("InvalidBatch", "The batch must be a JSON array of records")
                if len(records) > 10_000:
                    raise async_error("InvalidBatch", "Records in a batch can't exceed 10000")
                batch = AsyncBatch(dict(info), records)
                self._run_dml(job, batch, call.principal["user_id"])
            job.batches[info["id"]] = batch
        return json_response(info, 201)

    def _run_dml(self, job: AsyncJob, batch: AsyncBatch, user: str) -> None:
        obj, operation = job.info["object"], job.info["operation"]
        schema = self.schemas[obj]
        unknown = sorted({k for r in batch.request for k in r if k != "attributes" and schema.field(k) is None})
        if unknown:
            batch.info.update(state="Failed", stateMessage=f"InvalidBatch : Field name not found : {unknown[0]}")
            return
        for record in batch.request:
            values = {schema.field(k).name: v for k, v in record.items() if k != "attributes"}
            try:
                record_id, created = self.bulk_write(obj, operation, values,  # type: ignore[attr-defined]
                                                     job.info["externalIdFieldName"], user)
            except WriteError as exc:
                batch.results.append({"success": False, "created": False, "id": None,
                                      "errors": [{"fields": exc.fields, "message": exc.message,
                                                  "statusCode": exc.code}]})
            else:
                batch.results.append({"success": True, "created": created, "id": record_id, "errors": []})
        failed = sum(1 for r in batch.results if not r["success"])
        batch.info.update(numberRecordsProcessed=len(batch.results), numberRecordsFailed=failed)

    def _run_query(self, job: AsyncJob, batch: AsyncBatch, version: str) -> None:
        try:
            compiled = compile_query(batch.request, self.schemas, self.clock.now(), self.objects)
        except SoqlError as exc:
            batch.info.update(state="Failed", stateMessage=f"InvalidBatch : {exc.code}: {exc.message}")
            return
        if compiled.object != job.info["object"] or compiled.aggregate is not None:
            batch.info.update(state="Failed", stateMessage="InvalidBatch : the query must read the job's object "
                              "without aggregates")
            return
        if compiled.columns is not None and any(kind == "child" for kind, _ in compiled.columns):
            batch.info.update(state="Failed", stateMessage="InvalidBatch : Aggregate Relationships not supported "
                              "in Bulk Query")
            return
        keep = self._keep(job.info["operation"] == "queryAll")  # type: ignore[attr-defined]
        rows = execute(compiled, self.objects[compiled.object].values(), keep)
        batch.results = [self._async_row(compiled, version, row) for row in rows]
        batch.result_id = salesforce_id("752", "5g", 62**6 + next(_batches))
        batch.info.update(numberRecordsProcessed=len(rows))

    def _async_row(self, compiled: Any, version: str, row: Record) -> Record:
        obj = compiled.object
        out: Record = {"attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{row['Id']}"}}
        columns = compiled.columns if compiled.columns is not None else [("field", (n,)) for n in compiled.fields]
        for kind, column in columns:
            if isinstance(column, PathColumn):
                parent = follow(self.objects, column.hops, row)
                holder = out
                for hop in column.hops:
                    holder = holder.setdefault(hop.relationship, {"attributes": {"type": hop.target}})
                holder[column.field.name] = self._async_value(column.field.type, (parent or {}).get(column.field.name))
            else:
                name = column[0]
                out[name] = self._async_value(self.schemas[obj].fields[name].type, row.get(name))
        return out

    @staticmethod
    def _async_value(ftype: str, value: Any) -> Any:
        if value is not None and ftype in ("datetime", "date"):
            return epoch_millis(str(value))
        return value

    def _async_batch(self, job_id: str, batch_id: str) -> AsyncBatch:
        batch = self._async_job(job_id).batches.get(batch_id)
        if batch is None:
            raise async_error("InvalidBatch", f"Unable to find batch with id: {batch_id}")
        return batch

    def on_async_batch_list(self, call: Call, version: str, job_id: str) -> Response:
        with self.lock:
            return json_response({"batchInfo": [b.info for b in self._async_job(job_id).batches.values()]})

    def on_async_batch(self, call: Call, version: str, job_id: str, batch_id: str) -> Response:
        with self.lock:
            batch = self._async_batch(job_id, batch_id)
            if batch.info["state"] == "Queued":
                batch.info["state"] = "Completed"
            return json_response(batch.info)

    def on_async_batch_request(self, call: Call, version: str, job_id: str, batch_id: str) -> Response:
        with self.lock:
            batch = self._async_batch(job_id, batch_id)
        if isinstance(batch.request, str):
            return Response(batch.request, content_type="text/plain")
        return json_response(batch.request)

    def on_async_batch_result(self, call: Call, version: str, job_id: str, batch_id: str) -> Response:
        with self.lock:
            batch = self._async_batch(job_id, batch_id)
            if batch.info["state"] != "Completed":
                raise async_error("InvalidBatch", f"Batch {batch_id} is {batch.info['state']}: no results")
            if self._async_job(job_id).info["operation"] in QUERIES:
                return json_response([batch.result_id])
            return json_response(batch.results)

    def on_async_query_result(self, call: Call, version: str, job_id: str, batch_id: str, result_id: str) -> Response:
        with self.lock:
            batch = self._async_batch(job_id, batch_id)
            if batch.info["state"] != "Completed" or result_id != batch.result_id:
                raise async_error("InvalidBatch", f"Unable to find result with id: {result_id}")
            return json_response(batch.results)
