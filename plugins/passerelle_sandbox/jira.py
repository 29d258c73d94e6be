"""Jira Cloud REST v3 emulator: enhanced JQL search, worklog change feeds, projects, versions, users.

Behaviour follows ``vendor-apis-pm.md`` §4:

- basic auth ``email:api_token`` only; anything else is a 401 with Jira's error body
  ``{"errorMessages": [...], "errors": {}}``;
- ``GET|POST /rest/api/3/search/jql``: ``nextPageToken`` + ``isLast`` paging (no ``total``; the token
  is omitted on the last page), ids only unless ``fields`` is asked, ``maxResults`` silently capped
  (``search_max_results_ids`` / ``search_max_results_fields``), unbounded JQL refused; the retired
  ``/rest/api/{2,3}/search`` answers 410 Gone. A page token pins the result list of the first page,
  so a query pages consistently while issues change (an assumption: Jira documents none);
- JQL date strings are read in the API account's time zone (config ``time_zone``, exposed by
  ``GET /rest/api/3/myself``); epoch-millisecond literals are absolute;
- ``/worklog/updated`` and ``/worklog/deleted``: ``since`` (exclusive, epoch ms), pages of
  ``worklog_page_size`` with ``until``/``nextPage``/``lastPage``, nothing from the last
  ``worklog_feed_lag_seconds`` (Jira hides the minute preceding the request); ``POST /worklog/list``
  for ≤1000 ids; deleting an issue deletes its worklogs into the deleted feed; issues themselves
  have no deletion feed;
- a rolling-window burst limiter: 429 with ``Retry-After``, ``X-RateLimit-Limit/-Remaining/-Reset``,
  ``X-RateLimit-NearLimit`` and ``RateLimit-Reason: jira-burst-based``.

Data: ``dataset["jira"]`` when present, else :func:`build_jira_dataset` of the CRM dataset.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import threading
import time
from collections import OrderedDict, deque
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import epoch_ms
from passerelle_sandbox.core import Call, ControlError, VendorApp, VendorError, correlation_id, json_response
from passerelle_sandbox.dataset_jira import BILLING_PROPERTY, STATUSES, build_jira_dataset, jira_time
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.jira_jql import JqlError, compile_jql

Record = dict[str, Any]
API_TOKEN = "ATATT3xFfGF0sandbox-passerelle-jira-token-7c1e9a44"
SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
NAVIGABLE = ("summary", "status", "statusCategory", "issuetype", "project", "assignee", "reporter", "labels",
             "created", "updated", "resolutiondate", "resolution", "duedate", "fixVersions", "priority",
             "timeoriginalestimate", "timespent")
STATUS = {s[1]: s for s in STATUSES}
CATEGORY_IDS = {"new": 2, "indeterminate": 4, "done": 3}
OBJECTS = ("projects", "versions", "issues", "worklogs", "users")
MAX_WORKLOG_IDS = 1000


def jira_error(status: int, *messages: str, headers: dict[str, str] | None = None,
               errors: dict[str, str] | None = None) -> VendorError:
    return VendorError(status, {"errorMessages": list(messages), "errors": errors or {}}, headers)


def _rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


def parse_jira_time(text: str) -> int:
    """Epoch ms of ``2026-02-10T09:15:23.000+0100`` (or any ISO-8601 form)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return epoch_ms(moment)


def time_spent(seconds: int) -> str:
    """``3h 20m`` as Jira renders ``timeSpent`` (8-hour days, 5-day weeks)."""
    parts, rest = [], int(seconds)
    for unit, size in (("w", 144_000), ("d", 28_800), ("h", 3600), ("m", 60)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts) or "0m"


def _adf(text: str) -> Record:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


class JiraApp(VendorApp):
    vendor = "jira"
    url_map = Map(
        [
            _rule("/rest/api/3/myself", "myself"),
            _rule("/rest/api/3/search/jql", "search", ("GET", "POST")),
            _rule("/rest/api/3/search/approximate-count", "count", ("POST",)),
            _rule("/rest/api/3/search", "search_gone", ("GET", "POST")),
            _rule("/rest/api/2/search", "search_gone", ("GET", "POST")),
            _rule("/rest/api/3/issue/<id_or_key>", "issue"),
            _rule("/rest/api/3/project/search", "projects"),
            _rule("/rest/api/3/project/<key>/version", "versions_paged"),
            _rule("/rest/api/3/project/<key>/versions", "versions_list"),
            _rule("/rest/api/3/project/<key>/properties/<prop>", "project_property"),
            _rule("/rest/api/3/worklog/updated", "worklogs_updated"),
            _rule("/rest/api/3/worklog/deleted", "worklogs_deleted"),
            _rule("/rest/api/3/worklog/list", "worklog_list", ("POST",)),
            _rule("/rest/api/3/users/search", "users"),
        ],
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any]) -> None:
        self._rate_lock = threading.Lock()
        self._calls: deque[float] = deque()
        self._snapshots: OrderedDict[str, list[str]] = OrderedDict()
        self._snapshot_ids = itertools.count(1)
        super().__init__(dataset)

    # ----------------------------------------------------------------------------- setup

    def default_config(self) -> dict[str, Any]:
        return {
            "time_zone": "Europe/Paris",
            "enforce_rate_limits": True,
            "burst_limit": 100,
            "burst_window_seconds": 1.0,
            "retry_after_seconds": 1,
            "search_default_max_results": 50,
            "search_max_results_ids": 5000,
            "search_max_results_fields": 100,
            "worklog_page_size": 1000,
            "worklog_feed_lag_seconds": 60,
            "page_max_results": 50,
            "users_max_results": 1000,
        }

    def on_reset(self) -> None:
        with self._rate_lock:
            self._calls.clear()
        self._snapshots.clear()

    def load(self) -> None:
        section = self.dataset.get("jira") or build_jira_dataset(self.dataset)
        self.site = section
        self.account = dict(section["account"])
        self.users: dict[str, Record] = {u["accountId"]: dict(u) for u in section["users"]}
        self.projects: dict[str, Record] = {p["id"]: json.loads(json.dumps(p)) for p in section["projects"]}
        self.versions: dict[str, Record] = {v["id"]: dict(v) for v in section["versions"]}
        self.issues: dict[str, Record] = {}
        for issue in section["issues"]:
            copy = json.loads(json.dumps(issue))
            for name in ("created", "updated", "resolutiondate"):
                copy[name] = parse_jira_time(copy[name]) if copy.get(name) else None
            self.issues[copy["id"]] = copy
        self.worklogs: dict[str, Record] = {}
        for worklog in section["worklogs"]:
            copy = json.loads(json.dumps(worklog))
            for name in ("created", "updated", "started"):
                copy[name] = parse_jira_time(copy[name])
            self.worklogs[copy["id"]] = copy
        self.deleted_worklogs: dict[str, Record] = {
            str(d["worklogId"]): {"id": str(d["worklogId"]), "issueId": None, "deletedAt": int(d["updatedTime"])}
            for d in section.get("deleted_worklogs", [])
        }
        self.deleted_issues: dict[str, Record] = {}
        self._api_token_revoked = False
        self._rng = random.Random(f"{self.dataset.get('seed')}:jira:sandbox")
        self._bulk_serial = itertools.count(1)
        self._last_ids: dict[str, int] = {}

    def public_credentials(self) -> dict[str, str]:
        return {"email": self.account["emailAddress"], "api_token": API_TOKEN}

    def now_ms(self) -> int:
        return epoch_ms(self.clock.now())

    @property
    def zone(self) -> str:
        return str(self.config["time_zone"])

    def stamp(self, ms: int | None) -> str | None:
        return jira_time(ms, self.zone) if ms is not None else None

    # -------------------------------------------------------------------------- pipeline

    def authenticate(self, call: Call) -> Any:
        header = call.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and not self._api_token_revoked:
            try:
                email, _, token = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                email, token = "", ""
            if email.lower() == self.account["emailAddress"].lower() and token == API_TOKEN:
                return {"accountId": self.account["accountId"]}
        raise jira_error(
            401, "You are not authenticated. Authentication required to perform this operation.",
            headers={"WWW-Authenticate": 'Basic realm="protected-area"', "X-Seraph-LoginReason": "AUTHENTICATED_FAILED"},
        )

    def expire_tokens(self) -> None:
        super().expire_tokens()
        self._api_token_revoked = True

    def on_faults_cleared(self) -> None:
        self._api_token_revoked = False

    def _window_used(self, now: float) -> int:
        window = float(self.config["burst_window_seconds"])
        while self._calls and self._calls[0] <= now - window:
            self._calls.popleft()
        return len(self._calls)

    def enforce_limits(self, call: Call) -> None:
        if not self.config["enforce_rate_limits"]:
            return
        with self._rate_lock:
            now = time.monotonic()
            if self._window_used(now) < int(self.config["burst_limit"]):
                self._calls.append(now)
                return
        raise self._throttled(int(self.config["retry_after_seconds"]))

    def _throttled(self, retry_after: int | None) -> VendorError:
        reset = datetime.now(timezone.utc) + timedelta(seconds=max(60, retry_after or 0))
        headers = {
            "X-RateLimit-Limit": str(int(self.config["burst_limit"])),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
            "X-RateLimit-NearLimit": "true",
            "RateLimit-Reason": "jira-burst-based",
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return jira_error(429, "Rate limit exceeded.", headers=headers)

    def decorate(self, call: Call, response: Response) -> None:
        response.headers.setdefault("X-AREQUESTID", correlation_id()[:8])
        response.headers.setdefault("ATL-TraceId", correlation_id().replace("-", "")[:16])
        if call.principal is not None and self.config["enforce_rate_limits"]:
            with self._rate_lock:
                used = self._window_used(time.monotonic())
            if used >= 0.8 * int(self.config["burst_limit"]):
                response.headers.setdefault("X-RateLimit-NearLimit", "true")

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        if fault.kind == "rate_limit":
            error = self._throttled(fault.retry_after)
            if fault.message:
                error.body["errorMessages"] = [fault.message]
            return error.response()
        status = fault.status or 500
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        message = fault.message or {500: "Internal server error", 502: "Bad Gateway", 503: "Service Unavailable",
                                    504: "Gateway Timeout"}.get(status, f"HTTP {status}")
        return jira_error(status, message, headers=headers).response()

    def not_found(self, call: Call) -> Response:
        return jira_error(404, f"null for uri: {call.request.url}").response()

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        return jira_error(405, f"Method {call.request.method} not allowed; allowed: {', '.join(allowed)}").response()

    def internal_error(self, call: Call) -> Response:
        return jira_error(500, "Internal server error").response()

    def strip_id(self, payload: Any) -> bool:
        if isinstance(payload, dict):
            for key in ("issues", "values"):
                items = payload.get(key)
                if isinstance(items, list):
                    for item in items:
                        for field in ("id", "worklogId", "accountId"):
                            if isinstance(item, dict) and field in item:
                                del item[field]
                                return True
            return False
        for item in payload if isinstance(payload, list) else []:
            for field in ("id", "accountId"):
                if isinstance(item, dict) and field in item:
                    del item[field]
                    return True
        return False

    # ------------------------------------------------------------------------- renderers

    def user_ref(self, account_id: str | None) -> Record | None:
        if account_id is None:
            return None
        user = self.users.get(account_id) or {"accountId": account_id, "displayName": "Former user", "active": False,
                                              "accountType": "atlassian"}
        ref = {
            "self": f"{self.base_url}/rest/api/3/user?accountId={account_id}", "accountId": account_id,
            "displayName": user.get("displayName"), "active": bool(user.get("active")),
            "timeZone": user.get("timeZone"), "accountType": user.get("accountType", "atlassian"),
        }
        if user.get("emailAddress"):
            ref["emailAddress"] = user["emailAddress"]
        return ref

    def version_ref(self, version: Record) -> Record:
        ref = {"self": f"{self.base_url}/rest/api/3/version/{version['id']}", "id": version["id"],
               "name": version["name"], "archived": bool(version.get("archived")),
               "released": bool(version.get("released"))}
        if version.get("releaseDate"):
            ref["releaseDate"] = version["releaseDate"]
        return ref

    def render_version(self, version: Record) -> Record:
        body = {**self.version_ref(version), "description": version.get("description"),
                "projectId": int(version["projectId"])}
        if version.get("startDate"):
            body["startDate"] = version["startDate"]
        if version.get("releaseDate") and not version.get("released"):
            body["overdue"] = version["releaseDate"] < jira_time(self.now_ms(), self.zone)[:10]
        return body

    def render_project(self, project: Record, expand: set[str], properties: list[str]) -> Record:
        body: Record = {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{self.base_url}/rest/api/3/project/{project['id']}", "id": project["id"],
            "key": project["key"], "name": project["name"],
            "avatarUrls": {"48x48": f"{self.base_url}/rest/api/3/universal_avatar/view/type/project/avatar/10400"},
            "projectTypeKey": project.get("projectTypeKey", "software"), "simplified": bool(project.get("simplified")),
            "style": project.get("style", "classic"), "isPrivate": bool(project.get("isPrivate")),
            "properties": {k: project.get("properties", {})[k] for k in properties if k in project.get("properties", {})},
        }
        if "description" in expand:
            body["description"] = project.get("description", "")
        if "lead" in expand:
            body["lead"] = self.user_ref(project.get("lead"))
        if "insight" in expand:
            issues = [i for i in self.issues.values() if i["projectId"] == project["id"]]
            last = max((i["updated"] for i in issues), default=None)
            body["insight"] = {"totalIssueCount": len(issues), "lastIssueUpdateTime": self.stamp(last)}
        return body

    def render_issue(self, issue: Record, fields: list[str] | None) -> Record:
        if fields is None:
            return {"id": issue["id"]}
        wanted = self._field_set(fields)
        body: Record = {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
                        "id": issue["id"], "self": f"{self.base_url}/rest/api/3/issue/{issue['id']}", "key": issue["key"]}
        if not wanted:
            return body
        project = self.projects[issue["projectId"]]
        status = STATUS[issue["status"]]
        category = {"self": f"{self.base_url}/rest/api/3/statuscategory/{CATEGORY_IDS[status[2]]}",
                    "id": CATEGORY_IDS[status[2]], "key": status[2], "name": status[3]}
        spent = sum(w["timeSpentSeconds"] for w in self.worklogs.values() if w["issueId"] == issue["id"])
        values: Record = {
            "summary": issue["summary"],
            "status": {"self": f"{self.base_url}/rest/api/3/status/{status[0]}", "id": status[0], "name": status[1],
                       "statusCategory": category},
            "statusCategory": category,
            "issuetype": {"id": {"Task": "10001", "Story": "10002", "Bug": "10004"}.get(issue["issuetype"], "10001"),
                          "name": issue["issuetype"], "subtask": False},
            "project": {"self": f"{self.base_url}/rest/api/3/project/{project['id']}", "id": project["id"],
                        "key": project["key"], "name": project["name"], "projectTypeKey": project.get("projectTypeKey")},
            "assignee": self.user_ref(issue.get("assignee")),
            "reporter": self.user_ref(issue.get("reporter")),
            "labels": list(issue.get("labels") or []),
            "created": self.stamp(issue["created"]),
            "updated": self.stamp(issue["updated"]),
            "resolutiondate": self.stamp(issue.get("resolutiondate")),
            "resolution": {"id": "10000", "name": "Done"} if issue.get("resolutiondate") else None,
            "duedate": issue.get("duedate"),
            "fixVersions": [self.version_ref(self.versions[v]) for v in issue.get("fixVersions", []) if v in self.versions],
            "priority": {"id": "3", "name": issue.get("priority", "Medium")},
            "timeoriginalestimate": issue.get("timeoriginalestimate"),
            "timespent": spent or None,
        }
        for name, value in issue.items():
            if name.startswith("customfield_"):
                values[name] = value
                if any("*all" in raw for raw in fields):
                    wanted.add(name)
        body["fields"] = {name: values.get(name) for name in sorted(wanted) if name in values or name.startswith("customfield_")}
        return body

    @staticmethod
    def _field_set(fields: list[str]) -> set[str]:
        wanted: set[str] = set()
        for raw in fields:
            for name in (part.strip() for part in raw.split(",")):
                if name in ("*all", "*navigable"):
                    wanted.update(NAVIGABLE)
                elif name.startswith("-"):
                    wanted.discard(name[1:])
                elif name and name != "id" and name != "key":
                    wanted.add(name)
        return wanted

    def render_worklog(self, worklog: Record, with_properties: bool) -> Record:
        body = {
            "self": f"{self.base_url}/rest/api/3/issue/{worklog['issueId']}/worklog/{worklog['id']}",
            "author": self.user_ref(worklog["author"]),
            "updateAuthor": self.user_ref(worklog.get("updateAuthor") or worklog["author"]),
            "comment": _adf(worklog.get("comment") or ""),
            "created": self.stamp(worklog["created"]),
            "updated": self.stamp(worklog["updated"]),
            "started": self.stamp(worklog["started"]),
            "timeSpent": time_spent(worklog["timeSpentSeconds"]),
            "timeSpentSeconds": worklog["timeSpentSeconds"],
            "id": worklog["id"],
            "issueId": worklog["issueId"],
        }
        if with_properties:
            body["properties"] = [dict(p) for p in worklog.get("properties", [])]
        return body

    # ---------------------------------------------------------------------------- handlers

    def on_myself(self, call: Call) -> Response:
        return json_response({**self.user_ref(self.account["accountId"]), "timeZone": self.zone,
                              "locale": self.account.get("locale", "fr_FR"), "groups": {"size": 1, "items": []}})

    def on_search_gone(self, call: Call) -> Response:
        raise jira_error(410, SEARCH_GONE)

    def _visible_issues(self) -> list[Record]:
        return [i for i in self.issues.values() if not self.projects[i["projectId"]].get("deleted")]

    def _issue_view(self, issue: Record) -> Record:
        project = self.projects[issue["projectId"]]
        status = STATUS[issue["status"]]
        versions = [self.versions[v] for v in issue.get("fixVersions", []) if v in self.versions]
        return {
            "id": issue["id"], "key": issue["key"], "project": [project["id"], project["key"], project["name"]],
            "status": [status[0], status[1]], "statusCategory": [status[2], status[3], str(CATEGORY_IDS[status[2]])],
            "assignee": [issue["assignee"]] if issue.get("assignee") else None,
            "labels": issue.get("labels") or [], "issuetype": issue["issuetype"],
            "updated": issue["updated"], "created": issue["created"], "resolutiondate": issue.get("resolutiondate"),
            "duedate": issue.get("duedate"), "fixVersions": [x for v in versions for x in (v["id"], v["name"])] or None,
        }

    def _matching(self, jql: str) -> list[str]:
        try:
            predicate, order = compile_jql(jql, zone=self.zone, now_ms=self.now_ms())
        except JqlError as exc:
            raise jira_error(400, str(exc)) from None
        except ValueError as exc:
            raise jira_error(400, f"Error in the JQL Query: {exc}") from None
        views = [self._issue_view(i) for i in self._visible_issues()]
        matches = [v for v in views if predicate(v)]
        matches.sort(key=lambda v: -int(v["id"]))  # Jira's default: newest first
        for name, descending in reversed(order):
            if name == "key":
                key = lambda v: (v["project"][1], int(v["key"].rsplit("-", 1)[1]))  # noqa: E731
            elif name == "id":
                key = lambda v: int(v["id"])  # noqa: E731
            else:
                key = lambda v, n=name: (v.get(n) is not None, v.get(n) if not isinstance(v.get(n), list) else str(v.get(n)))  # noqa: E731
            matches.sort(key=key, reverse=descending)
        return [v["id"] for v in matches]

    def _search_args(self, call: Call) -> Record:
        if call.request.method == "POST":
            body = call.request.get_json(silent=True)
            if not isinstance(body, dict):
                raise jira_error(400, "Invalid request payload. Refer to the REST API documentation and try again.")
            fields = body.get("fields")
            if isinstance(fields, str):
                fields = [fields]
            return {"jql": body.get("jql", ""), "token": body.get("nextPageToken"), "max": body.get("maxResults"),
                    "fields": fields, "properties": body.get("properties") or []}
        args = call.request.args
        fields = args.getlist("fields") or None
        return {"jql": args.get("jql", ""), "token": args.get("nextPageToken"), "max": args.get("maxResults"),
                "fields": fields, "properties": args.getlist("properties")}

    def on_search(self, call: Call) -> Response:
        args = self._search_args(call)
        try:
            limit = int(args["max"]) if args["max"] is not None else int(self.config["search_default_max_results"])
        except (TypeError, ValueError):
            raise jira_error(400, "maxResults must be an integer") from None
        fields = args["fields"]
        cap_key = "search_max_results_fields" if fields and self._field_set(fields) else "search_max_results_ids"
        limit = max(1, min(limit, int(self.config[cap_key])))
        fingerprint = hashlib.sha1(str(args["jql"]).encode()).hexdigest()[:12]
        with self.lock:
            if args["token"]:
                snapshot_id, offset = self._read_token(str(args["token"]), fingerprint)
                ids = self._snapshots[snapshot_id]
            else:
                ids = self._matching(str(args["jql"]))
                snapshot_id, offset = f"s{next(self._snapshot_ids)}", 0
                self._snapshots[snapshot_id] = ids
                while len(self._snapshots) > 500:
                    self._snapshots.popitem(last=False)
            chunk = ids[offset: offset + limit]
            issues = [self.render_issue(self.issues[i], fields) for i in chunk
                      if i in self.issues and not self.projects[self.issues[i]["projectId"]].get("deleted")]
        body: Record = {"issues": issues}
        if offset + limit < len(ids):
            body["nextPageToken"] = self._token(snapshot_id, offset + limit, fingerprint)
            body["isLast"] = False
        else:
            body["isLast"] = True
        return json_response(body)

    @staticmethod
    def _token(snapshot_id: str, offset: int, fingerprint: str) -> str:
        raw = json.dumps({"s": snapshot_id, "o": offset, "q": fingerprint}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _read_token(self, token: str, fingerprint: str) -> tuple[str, int]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            snapshot_id, offset, query = str(data["s"]), int(data["o"]), data["q"]
        except (ValueError, KeyError, TypeError):
            raise jira_error(400, "The provided next page token is invalid or expired.") from None
        if query != fingerprint or snapshot_id not in self._snapshots:
            raise jira_error(400, "The provided next page token is invalid or expired.")
        return snapshot_id, offset

    def on_count(self, call: Call) -> Response:
        body = call.request.get_json(silent=True) or {}
        with self.lock:
            return json_response({"count": len(self._matching(str(body.get("jql", ""))))})

    def on_issue(self, call: Call, id_or_key: str) -> Response:
        fields = call.request.args.getlist("fields") or ["*navigable"]
        with self.lock:
            issue = next((i for i in self._visible_issues() if id_or_key in (i["id"], i["key"])), None)
            if issue is None:
                raise jira_error(404, "Issue does not exist or you do not have permission to see it.")
            return json_response(self.render_issue(issue, fields))

    def _paging(self, call: Call, default: int | None = None) -> tuple[int, int]:
        args = call.request.args
        try:
            start = int(args.get("startAt", 0))
            size = int(args.get("maxResults", default or self.config["page_max_results"]))
        except ValueError:
            raise jira_error(400, "startAt and maxResults must be integers") from None
        return max(0, start), max(1, min(size, int(default or self.config["page_max_results"])))

    def _page(self, call: Call, values: list[Record], start: int, size: int) -> Record:
        chunk = values[start: start + size]
        body: Record = {"self": call.request.url, "maxResults": size, "startAt": start, "total": len(values),
                        "isLast": start + size >= len(values), "values": chunk}
        if not body["isLast"]:
            args = dict(call.request.args)
            args.update({"startAt": str(start + size), "maxResults": str(size)})
            body["nextPage"] = f"{self.base_url}{call.path}?{urlencode(args)}"
        return body

    def _csv(self, call: Call, name: str) -> list[str]:
        return [p.strip() for raw in call.request.args.getlist(name) for p in raw.split(",") if p.strip()]

    def on_projects(self, call: Call) -> Response:
        start, size = self._paging(call)
        expand, properties = set(self._csv(call, "expand")), self._csv(call, "properties")
        keys = {k.upper() for k in self._csv(call, "keys")}
        with self.lock:
            live = sorted((p for p in self.projects.values() if not p.get("deleted")), key=lambda p: p["key"])
            if keys:
                live = [p for p in live if p["key"].upper() in keys or p["id"] in keys]
            values = [self.render_project(p, expand, properties) for p in live]
        return json_response(self._page(call, values, start, size))

    def _project(self, key: str) -> Record:
        for project in self.projects.values():
            if not project.get("deleted") and key in (project["key"], project["id"]):
                return project
        raise jira_error(404, f"No project could be found with key '{key}'.")

    def _project_versions(self, key: str) -> list[Record]:
        project = self._project(key)
        mine = [v for v in self.versions.values() if str(v["projectId"]) == project["id"] and not v.get("deleted")]
        return [self.render_version(v) for v in sorted(mine, key=lambda v: int(v["id"]))]

    def on_versions_paged(self, call: Call, key: str) -> Response:
        start, size = self._paging(call)
        with self.lock:
            values = self._project_versions(key)
        return json_response(self._page(call, values, start, size))

    def on_versions_list(self, call: Call, key: str) -> Response:
        with self.lock:
            return json_response(self._project_versions(key))

    def on_project_property(self, call: Call, key: str, prop: str) -> Response:
        with self.lock:
            project = self._project(key)
            properties = project.get("properties", {})
            if prop not in properties:
                raise jira_error(404, f"The property with key '{prop}' does not exist.")
            return json_response({"key": prop, "value": properties[prop]})

    def on_users(self, call: Call) -> Response:
        start, size = self._paging(call, int(self.config["users_max_results"]))
        with self.lock:
            users = sorted(self.users.values(), key=lambda u: u["accountId"])
            return json_response([self.user_ref(u["accountId"]) for u in users[start: start + size]])

    def _feed(self, call: Call, entries: list[tuple[int, str, list[Record]]], path: str) -> Response:
        """One page of ``/worklog/updated`` or ``/worklog/deleted`` from (time, id, properties) entries."""
        try:
            since = int(call.request.args.get("since", 0))
        except ValueError:
            raise jira_error(400, "since must be a UNIX timestamp in milliseconds") from None
        horizon = self.now_ms() - int(float(self.config["worklog_feed_lag_seconds"]) * 1000)
        visible = sorted((e for e in entries if since < e[0] <= horizon), key=lambda e: (e[0], int(e[1])))
        size = int(self.config["worklog_page_size"])
        page, last = visible[:size], len(visible) <= size
        until = max(since, horizon, page[-1][0] if page else since) if last else page[-1][0]
        expand = "properties" in self._csv(call, "expand")
        body = {
            "values": [{"worklogId": int(i), "updatedTime": t, "properties": props if expand else []}
                       for t, i, props in page],
            "since": since, "until": until,
            "self": f"{self.base_url}{path}?since={since}",
            "nextPage": f"{self.base_url}{path}?since={until}",
            "lastPage": last,
        }
        return json_response(body)

    def on_worklogs_updated(self, call: Call) -> Response:
        with self.lock:
            entries = [(w["updated"], w["id"], [dict(p) for p in w.get("properties", [])]) for w in self.worklogs.values()]
            return self._feed(call, entries, "/rest/api/3/worklog/updated")

    def on_worklogs_deleted(self, call: Call) -> Response:
        with self.lock:
            entries = [(d["deletedAt"], d["id"], []) for d in self.deleted_worklogs.values()]
            return self._feed(call, entries, "/rest/api/3/worklog/deleted")

    def on_worklog_list(self, call: Call) -> Response:
        body = call.request.get_json(silent=True)
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            raise jira_error(400, "Worklog IDs must be provided.", errors={"ids": "must not be empty"})
        if len(ids) > MAX_WORKLOG_IDS:
            raise jira_error(400, f"The number of worklog IDs requested exceeds the maximum of {MAX_WORKLOG_IDS}.")
        expand = "properties" in self._csv(call, "expand")
        with self.lock:
            found = [self.worklogs[str(i)] for i in ids if str(i) in self.worklogs]
            return json_response([self.render_worklog(w, expand) for w in found])

    # ---------------------------------------------------------------------- control hooks

    def control_objects(self) -> list[str]:
        return list(OBJECTS)

    def _control_view(self, obj: str, record: Record) -> Record:
        if obj == "issues":
            view = self.render_issue(record, ["*all"])
            view["fields"]["customfields"] = {k: v for k, v in record.items() if k.startswith("customfield_")}
            return view
        if obj == "worklogs":
            return self.render_worklog(record, True)
        if obj == "projects":
            return {**self.render_project(record, {"description", "lead"}, list(record.get("properties", {}))),
                    "deleted": bool(record.get("deleted"))}
        if obj == "versions":
            return self.render_version(record)
        return {**self.user_ref(record["accountId"]), "locale": record.get("locale")}

    def _store(self, obj: str) -> dict[str, Record]:
        return {"projects": self.projects, "versions": self.versions, "issues": self.issues,
                "worklogs": self.worklogs, "users": self.users}[obj]

    def _get(self, obj: str, record_id: str) -> Record:
        store = self._store(obj)
        record = store.get(record_id)
        if record is None and obj == "issues":
            record = next((i for i in store.values() if i["key"] == record_id), None)
        if record is None and obj == "projects":
            record = next((p for p in store.values() if p["key"] == record_id), None)
        if record is None or record.get("deleted"):
            raise ControlError(404, f"no {obj} record {record_id}")
        return record

    def control_list(self, obj: str, include_deleted: bool) -> list[Record]:
        live = [self._control_view(obj, r) for r in self._store(obj).values() if not r.get("deleted")]
        if include_deleted:
            if obj == "worklogs":
                live += [{"id": d["id"], "issueId": d["issueId"], "deleted": True, "deletedAt": d["deletedAt"]}
                         for d in self.deleted_worklogs.values()]
            elif obj == "issues":
                live += [{"id": d["id"], "key": d["key"], "deleted": True, "deletedAt": d["deletedAt"]}
                         for d in self.deleted_issues.values()]
            elif obj == "projects":
                live += [self._control_view(obj, r) for r in self.projects.values() if r.get("deleted")]
        return live

    def control_get(self, obj: str, record_id: str) -> Record:
        record = self._get(obj, record_id)
        return {"id": record.get("id", record.get("accountId")), "record": self._control_view(obj, record)}

    def _next_id(self, obj: str) -> str:
        if obj not in self._last_ids:
            existing = [int(k) for k in self._store(obj) if str(k).isdigit()]
            existing += [int(k) for k in {"worklogs": self.deleted_worklogs, "issues": self.deleted_issues}.get(obj, {})]
            self._last_ids[obj] = max(existing, default=10_000)
        self._last_ids[obj] += 1
        return str(self._last_ids[obj])

    def _touch_issue(self, issue_id: str, now: int) -> None:
        issue = self.issues.get(issue_id)
        if issue is not None:
            issue["updated"] = now

    def _apply(self, obj: str, record: Record, fields: dict[str, Any], now: int) -> None:
        fields = dict(fields)
        if obj == "issues":
            status = fields.pop("status", None)
            if status is not None:
                if status not in STATUS:
                    raise ControlError(400, f"unknown status {status!r}; known: {sorted(STATUS)}")
                was_done = STATUS[record.get("status", "To Do")][2] == "done"
                record["status"] = status
                if STATUS[status][2] == "done" and not was_done:
                    record["resolutiondate"] = now
                elif STATUS[status][2] != "done":
                    record["resolutiondate"] = None
            for name in ("summary", "assignee", "labels", "duedate", "fixVersions", "issuetype",
                         "timeoriginalestimate", "priority"):
                if name in fields:
                    record[name] = fields.pop(name)
            for name in [k for k in fields if k.startswith("customfield_")]:
                record[name] = fields.pop(name)
            record["updated"] = now
        elif obj == "worklogs":
            if "billable" in fields:
                billable = fields.pop("billable")
                record["properties"] = [p for p in record.get("properties", []) if p["key"] != BILLING_PROPERTY]
                if billable is not None:
                    record["properties"].append({"key": BILLING_PROPERTY, "value": {"billable": bool(billable)}})
            if "started" in fields:
                try:
                    record["started"] = parse_jira_time(str(fields.pop("started")))
                except ValueError as exc:
                    raise ControlError(400, f"started: {exc}") from None
            for name in ("timeSpentSeconds", "comment", "author"):
                if name in fields:
                    record[name] = fields.pop(name)
            record["updated"] = now
            record["updateAuthor"] = record.get("author")
            self._touch_issue(record["issueId"], now)
        elif obj == "projects":
            for name in ("name", "description", "lead", "key"):
                if name in fields:
                    record[name] = fields.pop(name)
            if "crm" in fields:
                record.setdefault("properties", {})["passerelle.crm"] = fields.pop("crm")
            if "properties" in fields:
                record.setdefault("properties", {}).update(fields.pop("properties") or {})
        elif obj == "versions":
            for name in ("name", "description", "released", "releaseDate", "startDate", "archived"):
                if name in fields:
                    record[name] = fields.pop(name)
        else:
            for name in ("displayName", "emailAddress", "active", "timeZone", "locale"):
                if name in fields:
                    record[name] = fields.pop(name)
        if fields:
            raise ControlError(400, f"unknown {obj} fields {sorted(fields)}")

    def control_create(self, obj: str, body: dict[str, Any]) -> Record:
        now = self.now_ms()
        fields = dict(body.get("fields") or {})
        if obj == "issues":
            project = self._get("projects", str(fields.pop("project", "")) or next(iter(self.projects)))
            number = 1 + max((int(i["key"].rsplit("-", 1)[1]) for i in [*self.issues.values(), *self.deleted_issues.values()]
                              if i["key"].startswith(project["key"] + "-")), default=0)
            record: Record = {"id": self._next_id(obj), "key": f"{project['key']}-{number}", "projectId": project["id"],
                              "summary": "Nouvelle tâche", "issuetype": "Task", "status": "To Do",
                              "assignee": None, "reporter": self.account["accountId"], "labels": [],
                              "created": now, "updated": now, "resolutiondate": None, "duedate": None,
                              "fixVersions": [], "timeoriginalestimate": None}
        elif obj == "worklogs":
            issue = self._get("issues", str(fields.pop("issueId", fields.pop("issue", "")) or next(iter(self.issues))))
            record = {"id": self._next_id(obj), "issueId": issue["id"], "author": self.account["accountId"],
                      "comment": "", "started": now, "timeSpentSeconds": 3600, "created": now, "updated": now,
                      "properties": []}
        elif obj == "projects":
            record = {"id": self._next_id(obj), "key": fields.pop("key", None) or f"NEW{len(self.projects)}",
                      "name": "Nouveau projet", "projectTypeKey": "software", "simplified": False, "style": "classic",
                      "isPrivate": False, "lead": self.account["accountId"], "description": "", "properties": {}}
        elif obj == "versions":
            project = self._get("projects", str(fields.pop("project", fields.pop("projectId", ""))) or next(iter(self.projects)))
            record = {"id": self._next_id(obj), "projectId": int(project["id"]), "name": "Nouveau jalon",
                      "description": "", "archived": False, "released": False}
        else:
            account = "712020:" + hashlib.sha1(f"{self.now_ms()}:{len(self.users)}:{next(self._bulk_serial)}".encode()).hexdigest()[:32]
            record = {"accountId": account, "accountType": "atlassian", "displayName": "Nouvel utilisateur",
                      "emailAddress": None, "active": True, "timeZone": self.zone, "locale": "fr_FR"}
        self._apply(obj, record, fields, now)
        record_id = record.get("id", record.get("accountId"))
        self._store(obj)[record_id] = record
        return {"id": record_id, "record": self._control_view(obj, record)}

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> Record:
        record = self._get(obj, record_id)
        self._apply(obj, record, dict(body.get("fields") or {}), self.now_ms())
        return {"id": record.get("id", record.get("accountId")), "record": self._control_view(obj, record)}

    def control_delete(self, obj: str, record_id: str) -> Record:
        record = self._get(obj, record_id)
        now = self.now_ms()
        if obj == "issues":
            del self.issues[record["id"]]
            self.deleted_issues[record["id"]] = {"id": record["id"], "key": record["key"], "deletedAt": now}
            for worklog in [w for w in self.worklogs.values() if w["issueId"] == record["id"]]:
                self._delete_worklog(worklog, now)
        elif obj == "worklogs":
            self._delete_worklog(record, now)
            self._touch_issue(record["issueId"], now)
        elif obj == "projects":
            record["deleted"] = True  # moved to the trash: its issues leave every search
        elif obj == "versions":
            del self.versions[record["id"]]
        else:
            del self.users[record["accountId"]]
        return {"id": record.get("id", record.get("accountId")), "deleted": True, "deletedAt": self.stamp(now)}

    def _delete_worklog(self, worklog: Record, now: int) -> None:
        del self.worklogs[worklog["id"]]
        self.deleted_worklogs[worklog["id"]] = {"id": worklog["id"], "issueId": worklog["issueId"], "deletedAt": now}

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        live = [k for k, r in self._store(obj).items() if not r.get("deleted")]
        if touch > len(live):
            raise ControlError(400, f"cannot touch {touch} {obj} records: only {len(live)} exist")
        touched = sorted(self._rng.sample(live, touch), key=str) if touch else []
        issues = sorted(self.issues)
        created = []
        for _ in range(create):
            serial = next(self._bulk_serial)
            seed: dict[str, Any] = {}
            if obj == "issues":
                seed = {"project": self.issues[self._rng.choice(issues)]["projectId"], "summary": f"Bulk task {serial:07d}"}
            elif obj == "worklogs":
                seed = {"issueId": self._rng.choice(issues), "timeSpentSeconds": 900 * self._rng.randint(1, 16),
                        "billable": True, "comment": f"Bulk worklog {serial:07d}"}
            created.append(self.control_create(obj, {"fields": seed})["id"])
        for record_id in touched:
            self.control_update(obj, record_id, {"fields": fields})
        result: dict[str, Any] = {"object": obj, "stamp": self.now_text(), "created": create, "touched": touch}
        if create + touch <= 10_000:
            result["created_ids"], result["touched_ids"] = created, touched
        return result


def jira_factory(dataset: dict[str, Any], directory: Any = None) -> JiraApp:
    """The ``vendors=`` factory for :func:`passerelle_sandbox.server.start_sandbox`."""
    return JiraApp(dataset)
