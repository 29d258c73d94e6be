"""Salesforce Composite resources: ``/composite``, ``/composite/batch`` and ``/composite/tree/{sObject}``.

``/composite`` runs up to 25 subrequests (5 of them queries) in order as one API call; a subrequest
reads an earlier one's result through ``@{referenceId.path}`` (``@{refAccount.id}``,
``@{refQuery.records[0].Id}``) in its URL or body. Each result is ``{body, httpHeaders, httpStatusCode,
referenceId}``. With ``allOrNone`` the first failure rolls everything back and every other subrequest
answers 400 ``PROCESSING_HALTED``; without it, only the subrequests referring to a failed one fail.
``/composite/batch`` runs up to 25 independent subrequests (each counted against the API limit),
answering ``{hasErrors, results: [{statusCode, result}]}``; ``haltOnError`` answers 412
``BATCH_PROCESSING_HALTED`` for the rest after the first failure. ``/composite/tree`` creates up to
200 records in nested trees (five levels, children under their relationship name) all or none: 201
``{hasErrors: false, results: [{referenceId, id}]}`` or 400 with the failing records' errors.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from passerelle import exact_json
from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.salesforce_writes import WriteError, _json_body
from passerelle_sandbox.soql_relations import child_relationships
from passerelle_sandbox.store import Collection, Saved

Record = dict[str, Any]
MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
MAX_TREE_RECORDS = 200
MAX_TREE_DEPTH = 5
REFERENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])+)\}")
QUERY_ENDPOINTS = frozenset({"query", "query_more"})
NOT_IN_COMPOSITE = frozenset({"composite", "composite_batch", "composite_tree"})
ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."
KEPT_HEADERS = ("Location", "ETag", "Last-Modified")


def _bad_request(message: str, code: str = "INVALID_INPUT") -> VendorError:
    return VendorError(400, [{"message": message, "errorCode": code}])


def _subrequests(call: Call, key: str) -> tuple[Record, list[Any]]:
    """The request body and its list of 1 to 25 subrequests under ``key``."""
    payload = _json_body(call)
    requests = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise _bad_request(f"{key}: the request body must hold a non-empty {key} array", "JSON_PARSER_ERROR")
    if len(requests) > MAX_SUBREQUESTS:
        raise _bad_request(f"Limit Exceeded: {key} can hold at most {MAX_SUBREQUESTS} subrequests "
                           f"(got {len(requests)})", "LIMIT_EXCEEDED")
    return payload, requests


class MissingReference(Exception):
    """A ``@{...}`` reference names no earlier result, or a value that result does not hold."""

    def __init__(self, reference: str, path: str) -> None:
        super().__init__(
            f"Invalid reference specified. No value for {reference}{path} found in {reference}. Provided referenceId "
            f"('{reference}') must start with a letter or a number, and it can contain only letters, numbers and "
            "underscores ('_').")


def _lookup(results: dict[str, Any], reference: str, path: str) -> Any:
    if reference not in results:
        raise MissingReference(reference, path)
    value = results[reference]
    for key, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise MissingReference(reference, path)
    return value


def resolve(value: Any, results: dict[str, Any]) -> Any:
    """``value`` with every ``@{ref.path}`` replaced: a string that is only a reference takes the value's type."""
    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value)
        if whole:
            return _lookup(results, whole.group(1), whole.group(2))
        return REFERENCE.sub(lambda m: str(_lookup(results, m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {key: resolve(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, results) for item in value]
    return value


class CompositeResources:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`."""

    url_map: Map
    objects: dict[str, Collection]
    schemas: dict[str, Any]
    lock: Any
    base_url: str

    # -- transactions

    def snapshot(self) -> dict[str, Saved]:
        """Every collection's state, for an all-or-none request to go back to."""
        return {obj: store.snapshot() for obj, store in self.objects.items()}

    def restore(self, saved: dict[str, Saved]) -> None:
        """Put the rows back as saved; rows keep their identity, rows created since disappear."""
        for obj, store in self.objects.items():
            if obj in saved:
                store.rollback(saved[obj])

    # -- one subrequest through the REST handlers

    def subrequest(self, call: Call, method: str, url: str, body: Any) -> tuple[str, Response]:
        """Run one subrequest (authenticated by the enclosing request): its endpoint and its response."""
        split = urlsplit(url)
        headers = {"Authorization": call.request.headers.get("Authorization", "")}
        data = None if body is None else exact_json.dumps(body)
        builder = EnvironBuilder(path=split.path, query_string=split.query, method=method, headers=headers,
                                 data=data, content_type="application/json" if data is not None else None,
                                 base_url=self.base_url or None)
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        inner = Call(Request(environ), endpoint="", principal=call.principal)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
        except (NotFound, RequestRedirect):
            return "", _bad_request("The requested resource does not exist", "NOT_FOUND").response()
        except MethodNotAllowed as exc:
            allowed = ",".join(sorted(exc.valid_methods or []))
            return "", VendorError(405, [{"message": f"HTTP Method '{method}' not allowed. Allowed are {allowed}",
                                          "errorCode": "METHOD_NOT_ALLOWED"}]).response()
        if endpoint in NOT_IN_COMPOSITE or endpoint.startswith(("bulk_", "ingest_", "async_", "token", "soap")):
            return endpoint, _bad_request(f"The resource {split.path} is not supported in a composite request",
                                          "NOT_SUPPORTED").response()
        inner.endpoint = endpoint
        try:
            response: Response = getattr(self, "on_" + endpoint)(inner, **args)
        except VendorError as exc:
            response = exc.response()
        if response.status_code == 201 and "sobject" in args and "Location" not in response.headers:
            created = exact_json.loads(response.get_data())
            response.headers["Location"] = f"/services/data/{args['version']}/sobjects/{args['sobject']}/{created['id']}"
        return endpoint, response

    @staticmethod
    def _parts(response: Response) -> tuple[Any, dict[str, str]]:
        data = response.get_data()
        body = exact_json.loads(data) if data else None
        return body, {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}

    # -- /composite

    def on_composite(self, call: Call, version: str) -> Response:
        payload, requests = _subrequests(call, "compositeRequest")
        seen: set[str] = set()
        for item in requests:
            reference = item.get("referenceId") if isinstance(item, dict) else None
            if not isinstance(reference, str) or not REFERENCE_ID.match(reference):
                raise _bad_request(f"Invalid referenceId: {reference!r}: it must start with a letter or a number and "
                                   "contain only letters, numbers and underscores ('_')", "JSON_PARSER_ERROR")
            if reference in seen:
                raise _bad_request(f"Duplicate referenceId: {reference}", "DUPLICATE_VALUE")
            if not isinstance(item.get("url"), str) or not item["url"].startswith("/services/data/"):
                raise _bad_request(f"{reference}: url must be a /services/data/ resource", "JSON_PARSER_ERROR")
            if str(item.get("method", "")).upper() not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
                raise _bad_request(f"{reference}: invalid method {item.get('method')!r}", "JSON_PARSER_ERROR")
            seen.add(reference)
        queries = sum(1 for item in requests if "/query" in urlsplit(item["url"]).path)
        if queries > MAX_QUERIES:
            raise _bad_request(f"Limit Exceeded: a composite request can hold at most {MAX_QUERIES} query "
                               f"subrequests (got {queries})", "LIMIT_EXCEEDED")
        all_or_none = bool(payload.get("allOrNone"))
        with self.lock:
            saved = self.snapshot() if all_or_none else None
            results: dict[str, Any] = {}
            answers: list[Record] = []
            for position, item in enumerate(requests):
                reference = item["referenceId"]
                try:
                    url, body = resolve(item["url"], results), resolve(item.get("body"), results)
                except MissingReference as exc:
                    answers.append(self._halted(reference, str(exc)))
                else:
                    _, response = self.subrequest(call, item["method"].upper(), url, body)
                    body, headers = self._parts(response)
                    answers.append({"body": body, "httpHeaders": headers, "httpStatusCode": response.status_code,
                                    "referenceId": reference})
                    if response.status_code < 400:
                        results[reference] = body
                if all_or_none and answers[-1]["httpStatusCode"] >= 400:
                    assert saved is not None
                    self.restore(saved)
                    failed = answers[-1]
                    answers = [self._halted(i["referenceId"], ROLLED_BACK) for i in requests]
                    answers[position] = failed
                    break
        return json_response({"compositeResponse": answers})

    @staticmethod
    def _halted(reference: str, message: str) -> Record:
        return {"body": [{"errorCode": "PROCESSING_HALTED", "message": message}], "httpHeaders": {},
                "httpStatusCode": 400, "referenceId": reference}

    # -- /composite/batch

    def on_composite_batch(self, call: Call, version: str) -> Response:
        payload, requests = _subrequests(call, "batchRequests")
        for index, item in enumerate(requests):
            if not isinstance(item, dict) or not isinstance(item.get("url"), str) or \
                    str(item.get("method", "")).upper() not in ("GET", "POST", "PATCH", "PUT", "DELETE"):
                raise _bad_request(f"batchRequests[{index}]: method and url are required", "JSON_PARSER_ERROR")
        halt = bool(payload.get("haltOnError"))
        results: list[Record] = []
        failed = False
        for index, item in enumerate(requests):
            if failed and halt:
                results.append({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED",
                                                               "message": "Batch processing halted per request"}]})
                continue
            if index:
                self.enforce_limits(call)  # type: ignore[attr-defined]  # each subrequest is an API call
            url = item["url"] if item["url"].startswith("/") else f"/services/data/{item['url']}"
            with self.lock:
                _, response = self.subrequest(call, item["method"].upper(), url, item.get("richInput"))
            body, _ = self._parts(response)
            results.append({"statusCode": response.status_code, "result": body})
            failed = failed or response.status_code >= 400
        return json_response({"hasErrors": any(r["statusCode"] >= 400 for r in results), "results": results})

    # -- /composite/tree/{sObject}

    def on_composite_tree(self, call: Call, version: str, sobject: str) -> Response:
        payload = _json_body(call)
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list) or not records:
            raise _bad_request("records: the request body must hold a non-empty records array", "JSON_PARSER_ERROR")
        with self.lock:
            obj = self._schema(sobject).name  # type: ignore[attr-defined]
            trees = [(obj, record, 1) for record in records]
            total = self._check_tree(trees, set())
            if total > MAX_TREE_RECORDS:
                raise _bad_request(f"Limit Exceeded: a tree request can create at most {MAX_TREE_RECORDS} records "
                                   f"(got {total})", "LIMIT_EXCEEDED")
            saved = self.snapshot()
            created: list[Record] = []
            errors: list[Record] = []
            self._plant(trees, None, call.principal["user_id"], created, errors)
            if errors:
                self.restore(saved)
                return json_response({"hasErrors": True, "results": errors}, 400)
        return json_response({"hasErrors": False, "results": created}, 201)

    def _check_tree(self, trees: list[tuple[str, Any, int]], references: set[str]) -> int:
        """The number of records in ``trees``, once every reference id, type and depth is checked."""
        total = 0
        for obj, record, depth in trees:
            attributes = record.get("attributes") if isinstance(record, dict) else None
            reference = attributes.get("referenceId") if isinstance(attributes, dict) else None
            if not isinstance(reference, str) or not REFERENCE_ID.match(reference):
                raise _bad_request(f"Include a reference ID for each record in the request: {reference!r}",
                                   "INVALID_INPUT")
            if reference in references:
                raise _bad_request(f"Duplicate ReferenceId provided in the request: {reference}", "INVALID_INPUT")
            if attributes.get("type") and str(attributes["type"]).lower() != obj.lower():
                raise _bad_request(f"{reference}: type {attributes['type']} where {obj} is expected", "INVALID_INPUT")
            if depth > MAX_TREE_DEPTH:
                raise _bad_request(f"{reference}: a tree can be at most {MAX_TREE_DEPTH} levels deep",
                                   "LIMIT_EXCEEDED")
            references.add(reference)
            total += 1
            for child, _, rows in self._children(obj, record):
                total += self._check_tree([(child, row, depth + 1) for row in rows], references)
        return total

    def _children(self, obj: str, record: Record) -> list[tuple[str, str, list[Any]]]:
        """``(child object, lookup field, child records)`` of each relationship nested in ``record``."""
        relations = {r.name.lower(): r for r in child_relationships(obj, self.schemas) if r.name}
        found = []
        for key, value in record.items():
            if isinstance(value, dict) and "records" in value:
                relation = relations.get(key.lower())
                if relation is None or not isinstance(value["records"], list):
                    raise _bad_request(f"INVALID_FIELD: No such relationship '{key}' on sobject of type {obj}",
                                       "INVALID_FIELD")
                found.append((relation.child, relation.field, value["records"]))
        return found

    def _plant(self, trees: list[tuple[str, Any, int]], parent: tuple[str, str] | None, user: str,
               created: list[Record], errors: list[Record]) -> None:
        for obj, record, depth in trees:
            reference = record["attributes"]["referenceId"]
            fields = {k: v for k, v in record.items()
                      if k != "attributes" and not (isinstance(v, dict) and "records" in v)}
            if parent is not None:
                fields[parent[0]] = parent[1]
            try:
                row = self._create(obj, fields, user)  # type: ignore[attr-defined]
            except WriteError as exc:
                errors.append({"referenceId": reference, "errors": [exc.item()]})
                continue
            created.append({"referenceId": reference, "id": row["Id"]})
            for child, field, rows in self._children(obj, record):
                self._plant([(child, r, depth + 1) for r in rows], (field, row["Id"]), user, created, errors)
