"""Zoho Projects (API v3, and the legacy REST lists of projects and tasks) emulator: one portal derived from
the Zoho CRM org (``vendor-apis-pm.md`` §5).

- OAuth: Zoho's accounts server (:mod:`passerelle_sandbox.zoho_accounts`, the one the Zoho CRM emulator
  uses): ``POST /oauth/v2/token`` on the accounts host only, API calls on the ``api_domain`` the answer
  names, ``Authorization: Zoho-oauthtoken …`` (``Bearer`` is accepted too, as v3 examples show); an
  unknown or expired token is 401 ``INVALID_OAUTHTOKEN``. A refresh token yields at most 10 access
  tokens in 10 minutes (``tokens_per_refresh_window``), then 400 ``Access Denied``.
- Request budget: 100 API calls per 2 minutes (``requests_per_window`` / ``request_window_seconds``);
  the call that exceeds it and every call for the next 30 minutes (``lock_seconds``) are answered 429
  with the error body below (its exact wording is UNCONFIRMED), without ``Retry-After``.
- Lists ``/api/v3/portals``, ``/api/v3/portal/{portal}/projects``, ``…/users``, ``…/tasks`` (every project's
  main tasks), ``…/projects/{project}/tasks`` (main tasks only, as documented),
  ``…/projects/{project}/tasks/{task}/subtasks`` (one level; subtasks nest), ``…/projects/{project}/tasklists``,
  ``…/projects/{project}/milestones`` and ``…/timelogs?view_type=customdate&start_date=MM-DD-YYYY&end_date=…``
  (log dates, inclusive; ``bill_status`` All|Billable|Non Billable). Paging ``page`` (from 1) and
  ``per_page`` (≤ 200, default 100), answered ``{"<key>": [...], "page_info": {"page", "per_page",
  "has_next_page"}}`` (the v3 envelope is UNCONFIRMED in the reference; this is the documented intent).
  No list has a modification filter.
- Legacy REST lists (§5.1, §5.3): ``/restapi/portal/{portal}/projects/``, ``…/projects/{project}/tasks/`` (main
  tasks only) and ``…/projects/{project}/tasks/{task}/subtasks/``, paged by ``index`` and ``range`` ("The range
  you pass cannot be more than 200. If the range is not explicitly mentioned, then the default range is 100";
  records 11–20 are ``index=11&range=10``). ``index`` counts from 1 as the REST doc says (``legacy_index_base``
  0: from 0, as the Deluge wrapper says); a page past the last record is 204 No Content
  (``legacy_empty_no_content``; false: an empty list), both UNCONFIRMED. Answered ``{"<key>": [...]}`` with
  the same records as v3: the legacy record shape (numeric ids, ``MM-DD-YYYY`` dates) is not emulated.
- Writes (create/update/delete of projects, tasks, subtasks and time logs, with Zoho's strict-date and
  closed-parent rules) live in :mod:`passerelle_sandbox.zoho_projects_writes`.
- Times are answered in the portal's time zone (``2026-02-11T10:30:00+01:00``), dates ``YYYY-MM-DD``.
"""

from __future__ import annotations

import copy
import random
import threading
import time
from datetime import date, datetime
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.zoho_projects_errors import projects_error
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, bearer_token, json_response
from passerelle_sandbox.dataset_zoho_projects import build_zoho_projects_dataset
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.paging import numbered_page
from passerelle_sandbox.rate_limits import SlidingWindow
from passerelle_sandbox.zoho_accounts import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, ZohoAccounts
from passerelle_sandbox.zoho_model import org_time
from passerelle_sandbox.store import Collection
from passerelle_sandbox.zoho_projects_writes import STAMPS, ZohoProjectsWriteRoutes, write_rules

Record = dict[str, Any]
BASE = "/api/v3/portal/<portal>"
LEGACY = "/restapi/portal/<portal>"
OBJECTS = ("projects", "tasklists", "tasks", "milestones", "users", "timelogs")
TIME_FIELDS = ("created_time", "last_modified_time", "completed_time")
LOCKED_MESSAGE = ("You have exceeded the maximum number of API calls allowed in 2 minutes. "
                  "Access to the API is blocked for the next 30 minutes")
SCOPE = ("ZohoProjects.portals.READ ZohoProjects.projects.READ ZohoProjects.tasklists.READ "
         "ZohoProjects.tasks.READ ZohoProjects.milestones.READ ZohoProjects.timesheets.READ ZohoProjects.users.READ "
         "ZohoProjects.projects.CREATE ZohoProjects.tasks.CREATE ZohoProjects.tasks.UPDATE ZohoProjects.tasks.DELETE "
         "ZohoProjects.timesheets.CREATE ZohoProjects.timesheets.DELETE")


def _rules() -> list[Rule]:
    return [
        Rule("/oauth/v2/token", endpoint="token", methods=["POST"]),
        Rule("/api/v3/portals", endpoint="portals", methods=["GET"]),
        Rule(f"{BASE}/projects", endpoint="projects", methods=["GET"]),
        Rule(f"{BASE}/users", endpoint="users", methods=["GET"]),
        Rule(f"{BASE}/tasks", endpoint="portal_tasks", methods=["GET"]),
        Rule(f"{BASE}/timelogs", endpoint="timelogs", methods=["GET"]),
        Rule(f"{BASE}/projects/<project>/tasklists", endpoint="tasklists", methods=["GET"]),
        Rule(f"{BASE}/projects/<project>/tasks", endpoint="tasks", methods=["GET"]),
        Rule(f"{BASE}/projects/<project>/tasks/<task>/subtasks", endpoint="subtasks", methods=["GET"]),
        Rule(f"{BASE}/projects/<project>/milestones", endpoint="milestones", methods=["GET"]),
        Rule(f"{LEGACY}/projects/", endpoint="legacy_projects", methods=["GET"]),
        Rule(f"{LEGACY}/projects/<project>/tasks/", endpoint="legacy_tasks", methods=["GET"]),
        Rule(f"{LEGACY}/projects/<project>/tasks/<task>/subtasks/", endpoint="legacy_subtasks", methods=["GET"]),
        *write_rules(BASE),
    ]


class ZohoProjectsApp(ZohoProjectsWriteRoutes, ZohoAccounts, VendorApp):
    """One Zoho Projects portal."""

    vendor = "zoho_projects"
    url_map = Map(_rules(), strict_slashes=False)
    public_endpoints = frozenset({"token"})

    def __init__(self, dataset: dict[str, Any]) -> None:
        self._budget_lock = threading.Lock()
        self._calls = SlidingWindow(lambda: float(self.config["request_window_seconds"]),
                                    lambda: int(self.config["requests_per_window"]))
        self._locked_until = 0.0
        super().__init__(dataset)

    def default_config(self) -> dict[str, Any]:
        return {"enforce_rate_limits": True, "requests_per_window": 100, "request_window_seconds": 120.0,
                "lock_seconds": 1800.0, "oauth_expires_in": 3600, "tokens_per_refresh_window": 10,
                "refresh_window_seconds": 600.0, "max_per_page": 200, "legacy_default_range": 100,
                "legacy_index_base": 1, "legacy_empty_no_content": True,
                "refuse_equal_project_dates": False}

    def on_reset(self) -> None:
        with self._budget_lock:
            self._calls.clear()
            self._locked_until = 0.0
        self.reset_token_counts()

    def load(self) -> None:
        section = copy.deepcopy(self.dataset["zoho_projects"] if "zoho_projects" in self.dataset
                                else build_zoho_projects_dataset(self.dataset))
        self.portal: Record = section["portal"]
        self.offset = str(self.portal.get("time_zone_offset", "+01:00"))
        self.records: dict[str, Collection] = {}
        for name in OBJECTS:
            self.records[name] = Collection(STAMPS, self.clock, order=int, lock=self.lock)
            self.records[name].load(section["objects"].get(name, []))
        self.links = section.get("links", [])
        self._next_id = max((int(i) for store in self.records.values() for i in store), default=2_298_000_000_000_100_000)
        self._rng = random.Random(f"{self.dataset.get('seed')}:zoho_projects:sandbox")

    def public_credentials(self) -> dict[str, str]:
        return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN,
                "accounts_url": self.accounts_url(), "portal_id": self.portal["id"]}

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        if self.host_is_accounts(call):
            raise projects_error(404, "INVALID_URL", "Given URL is wrong")
        token = bearer_token(call.request, schemes=("zoho-oauthtoken", "bearer"))
        if token is None:
            raise projects_error(401, "INVALID_OAUTHTOKEN", "The OAuth token is missing")
        state, _ = self.tokens.check(token)
        if state != "valid":
            raise projects_error(401, "INVALID_OAUTHTOKEN", "Invalid OAuth access token")
        return {"kind": "oauth"}

    def enforce_limits(self, call: Call) -> None:
        """The request budget: past it, every call is refused until the lock ends (wall clock)."""
        if not self.config["enforce_rate_limits"]:
            return
        now = time.monotonic()
        with self._budget_lock:
            locked = now < self._locked_until
            if not locked and not self._calls.take():
                self._locked_until = now + float(self.config["lock_seconds"])
                locked = True
        if locked:
            raise projects_error(429, "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED", LOCKED_MESSAGE)

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return projects_error(429, "TOO_MANY_REQUESTS", fault.message or "Too many requests", headers).response()
        status = fault.status or 500
        return projects_error(status, fault.error_code or "INTERNAL_SERVER_ERROR",
                              fault.message or "Internal Server Error").response()

    def not_found(self, call: Call) -> Response:
        return projects_error(404, "INVALID_URL", "Given URL is wrong").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return projects_error(405, "METHOD_NOT_ALLOWED", "The request method is not supported").response()

    def internal_error(self, call: Call) -> Response:
        return projects_error(500, "INTERNAL_SERVER_ERROR", "Internal Server Error").response()

    def strip_id(self, payload: Any) -> bool:
        for value in payload.values() if isinstance(payload, dict) else ():
            for record in value if isinstance(value, list) else ():
                if isinstance(record, dict) and "id" in record:
                    del record["id"]
                    return True
        return False

    def on_token(self, call: Call) -> Response:
        answer = self.token_answer(call, SCOPE)
        if answer is None:
            raise projects_error(404, "INVALID_URL", "Given URL is wrong")
        return answer

    # --------------------------------------------------------------------------- lists

    def _portal(self, portal: str) -> None:
        if portal != self.portal["id"]:
            raise projects_error(404, "PORTAL_NOT_FOUND", f"No portal with id {portal}")

    def _project(self, portal: str, project: str) -> Record:
        self._portal(portal)
        record = self.records["projects"].get(project)
        if record is None:
            raise projects_error(404, "RESOURCE_NOT_FOUND", f"No project with id {project}")
        return record

    def _render(self, record: Record) -> Record:
        return {k: org_time(v, self.offset) if k in TIME_FIELDS else copy.deepcopy(v) for k, v in record.items()}

    def _page(self, call: Call, key: str, rows: list[Record]) -> Response:
        args = call.request.args
        try:
            page, per_page = int(args.get("page", "1")), int(args.get("per_page", "100"))
        except ValueError:
            raise projects_error(400, "INVALID_INPUT", "page and per_page must be integers") from None
        if page < 1 or not 1 <= per_page <= int(self.config["max_per_page"]):
            raise projects_error(400, "INVALID_INPUT", f"per_page must be between 1 and {self.config['max_per_page']}"
                                 if page >= 1 else "page starts at 1")
        rows = sorted(rows, key=lambda r: int(r["id"]))
        chunk = numbered_page(rows, page, per_page)
        info = {"page": page, "per_page": per_page, "has_next_page": chunk.has_more}
        return json_response({key: [self._render(r) for r in chunk.items], "page_info": info})

    def _legacy_page(self, call: Call, key: str, rows: list[Record]) -> Response:
        """``index``/``range`` paging of the legacy REST lists; past the last record, 204 No Content."""
        args, base = call.request.args, int(self.config["legacy_index_base"])
        try:
            index = int(args.get("index", str(base)))
            size = int(args.get("range", str(self.config["legacy_default_range"])))
        except ValueError:
            raise projects_error(400, "INVALID_INPUT", "index and range must be integers") from None
        if index < base:
            raise projects_error(400, "INVALID_INPUT", f"index starts at {base}")
        if not 1 <= size <= int(self.config["max_per_page"]):
            raise projects_error(400, "INVALID_INPUT", f"The range cannot be more than {self.config['max_per_page']}")
        rows = sorted(rows, key=lambda r: int(r["id"]))
        chunk = [self._render(r) for r in rows[index - base : index - base + size]]
        if not chunk and self.config["legacy_empty_no_content"]:
            return Response(status=204)
        return json_response({key: chunk})

    def on_portals(self, call: Call) -> Response:
        return json_response({"portals": [dict(self.portal)]})

    def on_projects(self, call: Call, portal: str) -> Response:
        self._portal(portal)
        with self.lock:
            return self._page(call, "projects", list(self.records["projects"].values()))

    def on_users(self, call: Call, portal: str) -> Response:
        self._portal(portal)
        with self.lock:
            return self._page(call, "users", list(self.records["users"].values()))

    def _main_tasks(self, project: str | None) -> list[Record]:
        return [t for t in self.records["tasks"].values()
                if t.get("parent_task") is None and (project is None or t["project"]["id"] == project)]

    def on_portal_tasks(self, call: Call, portal: str) -> Response:
        self._portal(portal)
        with self.lock:
            return self._page(call, "tasks", self._main_tasks(None))

    def on_tasks(self, call: Call, portal: str, project: str) -> Response:
        with self.lock:
            self._project(portal, project)
            return self._page(call, "tasks", self._main_tasks(project))

    def on_subtasks(self, call: Call, portal: str, project: str, task: str) -> Response:
        with self.lock:
            return self._page(call, "tasks", self._subtasks(portal, project, task))

    def _subtasks(self, portal: str, project: str, task: str) -> list[Record]:
        self._project(portal, project)
        parent = self.records["tasks"].get(task)
        if parent is None or parent["project"]["id"] != project:
            raise projects_error(404, "RESOURCE_NOT_FOUND", f"No task with id {task}")
        return [t for t in self.records["tasks"].values() if (t.get("parent_task") or {}).get("id") == task]

    def on_legacy_projects(self, call: Call, portal: str) -> Response:
        self._portal(portal)
        with self.lock:
            return self._legacy_page(call, "projects", list(self.records["projects"].values()))

    def on_legacy_tasks(self, call: Call, portal: str, project: str) -> Response:
        with self.lock:
            self._project(portal, project)
            return self._legacy_page(call, "tasks", self._main_tasks(project))

    def on_legacy_subtasks(self, call: Call, portal: str, project: str, task: str) -> Response:
        with self.lock:
            return self._legacy_page(call, "tasks", self._subtasks(portal, project, task))

    def on_tasklists(self, call: Call, portal: str, project: str) -> Response:
        with self.lock:
            self._project(portal, project)
            rows = [t for t in self.records["tasklists"].values() if t["project"]["id"] == project]
            return self._page(call, "tasklists", rows)

    def on_milestones(self, call: Call, portal: str, project: str) -> Response:
        with self.lock:
            self._project(portal, project)
            rows = [m for m in self.records["milestones"].values() if m["project"]["id"] == project]
            return self._page(call, "milestones", rows)

    def on_timelogs(self, call: Call, portal: str) -> Response:
        self._portal(portal)
        args = call.request.args
        if args.get("view_type", "customdate") != "customdate":
            raise projects_error(400, "INVALID_INPUT", "view_type must be customdate with start_date and end_date")
        bounds = []
        for name in ("start_date", "end_date"):
            try:
                bounds.append(datetime.strptime(args.get(name, ""), "%m-%d-%Y").date())
            except ValueError:
                raise projects_error(400, "INVALID_INPUT", f"{name} is required, as MM-DD-YYYY") from None
        first, last = bounds
        status = args.get("bill_status", "All")
        if status not in ("All", "Billable", "Non Billable"):
            raise projects_error(400, "INVALID_INPUT", "bill_status must be All, Billable or Non Billable")
        with self.lock:
            rows = [t for t in self.records["timelogs"].values()
                    if first <= date.fromisoformat(t["date"]) <= last and status in ("All", t["bill_status"])]
            return self._page(call, "timelogs", rows)

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _record(self, obj: str, record_id: str) -> Record:
        record = self.records[obj].get(str(record_id))
        if record is None:
            raise ControlError(404, f"no {obj} with id {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        return [copy.deepcopy(r) for r in sorted(self.records[obj].values(), key=lambda r: int(r["id"]))]

    def control_get(self, obj: str, record_id: str) -> Record:
        return {"id": record_id, "record": copy.deepcopy(self._record(obj, record_id))}

    def _now(self) -> str:
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _new_id(self) -> str:
        self._next_id += 1 + self._rng.randrange(20)
        return str(self._next_id)

    def _set(self, record: Record, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name in ("id", "created_time", "last_modified_time"):
                raise ControlError(400, f"{name} is read-only")
            record[name] = value

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        """A new record; a task naming ``parent_task`` is a subtask (its parent gains ``has_subtasks``)."""
        now = self._now()
        record: Record = {"id": self._new_id(), "created_time": now, "last_modified_time": now}
        self._set(record, body.get("fields", {}))
        parent = (record.get("parent_task") or {}).get("id") if obj == "tasks" else None
        if parent is not None:
            above = self._record("tasks", parent)
            self.records["tasks"].update(above["id"], {"has_subtasks": True}, at=now)
            record.setdefault("depth", int(above.get("depth") or 0) + 1)
            record.setdefault("project", above["project"])
        self.records[obj].insert(record, at=now)
        return {"id": record["id"], "record": copy.deepcopy(record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        """A change made in the portal's UI: stamped now, by the task's first owner unless ``last_modified_by``
        is given (never the API user, so the sync can tell it from its own writes)."""
        record = self._record(obj, record_id)
        fields = dict(body.get("fields", {}))
        who = fields.pop("last_modified_by", None)
        self._set(record, fields)
        owners = record.get("owners") if obj == "tasks" else None
        self.records[obj].touch(record["id"], by=(who or owners[0]) if (who or owners) else None)
        return {"id": record["id"], "record": copy.deepcopy(record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        """Delete for good (Zoho Projects lists no deleted records); a task takes its subtasks with it."""
        record = self._record(obj, record_id)
        self.records[obj].purge(record["id"])
        if obj == "tasks":
            for child in [t for t in self.records["tasks"].values() if (t.get("parent_task") or {}).get("id") == record["id"]]:
                self.control_delete("tasks", child["id"])
        return {"id": record["id"], "record": copy.deepcopy(record)}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        live = list(self.records[obj].values())
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = self._rng.sample(live, touch) if touch else []
        created = []
        for serial in range(create):
            record = copy.deepcopy(self._rng.choice(live)) if live else {}
            record.update({"id": self._new_id(), "created_time": now, "last_modified_time": now})
            if obj == "tasks":
                record.update({"parent_task": None, "depth": 0, "has_subtasks": False})
            if isinstance(record.get("name"), str):
                record["name"] = f"Sandbox Bulk {obj} {serial + 1:07d}"
            self.records[obj].insert(record, at=now)
            created.append(record["id"])
        for record in touched:
            self._set(record, fields)
            self.records[obj].touch(record["id"], at=now)
        return {"object": obj, "stamp": now, "created": create, "touched": touch, "created_ids": created,
                "touched_ids": [r["id"] for r in touched]}
