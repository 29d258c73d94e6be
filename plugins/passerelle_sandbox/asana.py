"""Asana REST 1.0 emulator: workspaces, projects, sections, tasks, users, time tracking, events.

Behaviour follows ``vendor-apis-pm.md`` §2: personal access token or OAuth bearer tokens (refresh
grant at ``POST /-/oauth_token``); every body wrapped in ``{"data": …}``; errors as
``{"errors":[{"message": …}]}``; lists paged with ``limit`` (1–100) and an opaque ``offset``,
``next_page`` only when ``limit`` was given and ``null`` on the last page; ``GET /tasks`` needs a
project, section or assignee + workspace and honours ``modified_since`` / ``completed_since``;
deleted tasks simply vanish from lists (404 when read) and show up only in the Events API, whose
first call without a sync token (or with an expired one) answers 412 with a fresh token; events come
100 at a time with ``has_more``. Throttling is a per-token minute window answered with 429 and
``Retry-After`` in seconds.

Beyond the core lists: teams, custom field settings, subtasks, stories, dependencies and task search
live in ``asana_reads`` (task custom field values in ``asana_fields``), task writes in
``asana_writes``, project templates and their jobs in ``asana_templates``, ``POST /batch`` in
``asana_batch``.
"""

from __future__ import annotations

import itertools
import logging
import random
from copy import deepcopy
from datetime import date
from typing import Any, Callable, Iterable

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.asana_batch import AsanaBatchRoutes
from passerelle_sandbox.asana_fields import FieldSettings
from passerelle_sandbox.asana_projects import AsanaProjectRoutes
from passerelle_sandbox.asana_model import (
    EventLog,
    OffsetCodec,
    OffsetError,
    Record,
    error_body,
    query_key,
    render,
    wanted_fields,
)
from passerelle_sandbox.asana_reads import AsanaReadRoutes
from passerelle_sandbox.asana_templates import AsanaTemplateRoutes, build_templates
from passerelle_sandbox.asana_writes import AsanaWriteRoutes
from passerelle_sandbox.clock import canonicalize
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, json_response
from passerelle_sandbox.dataset_asana import build_asana_dataset
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.ids import NumericIdSequence
from passerelle_sandbox.oauth import TokenRequest
from passerelle_sandbox.rate_limits import WindowsByKey
from passerelle_sandbox.store import NO_STAMPS, Collection, Stamps

log = logging.getLogger(__name__)

API = "/api/1.0"
PERSONAL_ACCESS_TOKEN = "2/1209000000000003/1209555500000001:7c4f1e2a9b8d6c5e3f1a0b9c8d7e6f5a"
CLIENT_ID = "1209555500000001"
CLIENT_SECRET = "b3d1f0e9c8a7b6c5d4e3f2a1b0c9d8e7"
REFRESH_TOKEN = "2/1209000000000003/1209555500000042:e1d2c3b4a5f60718293a4b5c6d7e8f90"
MAX_LIMIT = 100
EVENTS_PER_SYNC = 100
OBJECTS = ("projects", "sections", "tasks", "users", "time_entries")
MODIFIED_AT = Stamps(modified="modified_at")
"""Tasks and projects carry ``modified_at``; the other objects keep no modification time."""
CREATED_AT = Stamps(created="created_at")
"""Stories only show when they were written (``created_at``, stamped by the store)."""
SYNC_INVALID = ("Sync token invalid or too old. If you are attempting to keep resources in sync, you must fetch "
                "the full dataset for this query now and use the new sync token for the next sync.")
RATE_MESSAGE = ("You've made too many requests and hit a rate limit. Please retry after the given amount of time.")
SAD_PHRASES = ("6 sad squid snuggle softly", "11 grumpy yaks wander slowly", "3 sleepy otters forget quietly")


def asana_error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> VendorError:
    return VendorError(status, error_body(message, **extra), headers)


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(API + path if path.startswith("/") and not path.startswith("/-/") else path,
                endpoint=endpoint, methods=list(methods))


def _gid_key(record: Record) -> int:
    return int(record["gid"])


class AsanaApp(AsanaReadRoutes, AsanaWriteRoutes, AsanaProjectRoutes, AsanaTemplateRoutes, AsanaBatchRoutes,
               VendorApp):
    vendor = "asana"
    public_endpoints = frozenset({"token"})
    url_map = Map(
        [
            _rule("/-/oauth_token", "token", ("POST",)),
            _rule("/users/me", "me"),
            _rule("/users", "users"),
            _rule("/users/<gid>", "user"),
            _rule("/workspaces", "workspaces"),
            _rule("/workspaces/<gid>", "workspace"),
            _rule("/workspaces/<gid>/projects", "workspace_projects"),
            _rule("/workspaces/<gid>/users", "workspace_users"),
            _rule("/projects", "projects"),
            _rule("/projects/<gid>", "project"),
            _rule("/projects/<gid>/sections", "project_sections"),
            _rule("/projects/<gid>/tasks", "project_tasks"),
            _rule("/sections/<gid>", "section"),
            _rule("/sections/<gid>/tasks", "section_tasks"),
            _rule("/tasks", "tasks"),
            _rule("/tasks/<gid>", "task"),
            _rule("/tasks/<gid>/time_tracking_entries", "task_time_entries"),
            _rule("/time_tracking_entries", "time_entries"),
            _rule("/time_tracking_entries/<gid>", "time_entry"),
            _rule("/events", "events"),
            # reads beyond the core lists (asana_reads)
            _rule("/workspaces/<gid>/teams", "workspace_teams"),
            _rule("/workspaces/<gid>/custom_fields", "workspace_custom_fields"),
            _rule("/workspaces/<gid>/tasks/search", "task_search"),
            _rule("/teams/<gid>", "team"),
            _rule("/teams/<gid>/projects", "team_projects"),
            _rule("/projects/<gid>/custom_field_settings", "project_field_settings"),
            _rule("/custom_fields/<gid>", "custom_field"),
            _rule("/tasks/<gid>/subtasks", "task_subtasks"),
            _rule("/tasks/<gid>/stories", "task_stories"),
            _rule("/tasks/<gid>/dependencies", "task_dependencies"),
            _rule("/tasks/<gid>/dependents", "task_dependents"),
            _rule("/stories/<gid>", "story"),
            # task writes (asana_writes)
            _rule("/tasks", "create_task", ("POST",)),
            _rule("/tasks/<gid>", "update_task", ("PUT",)),
            _rule("/projects/<gid>", "update_project", ("PUT",)),
            _rule("/tasks/<gid>", "delete_task", ("DELETE",)),
            _rule("/tasks/<gid>/subtasks", "create_subtask", ("POST",)),
            _rule("/tasks/<gid>/stories", "create_story", ("POST",)),
            _rule("/tasks/<gid>/addProject", "add_project", ("POST",)),
            _rule("/tasks/<gid>/removeProject", "remove_project", ("POST",)),
            _rule("/tasks/<gid>/addDependencies", "add_dependencies", ("POST",)),
            _rule("/tasks/<gid>/removeDependencies", "remove_dependencies", ("POST",)),
            _rule("/tasks/<gid>/addDependents", "add_dependents", ("POST",)),
            _rule("/tasks/<gid>/removeDependents", "remove_dependents", ("POST",)),
            # templates and jobs (asana_templates), batch (asana_batch)
            _rule("/project_templates", "project_templates"),
            _rule("/project_templates/<gid>", "project_template"),
            _rule("/teams/<gid>/project_templates", "team_project_templates"),
            _rule("/project_templates/<gid>/instantiateProject", "instantiate_project", ("POST",)),
            _rule("/jobs/<gid>", "job"),
            _rule("/batch", "batch", ("POST",)),
        ],
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any]) -> None:
        self._windows = WindowsByKey(60.0, lambda: int(self.config["requests_per_minute"]))
        self._bulk_serial = itertools.count(1)
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {
            "enforce_rate_limits": True,
            "requests_per_minute": 1500,
            "retry_after_seconds": None,
            "oauth_expires_in": 3600,
            "sync_token_ttl_seconds": 86_400,
            "offset_ttl_seconds": None,
            "unpaginated_max": 1000,
            "job_polls": 2,
            "comment_only_projects": [],
        }

    def on_reset(self) -> None:
        self._windows.clear()

    def load(self) -> None:
        data = deepcopy(self.dataset["asana"]) if "asana" in self.dataset else build_asana_dataset(self.dataset)
        self.workspace: Record = data["workspace"]
        self.teams = {t["gid"]: t for t in data.get("teams", [])}
        self.users = self._collection(data["users"])
        self.custom_fields = data.get("custom_fields", [])
        self.projects = self._collection(data["projects"], MODIFIED_AT)
        self.sections = self._collection(data["sections"])
        self.tasks = self._collection(data["tasks"], MODIFIED_AT)
        self.entries = self._collection(data["time_entries"])  # Asana keeps no modification time on these
        self.links = data.get("links", [])
        everything = itertools.chain(self.users, self.projects, self.sections, self.tasks, self.entries,
                                     [self.workspace["gid"]], self.teams)
        self._next_gid = NumericIdSequence(list(everything))
        self.field_settings = FieldSettings(self.custom_fields, self._next_gid)
        for task in sorted(self.tasks.values(), key=_gid_key):
            self.field_settings.attach(task, [self.projects[m["project"]["gid"]] for m in task.get("memberships", [])
                                              if m["project"]["gid"] in self.projects])
        self.stories = self._collection([], CREATED_AT)
        team = next(iter(self.teams.values()), None)
        owner = next(iter(self.users.values()))
        self.templates = {t["gid"]: t for t in (build_templates(team, owner, self._next_gid) if team else [])}
        self.jobs: dict[str, Record] = {}
        self.events = EventLog()
        self.offsets = OffsetCodec.fresh()
        self._pat_revoked = False
        self._rng = random.Random(f"{self.dataset.get('seed')}:asana:sandbox")

    def _collection(self, records: list[Record], stamps: Stamps = NO_STAMPS) -> Collection:
        collection = Collection(stamps, self.clock, key="gid", order=int, lock=self.lock)
        collection.load(records)
        return collection

    def public_credentials(self) -> dict[str, str]:
        return {"personal_access_token": PERSONAL_ACCESS_TOKEN, "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN, "workspace_gid": self.workspace["gid"]}

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        header = call.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else ""
        if token and token == PERSONAL_ACCESS_TOKEN and not self._pat_revoked:
            return {"kind": "pat", "token": token}
        if token and self.tokens.check(token)[0] == "valid":
            return {"kind": "oauth", "token": token}
        raise asana_error(401, "Not Authorized")

    def expire_tokens(self) -> None:
        super().expire_tokens()
        self._pat_revoked = True

    def on_faults_cleared(self) -> None:
        self._pat_revoked = False

    def enforce_limits(self, call: Call) -> None:
        if not self.config["enforce_rate_limits"]:
            return
        window = self._windows[str((call.principal or {}).get("token", ""))]
        if not window.take(count_rejected=True):  # rejected requests still count against the quota
            raise self._throttled(window.retry_after())

    def _throttled(self, retry_after: int | None) -> VendorError:
        configured = self.config["retry_after_seconds"]
        seconds = configured if configured is not None else retry_after
        headers = {"Retry-After": str(int(seconds))} if seconds is not None else {}
        return asana_error(429, RATE_MESSAGE, headers)

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            error = asana_error(429, fault.message or RATE_MESSAGE,
                                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {})
            return error.response()
        status = fault.status or 500
        message = fault.message or {500: "Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                                    504: "Gateway Timeout"}.get(status, f"HTTP {status}")
        extra = {"phrase": self._rng.choice(SAD_PHRASES)} if status >= 500 else {}
        return asana_error(status, message, **extra).response()

    def not_found(self, call: Call) -> Response:
        return asana_error(404, f"No matching route for request: {call.request.method} {call.path}").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return asana_error(405, f"{call.request.method} is not allowed here; allowed: {', '.join(allowed)}").response()

    def internal_error(self, call: Call) -> Response:
        return asana_error(500, "Server Error", phrase=self._rng.choice(SAD_PHRASES)).response()

    def strip_id(self, payload: Any) -> bool:
        data = payload.get("data") if isinstance(payload, dict) else None
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
        for item in items:
            if isinstance(item, dict) and "gid" in item:
                del item["gid"]
                return True
        return False

    # ---------------------------------------------------------------------------- OAuth

    def on_token(self, call: Call) -> Response:
        request = TokenRequest.read(call.request, basic=False)
        if request.grant_type != "refresh_token":
            raise VendorError(400, {"error": "unsupported_grant_type",
                                    "error_description": "The authorization grant type is not supported."})
        if not request.client_is(CLIENT_ID, CLIENT_SECRET):
            raise VendorError(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
        if request.get("refresh_token") != REFRESH_TOKEN:
            raise VendorError(400, {"error": "invalid_grant",
                                    "error_description": "The refresh token is invalid or has been revoked."})
        expires_in = int(self.config["oauth_expires_in"])
        access = self.tokens.issue(prefix="2/", ttl=expires_in, nbytes=24)
        me = next(iter(self.users.values()))
        return json_response({
            "access_token": access, "expires_in": expires_in, "token_type": "bearer",
            "data": {"id": me["gid"], "gid": me["gid"], "name": me["name"], "email": me.get("email")},
        })

    # ----------------------------------------------------------------------------- helpers

    def _limit(self, call: Call) -> int | None:
        raw = call.request.args.get("limit")
        if raw is None:
            return None
        if not raw.lstrip("-").isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise asana_error(400, f"limit: Must be between 1 and {MAX_LIMIT}, got: {raw}")
        return int(raw)

    def _page(self, call: Call, records: Iterable[Record], key: Callable[[Record], Any] = _gid_key,
              full: bool = False, decorate: Callable[[Record], Record] | None = None) -> Response:
        """Keyset-paged, rendered list: stable under inserts and deletes between pages."""
        fields = wanted_fields(call.request.args.get("opt_fields"))
        ordered = sorted(records, key=key)
        limit = self._limit(call)
        offset = call.request.args.get("offset")
        query = query_key(call.path, call.request.args.items(multi=True))
        now = self.clock.now().timestamp()
        if offset is not None:
            try:
                after = self.offsets.decode(offset, query, now, self.config["offset_ttl_seconds"])
            except OffsetError as exc:
                raise asana_error(400, str(exc)) from None
            ordered = [r for r in ordered if _comparable(key(r)) > _comparable(after)]
        if limit is None and len(ordered) > int(self.config["unpaginated_max"]):
            raise asana_error(400, "The result is too large. You should use pagination (may require specifying a "
                                   "workspace)!")
        chunk = ordered if limit is None else ordered[:limit]
        data = [render(decorate(r) if decorate else r, fields, full) for r in chunk]
        body: Record = {"data": data}
        if limit is not None:
            if len(ordered) > limit:
                token = self.offsets.encode(key(chunk[-1]), query, now)
                args = {k: v for k, v in call.request.args.items() if k != "offset"}
                params = "&".join(f"{k}={v}" for k, v in {**args, "offset": token}.items())
                path = f"{call.path[len(API):]}?{params}"
                body["next_page"] = {"offset": token, "path": path, "uri": f"{self.base_url}{API}{path}"}
            else:
                body["next_page"] = None
        return json_response(body)

    def _one(self, call: Call, record: Record | None, what: str, gid: str,
             decorate: Callable[[Record], Record] | None = None) -> Response:
        if record is None:
            raise asana_error(404, f"{what}: Unknown object: {gid}")
        fields = wanted_fields(call.request.args.get("opt_fields"))
        return json_response({"data": render(decorate(record) if decorate else record, fields, full=True)})

    def _with_actual_time(self, task: Record) -> Record:
        minutes = sum(e["duration_minutes"] for e in self.entries.values() if e["task"]["gid"] == task["gid"])
        return {**task, "actual_time_minutes": minutes}

    def _since(self, call: Call, name: str) -> str | None:
        raw = call.request.args.get(name)
        if raw is None:
            return None
        if raw == "now":
            return self.now_text()
        try:
            return canonicalize(raw)
        except ValueError:
            raise asana_error(400, f"{name}: Invalid date/time value: {raw}") from None

    def _require_workspace(self, gid: str | None) -> None:
        if gid is not None and gid != self.workspace["gid"]:
            raise asana_error(404, f"workspace: Unknown object: {gid}")

    # ---------------------------------------------------------------------- workspaces / users

    def on_workspaces(self, call: Call) -> Response:
        return self._page(call, [self.workspace])

    def on_workspace(self, call: Call, gid: str) -> Response:
        return self._one(call, self.workspace if gid == self.workspace["gid"] else None, "workspace", gid)

    def on_me(self, call: Call) -> Response:
        return self._one(call, next(iter(self.users.values())), "user", "me")

    def on_users(self, call: Call) -> Response:
        self._require_workspace(call.request.args.get("workspace"))
        with self.lock:
            return self._page(call, list(self.users.values()))

    def on_workspace_users(self, call: Call, gid: str) -> Response:
        self._require_workspace(gid)
        with self.lock:
            return self._page(call, list(self.users.values()))

    def on_user(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.users.get(gid), "user", gid)

    # ------------------------------------------------------------------------------ projects

    def _projects(self, call: Call, workspace: str | None) -> Response:
        self._require_workspace(workspace)
        archived = call.request.args.get("archived")
        with self.lock:
            selected = [p for p in self.projects.values()
                        if archived is None or bool(p.get("archived")) == (archived.lower() == "true")]
            return self._page(call, selected)

    def on_projects(self, call: Call) -> Response:
        return self._projects(call, call.request.args.get("workspace"))

    def on_workspace_projects(self, call: Call, gid: str) -> Response:
        return self._projects(call, gid)

    def on_project(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.projects.get(gid), "project", gid)

    def on_project_sections(self, call: Call, gid: str) -> Response:
        with self.lock:
            if gid not in self.projects:
                raise asana_error(404, f"project: Unknown object: {gid}")
            return self._page(call, [s for s in self.sections.values() if s["project"]["gid"] == gid])

    def on_section(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.sections.get(gid), "section", gid)

    # --------------------------------------------------------------------------------- tasks

    def _task_list(self, call: Call, project: str | None, section: str | None) -> Response:
        args = call.request.args
        assignee, workspace = args.get("assignee"), args.get("workspace")
        if project is None and section is None and not (assignee and workspace):
            raise asana_error(400, "project, section, tag, user_task_list, or assignee and workspace must be "
                                   "specified.")
        modified_since, completed_since = self._since(call, "modified_since"), self._since(call, "completed_since")
        with self.lock:
            if project is not None and project not in self.projects:
                raise asana_error(404, f"project: Unknown object: {project}")
            if section is not None and section not in self.sections:
                raise asana_error(404, f"section: Unknown object: {section}")
            selected = []
            for task in self.tasks.values():
                memberships = task.get("memberships", [])
                if project is not None and not any(m["project"]["gid"] == project for m in memberships):
                    continue
                if section is not None and not any((m.get("section") or {}).get("gid") == section
                                                   for m in memberships):
                    continue
                if assignee and (task.get("assignee") or {}).get("gid") != (
                        next(iter(self.users)) if assignee == "me" else assignee):
                    continue
                if modified_since and task["modified_at"] < modified_since:
                    continue
                if completed_since and task["completed"] and (task.get("completed_at") or "") < completed_since:
                    continue
                selected.append(task)
            return self._page(call, selected, decorate=self._with_actual_time)

    def on_tasks(self, call: Call) -> Response:
        return self._task_list(call, call.request.args.get("project"), call.request.args.get("section"))

    def on_project_tasks(self, call: Call, gid: str) -> Response:
        return self._task_list(call, gid, None)

    def on_section_tasks(self, call: Call, gid: str) -> Response:
        return self._task_list(call, None, gid)

    def on_task(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.tasks.get(gid), "task", gid, decorate=self._with_actual_time)

    # ------------------------------------------------------------------------- time tracking

    def on_task_time_entries(self, call: Call, gid: str) -> Response:
        with self.lock:
            if gid not in self.tasks:
                raise asana_error(404, f"task: Unknown object: {gid}")
            return self._page(call, [e for e in self.entries.values() if e["task"]["gid"] == gid])

    def on_time_entries(self, call: Call) -> Response:
        args = call.request.args
        task, project, user, workspace = (args.get(n) for n in ("task", "attributable_to", "user", "workspace"))
        start, end = args.get("entered_on_start_date"), args.get("entered_on_end_date")
        approval = args.get("timesheet_approval_status")
        if not any((task, project, user, workspace, args.get("portfolio"))):
            raise asana_error(400, "One of task, attributable_to, portfolio, user or workspace must be specified.")
        if workspace and not (start or end):
            raise asana_error(400, "At least one of entered_on_start_date or entered_on_end_date must be provided "
                                   "when filtering by workspace.")
        self._require_workspace(workspace)
        for name, value in (("entered_on_start_date", start), ("entered_on_end_date", end)):
            if value is not None:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise asana_error(400, f"{name}: Invalid date value: {value}") from None
        with self.lock:
            selected = [
                e for e in self.entries.values()
                if (task is None or e["task"]["gid"] == task)
                and (project is None or (e.get("attributable_to") or {}).get("gid") == project)
                and (user is None or e["created_by"]["gid"] == user)
                and (start is None or e["entered_on"] >= start)
                and (end is None or e["entered_on"] <= end)
                and (approval is None or e["approval_status"] == approval)
            ]
            return self._page(call, selected)

    def on_time_entry(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.entries.get(gid), "time_tracking_entry", gid)

    # -------------------------------------------------------------------------------- events

    def on_events(self, call: Call) -> Response:
        resource = call.request.args.get("resource")
        if not resource:
            raise asana_error(400, "resource: Missing input")
        now = self.clock.now().timestamp()
        with self.lock:
            if resource not in self.projects and resource not in self.tasks:
                raise asana_error(404, f"resource: Unknown object: {resource}")
            given = call.request.args.get("sync")
            token = self.events.check(given, resource, now, float(self.config["sync_token_ttl_seconds"])) \
                if given else None
            if token is None:
                fresh = self.events.issue(resource, now)
                body = error_body(SYNC_INVALID)
                body["sync"] = fresh
                return json_response(body, 412)
            events, seen, more = self.events.read(token, EVENTS_PER_SYNC)
            fresh = self.events.issue(resource, now)
            self.events.tokens[fresh].seen = seen
        return json_response({"data": events, "sync": fresh, "has_more": more})

    def _emit(self, action: str, resource: Record, watchers: Iterable[str], change: Record | None = None,
              parent: Record | None = None) -> None:
        kind = resource.get("resource_type", "")
        compact = {"gid": resource["gid"], "resource_type": kind}
        if kind != "story":
            compact["name"] = resource.get("name")
        if kind in ("task", "story"):
            compact["resource_subtype"] = resource.get("resource_subtype", "default_task")
        me = next(iter(self.users.values()))
        event: Record = {
            "user": {"gid": me["gid"], "resource_type": "user", "name": me["name"]},
            "created_at": self.now_text(), "type": kind, "action": action, "resource": compact,
            "parent": parent, "change": change,
        }
        self.events.append(event, [resource["gid"], *watchers])

    @staticmethod
    def _task_projects(task: Record) -> list[str]:
        return [m["project"]["gid"] for m in task.get("memberships", [])]

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _store(self, obj: str) -> Collection:
        return {"projects": self.projects, "sections": self.sections, "tasks": self.tasks, "users": self.users,
                "time_entries": self.entries}[obj]

    def _control_record(self, obj: str, gid: str) -> Record:
        record = self._store(obj).get(gid)
        if record is None:
            raise ControlError(404, f"no {obj} with gid {gid}" + (" (deleted)" if self._store(obj).tombstone(gid) else ""))
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        records = [deepcopy(r) for r in self._store(obj).values()]
        if include_deleted:
            records += [{**deepcopy(t.record), "_deleted": True} for t in self._store(obj).tombstones()]
        return records

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": record_id, "record": deepcopy(self._control_record(obj, record_id))}

    def _user(self, gid: Any) -> Record:
        user = self.users.get(str(gid)) if gid is not None else next(iter(self.users.values()))
        if user is None:
            raise ControlError(400, f"unknown user {gid}")
        return {"gid": user["gid"], "resource_type": "user", "name": user["name"]}

    def _project(self, gid: Any) -> Record:
        project = self.projects.get(str(gid)) if gid is not None else None
        if project is None:
            raise ControlError(400, f"unknown project {gid!r}")
        return project

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        fields = dict(body.get("fields", {}))
        now = self.now_text()
        gid = self._next_gid()
        if obj == "tasks":
            record = self._new_task(gid, fields, now)
            self.field_settings.attach(record, [self.projects[p] for p in self._task_projects(record)])
        elif obj == "time_entries":
            task = self._control_record("tasks", str(fields.pop("task", "")))
            project = self._project(self._task_projects(task)[0] if task.get("memberships") else None)
            record = {
                "gid": gid, "resource_type": "time_tracking_entry",
                "duration_minutes": int(fields.pop("duration_minutes", 60)),
                "entered_on": fields.pop("entered_on", now[:10]), "created_at": now,
                "created_by": self._user(fields.pop("created_by", None)),
                "task": {"gid": task["gid"], "resource_type": "task", "name": task["name"],
                         "resource_subtype": task.get("resource_subtype")},
                "attributable_to": {"gid": project["gid"], "resource_type": "project", "name": project["name"]},
                "billable_status": fields.pop("billable_status", "billable"),
                "approval_status": fields.pop("approval_status", "DRAFT"),
                "description": fields.pop("description", ""), "categories": [],
            }
            record.update(fields)
        elif obj == "projects":
            record = {"gid": gid, "resource_type": "project", "name": fields.pop("name", f"Projet {gid}"),
                      "archived": False, "completed": False, "completed_at": None, "created_at": now,
                      "modified_at": now, "owner": self._user(fields.pop("owner", None)),
                      "workspace": {"gid": self.workspace["gid"], "resource_type": "workspace",
                                    "name": self.workspace["name"]},
                      "custom_fields": deepcopy(next(iter(self.projects.values()), {}).get("custom_fields", []))}
            for field in record["custom_fields"]:
                field.update({"text_value": None, "display_value": None} if field.get("type") == "text" else {})
            record.update(fields)
        elif obj == "sections":
            project = self._project(fields.pop("project", None))
            record = {"gid": gid, "resource_type": "section", "name": fields.pop("name", "Nouvelle section"),
                      "created_at": now, "project": {"gid": project["gid"], "resource_type": "project",
                                                     "name": project["name"]}}
            record.update(fields)
        else:
            record = {"gid": gid, "resource_type": "user", "name": fields.pop("name", f"User {gid}"),
                      "email": fields.pop("email", f"user{gid}@example.com"), "workspaces": []}
            record.update(fields)
        self._store(obj).adopt(record)
        if obj == "tasks":
            for project in self._task_projects(record):
                self._emit("added", record, [project], parent={"gid": project, "resource_type": "project"})
        elif obj == "projects":
            self._emit("added", record, [])
        return {"id": gid, "record": deepcopy(record)}

    def _new_task(self, gid: str, fields: dict[str, Any], now: str) -> Record:
        project = self._project(fields.pop("project", None) or next(iter(self.projects)))
        section_gid = fields.pop("section", None)
        section = self.sections.get(str(section_gid)) if section_gid else next(
            (s for s in self.sections.values() if s["project"]["gid"] == project["gid"]), None)
        completed = bool(fields.pop("completed", False))
        record: Record = {
            "gid": gid, "resource_type": "task", "resource_subtype": fields.pop("resource_subtype", "default_task"),
            "name": fields.pop("name", f"Tâche {gid}"), "completed": completed,
            "completed_at": now if completed else None, "completed_by": None,
            "assignee": self._user(fields.pop("assignee", None)), "start_on": None,
            "due_on": fields.pop("due_on", None), "due_at": None, "created_at": now, "modified_at": now,
            "notes": fields.pop("notes", ""), "parent": None, "num_subtasks": 0,
            "memberships": [{"project": {"gid": project["gid"], "resource_type": "project", "name": project["name"]},
                             "section": None if section is None else {"gid": section["gid"],
                                                                     "resource_type": "section",
                                                                     "name": section["name"]}}],
            "workspace": {"gid": self.workspace["gid"], "resource_type": "workspace", "name": self.workspace["name"]},
        }
        record.update(fields)
        return record

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._control_record(obj, record_id)
        fields = dict(body.get("fields", {}))
        for read_only in ("gid", "resource_type", "created_at"):
            if read_only in fields:
                raise ControlError(400, f"{read_only} is read-only")
        now = self.now_text()
        if obj == "tasks":
            if "completed" in fields and bool(fields["completed"]) != bool(record.get("completed")):
                record["completed_at"] = now if fields["completed"] else None
                record["completed_by"] = record.get("assignee") if fields["completed"] else None
            if "assignee" in fields:
                fields["assignee"] = self._user(fields["assignee"])
            changes = [{"field": name, "action": "changed", "new_value": value} for name, value in fields.items()]
            self.tasks.update(record_id, fields, at=now)
            for change in changes or [{"field": "modified_at", "action": "changed"}]:
                for project in self._task_projects(record):
                    self._emit("changed", record, [project], change,
                               parent={"gid": project, "resource_type": "project"})
        elif obj == "projects":
            for field in record.get("custom_fields", []):
                if field.get("name") in fields:
                    value = fields.pop(field["name"])
                    field.update({"text_value": value, "display_value": value})
            self.projects.update(record_id, fields, at=now)
            self._emit("changed", record, [])
        elif obj == "time_entries":
            if "created_by" in fields:
                fields["created_by"] = self._user(fields["created_by"])
            record.update(fields)  # Asana keeps no modification time on time tracking entries
        else:
            record.update(fields)
        return {"id": record_id, "record": deepcopy(record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        record = self._control_record(obj, record_id)
        self._store(obj).delete(record_id)
        if obj == "tasks":
            for project in self._task_projects(record):
                self._emit("deleted", record, [project], parent=None)
        elif obj == "projects":
            self._emit("deleted", record, [])
        return {"id": record_id, "record": deepcopy(record), "deleted_at": self.now_text()}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        if obj not in ("tasks", "time_entries"):
            raise ControlError(400, "bulk supports tasks and time_entries")
        store = self._store(obj)
        if touch > len(store):
            raise ControlError(400, f"cannot touch {touch} {obj}: only {len(store)} exist")
        now = self.now_text()
        touched = self._rng.sample(sorted(store), touch) if touch else []
        created = []
        for _ in range(create):
            serial = next(self._bulk_serial)
            if obj == "tasks":
                spec = {"name": f"Tâche en masse {serial:07d}", **fields}
            else:
                spec = {"task": self._rng.choice(sorted(g for g, t in self.tasks.items()
                                                        if t.get("resource_subtype") != "milestone")), **fields}
            created.append(self.control_create(obj, {"fields": spec})["id"])
        for gid in touched:
            self.control_update(obj, gid, {"fields": dict(fields)})
        result: dict[str, Any] = {"object": obj, "stamp": now, "created": create, "touched": touch}
        if create + touch <= 10_000:
            result["created_ids"], result["touched_ids"] = created, touched
        return result


def _comparable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
