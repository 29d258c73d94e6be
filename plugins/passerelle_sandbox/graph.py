"""Microsoft Graph v1.0 emulator, Planner (basic plans) part, with its Entra ID endpoints on the same port.

Behaviour follows ``vendor-apis-pm.md`` §6 and Graph's documentation:

- Entra ID: the tenant's OpenID configuration and the ``client_credentials`` token endpoint, shared
  with the Dynamics emulator (:mod:`passerelle_sandbox.entra`); the scope must be
  ``https://graph.microsoft.com/.default``. An expired or unknown bearer token is a 401
  ``InvalidAuthenticationToken``;
- ``/v1.0/users`` and ``/v1.0/groups`` (``$top`` ≤ 999, default 100, ``$select``, the ``$filter``
  ``groupTypes/any(c:c eq 'Unified')``), ``/v1.0/groups/{id}/planner/plans``,
  ``/v1.0/planner/plans/{id}``, ``/planner/plans/{id}/buckets``, ``/planner/plans/{id}/tasks``,
  ``/planner/tasks/{id}`` and ``/planner/tasks/{id}/details`` (a plan's tasks take ``$expand=details``);
  the creates and the details PATCH are in :mod:`passerelle_sandbox.graph_writes`. Lists page with ``@odata.nextLink``
  (an opaque signed ``$skiptoken``; Planner lists ``planner_page_size`` objects a page);
- every Planner object carries ``@odata.etag``, new on every write; ``PATCH /planner/tasks/{id}`` and
  ``DELETE`` need ``If-Match`` with the current one (412 ``PreconditionFailed`` otherwise). Planner
  tasks have no modification time and there is no ``delta`` in v1.0 (beta only);
- throttling: ``request_limit`` requests per ``window_seconds`` (sliding), then 429
  ``TooManyRequests`` with ``Retry-After``; errors are Graph's ``{"error": {"code", "message",
  "innerError"}}``.

Control objects: ``users``, ``groups``, ``plans``, ``buckets``, ``tasks``, ``details`` (create, update,
delete; deleting a group deletes its plans, a plan its buckets and tasks, a task its details).
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import secrets
import uuid
from typing import Any
from urllib.parse import quote

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, bearer_token, json_response
from passerelle_sandbox.dataset_planner import build_planner_dataset, new_details, new_task, planner_id, ts
from passerelle_sandbox.entra import EntraCredentials, EntraEndpoints
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.graph_model import SkipTokens, etag, graph_error
from passerelle_sandbox.graph_writes import PlannerWrites
from passerelle_sandbox.paging import offset_page
from passerelle_sandbox.rate_limits import SlidingWindow
from passerelle_sandbox.store import NO_STAMPS, Collection

Record = dict[str, Any]
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
V1 = "/v1.0"
KINDS = {"plans": "Plan", "buckets": "Bucket", "tasks": "Task", "details": "TaskDetails"}
OBJECTS = ("users", "groups", "plans", "buckets", "tasks", "details")
TASK_FIELDS = frozenset({"title", "bucketId", "percentComplete", "priority", "startDateTime", "dueDateTime",
                         "assignments", "appliedCategories", "orderHint", "assigneePriority", "completedDateTime"})
UNIFIED = "groupTypes/any(c:c eq 'Unified')"


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


class GraphApp(PlannerWrites, EntraEndpoints, VendorApp):
    vendor = "planner"
    public_endpoints = frozenset({"openid", "token"})
    url_map = Map([
        _rule("/<tenant>/v2.0/.well-known/openid-configuration", "openid"),
        _rule("/<tenant>/oauth2/v2.0/token", "token", ("POST",)),
        _rule(f"{V1}/users", "users"),
        _rule(f"{V1}/users/<user>", "user"),
        _rule(f"{V1}/groups", "groups"),
        _rule(f"{V1}/groups/<group_id>/planner/plans", "group_plans"),
        _rule(f"{V1}/planner/plans/<plan_id>", "plan"),
        _rule(f"{V1}/planner/plans/<plan_id>/buckets", "plan_buckets"),
        _rule(f"{V1}/planner/plans/<plan_id>/tasks", "plan_tasks"),
        _rule(f"{V1}/planner/tasks/<task_id>", "task", ("GET", "PATCH", "DELETE")),
        _rule(f"{V1}/planner/tasks/<task_id>/details", "task_details", ("GET", "PATCH")),
        _rule(f"{V1}/planner/plans", "create_plan", ("POST",)),
        _rule(f"{V1}/planner/buckets", "create_bucket", ("POST",)),
        _rule(f"{V1}/planner/tasks", "create_task", ("POST",)),
    ], strict_slashes=False)

    def __init__(self, dataset: dict[str, Any], credentials: EntraCredentials | None = None) -> None:
        self.credentials_ = credentials or EntraCredentials()
        self.skiptokens = SkipTokens(secrets.token_bytes(32))
        self._calls = SlidingWindow(lambda: float(self.config["window_seconds"]),
                                    lambda: int(self.config["request_limit"]))
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {"enforce_throttling": True, "request_limit": 2000, "window_seconds": 10, "token_expires_in": 3599,
                "planner_page_size": 100, "max_top": 999}

    def load(self) -> None:
        section = self.dataset["planner"] if "planner" in self.dataset else build_planner_dataset(self.dataset)
        serial = itertools.count(1)  # one version sequence for every Planner object: each ETag is new
        self.store: dict[str, Collection] = {
            name: Collection(NO_STAMPS, self.clock, lock=self.lock, sequence=serial.__next__ if name in KINDS else None)
            for name in OBJECTS}
        for name in (*KINDS, *(o for o in OBJECTS if o not in KINDS)):
            self.store[name].load(copy.deepcopy(r) for r in section.get(name, []))
        self.links = list(section.get("links", []))
        self._rng = random.Random(f"{self.dataset.get('seed')}:planner:sandbox")

    def on_reset(self) -> None:
        self._calls.clear()

    def public_credentials(self) -> dict[str, str]:
        return self.credentials_.as_dict()

    def entra_credentials(self) -> EntraCredentials:
        return self.credentials_

    def entra_scopes(self) -> tuple[str, ...]:
        return (GRAPH_SCOPE, "https://graph.microsoft.com//.default")

    def _bump(self, name: str, record_id: str) -> None:
        self.store[name].touch(record_id)

    def _etag(self, name: str, record_id: str) -> str:
        return etag(KINDS[name], self.store[name].version(record_id))

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        token = bearer_token(call.request)
        state = self.tokens.check(token)[0] if token else "missing"
        if state == "valid":
            return {"kind": "app"}
        challenge = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
        if state == "missing":
            raise graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", {"WWW-Authenticate": challenge})
        raise graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.",
                          {"WWW-Authenticate": f'{challenge}, error="invalid_token"'})

    def enforce_limits(self, call: Call) -> None:
        if not self.config["enforce_throttling"]:
            return
        if not self._calls.take():
            raise self._throttled(self._calls.retry_after() or 1)

    @staticmethod
    def _throttled(retry_after: int, message: str | None = None) -> VendorError:
        return graph_error(429, "TooManyRequests", message or "Too many requests. Please retry after the time "
                           "given in the Retry-After header.", {"Retry-After": str(retry_after)})

    def decorate(self, call: Call, response: Response) -> None:
        response.headers.setdefault("request-id", str(uuid.uuid4()))
        response.headers.setdefault("x-ms-ags-diagnostic", '{"ServerInfo":{"DataCenter":"France Central"}}')

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            return self._throttled(fault.retry_after if fault.retry_after is not None else 1, fault.message).response()
        status = fault.status or 500
        code = fault.error_code or {503: "serviceNotAvailable", 504: "gatewayTimeout"}.get(status, "generalException")
        return graph_error(status, code, fault.message or "An unexpected error occurred.").response()

    def not_found(self, call: Call) -> Response:
        return graph_error(400, "BadRequest", f"Resource not found for the segment "
                           f"'{call.path.rstrip('/').rsplit('/', 1)[-1]}'.").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return graph_error(405, "Request_BadRequest", f"Specified HTTP method is not allowed for the request "
                           f"target ({call.request.method}).").response()

    def internal_error(self, call: Call) -> Response:
        return graph_error(500, "generalException", "An unexpected error occurred.").response()

    def strip_id(self, payload: Any) -> bool:
        for row in payload.get("value", []) if isinstance(payload, dict) else []:
            if isinstance(row, dict) and "id" in row:
                del row["id"]
                return True
        return False

    # ---------------------------------------------------------------------------- lists

    def _render(self, name: str, row: Record, select: list[str] | None = None) -> Record:
        out: Record = {"@odata.etag": self._etag(name, row["id"])} if name in KINDS else {}
        out.update({k: copy.deepcopy(v) for k, v in row.items() if select is None or k in select or k == "id"})
        return out

    def _select(self, call: Call) -> list[str] | None:
        text = call.request.args.get("$select")
        return [s.strip() for s in text.split(",") if s.strip()] if text else None

    def _page(self, call: Call, name: str, rows: list[Record], context: str, size: int) -> Response:
        args = call.request.args
        query = f"{call.path}|{args.get('$select', '')}|{args.get('$filter', '')}|{size}"
        offset = self.skiptokens.read(query, args["$skiptoken"]) if args.get("$skiptoken") else 0
        select = self._select(call)
        page = offset_page(rows, offset, size)
        body: Record = {"@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}"}
        if args.get("$count") == "true":
            body["@odata.count"] = page.total
        if page.has_more:
            params = [(k, v) for k, v in args.items(multi=True) if k != "$skiptoken"]
            params.append(("$skiptoken", self.skiptokens.issue(query, page.end)))
            link = "&".join(f"{k}={v if k == '$skiptoken' else quote(v, safe=',()/:=$')}" for k, v in params)
            body["@odata.nextLink"] = f"{self.base_url}{call.path}?{link}"
        body["value"] = [self._render(name, r, select) for r in page.items]
        return json_response(body, content_type="application/json;odata.metadata=minimal;odata.streaming=true;"
                                                "IEEE754Compatible=false;charset=utf-8")

    def _top(self, call: Call) -> int:
        text = call.request.args.get("$top")
        if text is None:
            return 100
        if not text.isdigit() or not 1 <= int(text) <= int(self.config["max_top"]):
            raise graph_error(400, "Request_BadRequest", f"Invalid page size specified: '{text}'. Must be between 1 "
                              f"and {self.config['max_top']} inclusive.")
        return int(text)

    def on_users(self, call: Call) -> Response:
        with self.lock:
            rows = sorted(self.store["users"].values(), key=lambda r: r["id"])
            return self._page(call, "users", rows, "users", self._top(call))

    def on_user(self, call: Call, user: str) -> Response:
        """``/users/{id | userPrincipalName}`` (Graph compares the name case-insensitively)."""
        with self.lock:
            row = self.store["users"].get(user) or next(
                (u for u in self.store["users"].values()
                 if (u.get("userPrincipalName") or "").lower() == user.lower()), None)
            if row is None:
                raise graph_error(404, "Request_ResourceNotFound", f"Resource '{user}' does not exist or one of its "
                                  "queried reference-property objects are not present.")
            return json_response({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                                  **self._render("users", row, self._select(call))})

    def on_groups(self, call: Call) -> Response:
        wanted = call.request.args.get("$filter")
        if wanted is not None and wanted.replace(" ", "") != UNIFIED.replace(" ", ""):
            raise graph_error(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause "
                              f"specified for property of resource 'Group': {wanted}")
        with self.lock:
            rows = sorted(self.store["groups"].values(), key=lambda r: r["id"])
            return self._page(call, "groups", rows, "groups", self._top(call))

    def _planner_list(self, call: Call, name: str, rows: list[Record], context: str) -> Response:
        for option in ("$filter", "$orderby", "$top", "$skip"):
            if option in call.request.args:
                raise graph_error(400, "BadRequest", f"The query specified in the URI is not valid. Query option "
                                  f"'{option[1:].capitalize()}' is not allowed.")
        return self._page(call, name, rows, context, int(self.config["planner_page_size"]))

    def _get(self, name: str, record_id: str) -> Record:
        row = self.store[name].get(record_id)
        if row is None:
            if name == "groups":
                raise graph_error(404, "Request_ResourceNotFound", f"Resource '{record_id}' does not exist or one of "
                                  "its queried reference-property objects are not present.")
            raise graph_error(404, "", "The requested item is not found.")
        return row

    def on_group_plans(self, call: Call, group_id: str) -> Response:
        with self.lock:
            self._get("groups", group_id)
            rows = sorted((p for p in self.store["plans"].values() if p["owner"] == group_id),
                          key=lambda p: p["createdDateTime"])
            return self._planner_list(call, "plans", rows, "planner/plans")

    def on_plan(self, call: Call, plan_id: str) -> Response:
        with self.lock:
            row = self._get("plans", plan_id)
            return json_response({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#planner/plans/$entity",
                                  **self._render("plans", row, self._select(call))})

    def on_plan_buckets(self, call: Call, plan_id: str) -> Response:
        with self.lock:
            self._get("plans", plan_id)
            rows = [b for b in self.store["buckets"].values() if b["planId"] == plan_id]
            return self._planner_list(call, "buckets", rows, f"planner/plans('{plan_id}')/buckets")

    def on_plan_tasks(self, call: Call, plan_id: str) -> Response:
        with self.lock:
            self._get("plans", plan_id)
            rows = [t for t in self.store["tasks"].values() if t["planId"] == plan_id]
            expand = call.request.args.get("$expand")
            if expand is not None:  # the one navigation property of a plannerTask list Graph expands
                if expand.strip() != "details":
                    raise graph_error(400, "BadRequest", f"Could not find a property named '{expand}' on type "
                                      "'microsoft.graph.plannerTask'.")
                rows = [{**t, "details": self._render("details", self.store["details"].get(t["id"])
                                                      or self._new_details(t["id"]))} for t in rows]
            return self._planner_list(call, "tasks", rows, f"planner/plans('{plan_id}')/tasks")

    def on_task_details(self, call: Call, task_id: str) -> Response:
        with self.lock:
            self._get("tasks", task_id)
            if call.request.method == "PATCH":
                return self.patch_details(call, task_id)
            row = self.store["details"].get(task_id) or self._new_details(task_id)
            return json_response({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#planner/tasks"
                                                    f"('{task_id}')/details/$entity",
                                  **self._render("details", row, self._select(call))})

    def _new_details(self, task_id: str) -> Record:
        row = new_details(task_id)
        self.store["details"].insert(row)
        return row

    def on_task(self, call: Call, task_id: str) -> Response:
        method = call.request.method
        with self.lock:
            row = self._get("tasks", task_id)
            if method == "GET":
                return json_response({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#planner/tasks/"
                                                        "$entity", **self._render("tasks", row, self._select(call))})
            sent = call.request.headers.get("If-Match")
            if not sent:
                raise graph_error(400, "", "The If-Match header must be specified for this kind of request.")
            if sent != self._etag("tasks", task_id):
                raise graph_error(412, "", "The request is invalid because the If-Match header value does not "
                                  "match the current version of the resource (412 Precondition Failed).")
            if method == "DELETE":
                self._forget("tasks", task_id)
                return Response(b"", status=204)
            try:
                changes = self._json(call)
            except ValueError:
                raise graph_error(400, "BadRequest", "The request body is not valid JSON.") from None
            unknown = sorted(set(changes) - TASK_FIELDS)
            if unknown:
                raise graph_error(400, "BadRequest", f"The property '{unknown[0]}' cannot be updated.")
            self._update_task(row, changes)
            if call.request.headers.get("Prefer", "").lower() == "return=representation":
                return json_response(self._render("tasks", row))
            return Response(b"", status=204)

    @staticmethod
    def _json(call: Call) -> Record:
        data = json.loads(call.request.get_data() or b"{}")
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data

    def _now(self) -> str:
        return ts(self.clock.now())

    def _update_task(self, row: Record, changes: Record) -> None:
        for name, value in changes.items():
            if name == "assignments" and isinstance(value, dict):
                for user, assignment in value.items():
                    if assignment is None:
                        row["assignments"].pop(user, None)
                    else:
                        row["assignments"][user] = {"@odata.type": "#microsoft.graph.plannerAssignment",
                                                    "assignedDateTime": self._now(), "orderHint": "8585 !",
                                                    "assignedBy": {"user": {"displayName": None, "id": None}}}
            else:
                row[name] = value
        if "percentComplete" in changes:
            done = changes["percentComplete"] == 100
            row["completedDateTime"] = (row.get("completedDateTime") or self._now()) if done else None
            if not done:
                row["completedBy"] = None
        self._bump("tasks", row["id"])

    def _forget(self, name: str, record_id: str) -> None:
        """Delete for good, with what hangs off it (a group's plans, a plan's buckets and tasks, a task's details)."""
        if record_id in self.store[name]:
            self.store[name].purge(record_id)
        if name == "groups":
            for plan in [p["id"] for p in self.store["plans"].values() if p["owner"] == record_id]:
                self._forget("plans", plan)
        elif name == "plans":
            for child in ("buckets", "tasks"):
                for row in [r["id"] for r in self.store[child].values() if r["planId"] == record_id]:
                    self._forget(child, row)
        elif name == "tasks" and record_id in self.store["details"]:
            self._forget("details", record_id)

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [self._render(obj, r) for r in self.store[obj].values()]

    def control_get(self, obj: str, record_id: str) -> Record:
        row = self.store[obj].get(record_id)
        if row is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return {"id": record_id, "record": self._render(obj, row)}

    def _new_id(self, obj: str) -> str:
        if obj in ("users", "groups"):
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        return planner_id(self._rng)

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        fields, now = dict(body.get("fields", {})), self.clock.now()
        record_id = self._new_id(obj)
        if obj == "tasks":
            plan = self.store["plans"].get(fields.get("planId", ""))
            if plan is None:
                raise ControlError(400, "tasks need the id of an existing plan in planId")
            bucket = fields.get("bucketId") or next(b["id"] for b in self.store["buckets"].values()
                                                    if b["planId"] == plan["id"])
            row = new_task(plan["id"], bucket, record_id, str(fields.pop("title", "Nouvelle tâche")), now,
                           plan["createdBy"]["user"]["id"])
            row.update({k: v for k, v in fields.items() if k not in ("planId", "bucketId")})
            if row.get("percentComplete") == 100 and not row.get("completedDateTime"):
                row["completedDateTime"] = ts(now)
        elif obj == "plans":
            group = self.store["groups"].get(fields.get("owner", ""))
            if group is None:
                raise ControlError(400, "plans need the id of an existing group in owner")
            row = {"id": record_id, "title": fields.get("title", group["displayName"]), "createdDateTime": ts(now),
                   "owner": group["id"], "container": {"containerId": group["id"], "type": "group",
                                                       "url": f"https://graph.microsoft.com/v1.0/groups/{group['id']}"},
                   "createdBy": {"user": {"displayName": None, "id": next(iter(self.store["users"]))}}}
        elif obj == "details":
            raise ControlError(400, "task details exist with their task: update them instead")
        else:
            row = {"id": record_id, **fields}
            if obj == "groups":
                row.setdefault("groupTypes", ["Unified"])
                row.setdefault("createdDateTime", ts(now))
        self.store[obj].insert(row)
        if obj == "tasks":
            self._new_details(record_id)
        return {"id": record_id, "record": self._render(obj, row)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        fields = body.get("fields", {})
        if obj == "details" and record_id not in self.store["details"] and record_id in self.store["tasks"]:
            self._new_details(record_id)
        row = self.store[obj].get(record_id)
        if row is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        if "id" in fields:
            raise ControlError(400, "id is read-only")
        if obj == "tasks":
            self._update_task(row, fields)
        else:
            row.update(fields)
            if obj in KINDS:
                self._bump(obj, record_id)
        if obj == "details" and "references" in fields:
            task = self.store["tasks"].get(record_id)
            if task is not None:
                task["referenceCount"] = len(row.get("references") or {})
                self._bump("tasks", record_id)
        return {"id": record_id, "record": self._render(obj, row)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        row = self.store[obj].get(record_id)
        if row is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        rendered = self._render(obj, row)
        self._forget(obj, record_id)
        return {"id": record_id, "record": rendered}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        if obj != "tasks":
            raise ControlError(400, "bulk works on tasks only")
        live = sorted(self.store["tasks"])
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} tasks: only {len(live)} exist")
        touched = self._rng.sample(live, touch)
        for task_id in touched:
            self._update_task(self.store["tasks"][task_id], fields or {"priority": 1})
        plan = next(iter(self.store["plans"]))
        created = [self.control_create("tasks", {"fields": {"planId": plan, "title": f"Sandbox Bulk {n:07d}"}})["id"]
                   for n in range(create)]
        return {"object": obj, "stamp": canonical(self.clock.now()), "created": create, "touched": touch,
                "created_ids": created, "touched_ids": touched}
