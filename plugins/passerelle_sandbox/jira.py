"""Jira Cloud REST v3 emulator: enhanced JQL search, worklog change feeds, projects, versions, users.

Behaviour follows ``vendor-apis-pm.md`` §4:

- basic auth ``email:api_token`` only; anything else is a 401 with Jira's error body
  ``{"errorMessages": [...], "errors": {}}``;
- ``GET|POST /rest/api/3/search/jql``: ``nextPageToken`` + ``isLast`` paging (no ``total``; the token
  is omitted on the last page), ids only unless ``fields`` is asked, ``maxResults`` silently capped
  (``search_max_results_ids`` / ``search_max_results_fields``), unbounded JQL refused; the retired
  ``/rest/api/{2,3}/search`` answers 410 Gone. A page token pins the result list of the first page,
  so a query pages consistently while issues change (an assumption: Jira documents none);
- search is eventually consistent: an issue created through the API stays out of JQL results for
  ``search_index_lag_seconds`` (0 by default) while ``GET /issue/{key}`` sees it at once;
  ``reconcileIssues`` (≤50 ids) brings such issues into the result, as Jira documents;
- JQL date strings are read in the API account's time zone (config ``time_zone``, exposed by
  ``GET /rest/api/3/myself``); epoch-millisecond literals are absolute;
- ``/worklog/updated`` and ``/worklog/deleted``: ``since`` (exclusive, epoch ms), pages of
  ``worklog_page_size`` with ``until``/``nextPage``/``lastPage``, nothing from the last
  ``worklog_feed_lag_seconds`` (Jira hides the minute preceding the request); ``POST /worklog/list``
  for ≤1000 ids; deleting an issue deletes its worklogs into the deleted feed; issues themselves
  have no deletion feed;
- a rolling-window burst limiter: 429 with ``Retry-After``, ``X-RateLimit-Limit/-Remaining/-Reset``,
  ``X-RateLimit-NearLimit`` and ``RateLimit-Reason: jira-burst-based``.

``/rest/api/2`` (and ``latest``) serve the same routes, rendering rich text as strings
(:mod:`passerelle_sandbox.jira_common`). Site metadata lives in :mod:`passerelle_sandbox.jira_meta`,
an issue's worklogs, comments, transitions and changelog in :mod:`passerelle_sandbox.jira_reads`,
issue writes in :mod:`passerelle_sandbox.jira_writes` and the control hooks in
:mod:`passerelle_sandbox.jira_control`.

Data: ``dataset["jira"]`` when present, else :func:`build_jira_dataset` of the CRM dataset.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlencode

from werkzeug.routing import Map
from werkzeug.wrappers import Response

from passerelle_sandbox.clock import canonical_ms, epoch_ms, from_canonical
from passerelle_sandbox.core import Call, VendorApp, VendorError, correlation_id, json_response
from passerelle_sandbox.dataset_jira import STATUSES, build_jira_dataset, jira_time
from passerelle_sandbox.faults import FaultSpec
from passerelle_sandbox.jira_common import API_VERSION, jira_error, rich_text, rule, versioned_path
from passerelle_sandbox.jira_control import JiraControlMixin
from passerelle_sandbox.jira_jql import JqlError, compile_jql
from passerelle_sandbox.jira_meta import CATEGORY_IDS, ISSUE_TYPE_IDS, META_RULES, JiraMetaMixin
from passerelle_sandbox.jira_reads import READ_RULES, JiraReadsMixin
from passerelle_sandbox.jira_writes import WRITE_RULES, JiraWritesMixin
from passerelle_sandbox.paging import offset_page, pack, unpack
from passerelle_sandbox.rate_limits import SlidingWindow
from passerelle_sandbox.store import Collection, Stamps, Tombstone

Record = dict[str, Any]
API_TOKEN = "ATATT3xFfGF0sandbox-passerelle-jira-token-7c1e9a44"
SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
NAVIGABLE = ("summary", "status", "statusCategory", "issuetype", "project", "assignee", "reporter", "labels",
             "created", "updated", "resolutiondate", "resolution", "duedate", "fixVersions", "priority",
             "timeoriginalestimate", "timespent", "description", "components", "parent")
EVERY_FIELD = ("comment", "worklog", "subtasks")
STATUS = {s[1]: s for s in STATUSES}
MAX_WORKLOG_IDS = 1000
WORKLOG_STAMPS = Stamps(modified="updated", render=lambda stamp: epoch_ms(from_canonical(stamp)), parse=canonical_ms)
"""A worklog's ``updated`` is kept in epoch milliseconds, as the feeds answer it."""
ISSUE_STAMPS = Stamps(modified="updated", created="created", render=WORKLOG_STAMPS.render, parse=canonical_ms)
"""An issue's ``created``/``updated`` are kept in epoch milliseconds too; deleted issues stay as tombstones."""
FeedReader = Callable[[dict[str, Any]], list[tuple[int, str, list[Record]]]]


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


class JiraApp(JiraMetaMixin, JiraReadsMixin, JiraWritesMixin, JiraControlMixin, VendorApp):
    vendor = "jira"
    url_map = Map(
        [
            *META_RULES, *READ_RULES, *WRITE_RULES,
            rule("/rest/api/3/myself", "myself"),
            rule("/rest/api/3/search/jql", "search", ("GET", "POST")),
            rule("/rest/api/3/search/approximate-count", "count", ("POST",)),
            rule("/rest/api/3/search", "search_gone", ("GET", "POST")),
            rule("/rest/api/2/search", "search_gone", ("GET", "POST")),
            rule("/rest/api/3/issue/<id_or_key>", "issue"),
            rule("/rest/api/3/project/search", "projects"),
            rule("/rest/api/3/project/<key>/version", "versions_paged"),
            rule("/rest/api/3/project/<key>/versions", "versions_list"),
            rule("/rest/api/3/project/<key>/properties/<prop>", "project_property"),
            rule("/rest/api/3/worklog/updated", "worklogs_updated"),
            rule("/rest/api/3/worklog/deleted", "worklogs_deleted"),
            rule("/rest/api/3/worklog/list", "worklog_list", ("POST",)),
            rule("/rest/api/3/users/search", "users"),
        ],
        strict_slashes=False,
    )

    def __init__(self, dataset: dict[str, Any]) -> None:
        self._calls = SlidingWindow(lambda: float(self.config["burst_window_seconds"]),
                                    lambda: int(self.config["burst_limit"]))
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
            "search_index_lag_seconds": 0,
            "worklog_page_size": 1000,
            "worklog_feed_lag_seconds": 60,
            "page_max_results": 50,
            "users_max_results": 1000,
        }

    def on_reset(self) -> None:
        self._calls.clear()
        self._snapshots.clear()

    def load(self) -> None:
        section = self.dataset.get("jira") or build_jira_dataset(self.dataset)
        self.site = section
        self.account = dict(section["account"])
        self.users: dict[str, Record] = {u["accountId"]: dict(u) for u in section["users"]}
        self.projects: dict[str, Record] = {p["id"]: json.loads(json.dumps(p)) for p in section["projects"]}
        self.versions: dict[str, Record] = {v["id"]: dict(v) for v in section["versions"]}
        self.issues = Collection(ISSUE_STAMPS, self.clock, order=int, lock=self.lock)
        issues = json.loads(json.dumps(section["issues"]))
        for issue in issues:
            for name in ("created", "updated", "resolutiondate"):
                issue[name] = parse_jira_time(issue[name]) if issue.get(name) else None
        self.issues.load(issues)
        self.worklogs = Collection(WORKLOG_STAMPS, self.clock, order=int, lock=self.lock)
        for worklog in section["worklogs"]:
            copy = json.loads(json.dumps(worklog))
            for name in ("created", "updated", "started"):
                copy[name] = parse_jira_time(copy[name])
            self.worklogs.load([copy])
        for gone in section.get("deleted_worklogs", []):
            worklog_id = str(gone["worklogId"])
            self.worklogs.bury(Tombstone(worklog_id, {"id": worklog_id, "issueId": None},
                                         canonical_ms(int(gone["updatedTime"]))))
        self._api_token_revoked = False
        self._rng = random.Random(f"{self.dataset.get('seed')}:jira:sandbox")
        self._bulk_serial = itertools.count(1)
        self._last_ids: dict[str, int] = {}
        self.load_meta()
        self.load_issue_children()
        self.load_write_counters()

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

    parse_time = staticmethod(parse_jira_time)

    def _serve(self, request: Any) -> Response:
        """Serve ``/rest/api/2`` and ``/rest/api/latest`` with the version-3 routes, rendering version 2."""
        version, path = versioned_path(request.path)
        if path != request.path:
            request.environ["PATH_INFO"] = path[len(request.script_root):] if request.script_root else path
        token = API_VERSION.set(version)
        try:
            return super()._serve(request)
        finally:
            API_VERSION.reset(token)

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

    def enforce_limits(self, call: Call) -> None:
        if not self.config["enforce_rate_limits"]:
            return
        if not self._calls.take():
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
            if self._calls.calls() >= 0.8 * int(self.config["burst_limit"]):
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
            "self": f"{self.api_root}/user?accountId={account_id}", "accountId": account_id,
            "displayName": user.get("displayName"), "active": bool(user.get("active")),
            "timeZone": user.get("timeZone"), "accountType": user.get("accountType", "atlassian"),
        }
        if user.get("emailAddress"):
            ref["emailAddress"] = user["emailAddress"]
        return ref

    def version_ref(self, version: Record) -> Record:
        ref = {"self": f"{self.api_root}/version/{version['id']}", "id": version["id"],
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
            "self": f"{self.api_root}/project/{project['id']}", "id": project["id"],
            "key": project["key"], "name": project["name"],
            "avatarUrls": {"48x48": f"{self.api_root}/universal_avatar/view/type/project/avatar/10400"},
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
                        "id": issue["id"], "self": f"{self.api_root}/issue/{issue['id']}", "key": issue["key"]}
        if not wanted:
            return body
        project = self.projects[issue["projectId"]]
        status = STATUS[issue["status"]]
        category = {"self": f"{self.api_root}/statuscategory/{CATEGORY_IDS[status[2]]}",
                    "id": CATEGORY_IDS[status[2]], "key": status[2], "name": status[3]}
        spent = sum(w["timeSpentSeconds"] for w in self.worklogs.values() if w["issueId"] == issue["id"])
        values: Record = {
            "summary": issue["summary"],
            "status": {"self": f"{self.api_root}/status/{status[0]}", "id": status[0], "name": status[1],
                       "statusCategory": category},
            "statusCategory": category,
            "issuetype": self.render_issue_type(ISSUE_TYPE_IDS.get(issue["issuetype"], "10001")),
            "project": {"self": f"{self.api_root}/project/{project['id']}", "id": project["id"],
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
            "description": rich_text(issue.get("description")),
            "components": [self.component_ref(self.components[c]) for c in issue.get("components") or []
                           if c in self.components],
            "parent": self._parent_ref(issue.get("parent")),
        }
        if wanted & set(EVERY_FIELD):
            values.update(self._children(issue))
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
                    if name == "*all":
                        wanted.update(EVERY_FIELD)
                elif name.startswith("-"):
                    wanted.discard(name[1:])
                elif name and name != "id" and name != "key":
                    wanted.add(name)
        return wanted

    def _parent_ref(self, parent_id: str | None) -> Record | None:
        parent = self.issues.get(parent_id) if parent_id else None
        if parent is None:
            return None
        status = STATUS[parent["status"]]
        return {"id": parent["id"], "key": parent["key"], "self": f"{self.api_root}/issue/{parent['id']}",
                "fields": {"summary": parent["summary"], "status": self.render_status(status),
                           "issuetype": self.render_issue_type(ISSUE_TYPE_IDS.get(parent["issuetype"], "10001"))}}

    def _children(self, issue: Record) -> Record:
        """The ``comment``, ``worklog`` and ``subtasks`` fields: first pages, as ``*all`` embeds them."""
        comments = sorted(self.comments.get(issue["id"], []), key=lambda c: (c["created"], int(c["id"])))
        worklogs = sorted((w for w in self.worklogs.values() if w["issueId"] == issue["id"]),
                          key=lambda w: (w["created"], int(w["id"])))
        subtasks = [i for i in self.issues.values() if i.get("parent") == issue["id"] and i["issuetype"] == "Subtask"]
        return {
            "comment": {"comments": [self.render_comment(issue, c) for c in comments], "self": f"{self.api_root}/issue/{issue['id']}/comment",
                        "maxResults": len(comments), "total": len(comments), "startAt": 0},
            "worklog": {"startAt": 0, "maxResults": 20, "total": len(worklogs),
                        "worklogs": [self.render_worklog(w, False) for w in worklogs[:20]]},
            "subtasks": [self._parent_ref(i["id"]) for i in subtasks],
        }

    def render_worklog(self, worklog: Record, with_properties: bool) -> Record:
        body = {
            "self": f"{self.api_root}/issue/{worklog['issueId']}/worklog/{worklog['id']}",
            "author": self.user_ref(worklog["author"]),
            "updateAuthor": self.user_ref(worklog.get("updateAuthor") or worklog["author"]),
            "comment": rich_text(worklog.get("comment") or ""),
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
            "parent": [issue["parent"], self.issues[issue["parent"]]["key"]] if issue.get("parent") in self.issues else None,
        }

    def _matching(self, jql: str, reconcile: frozenset[str] = frozenset()) -> list[str]:
        try:
            predicate, order = compile_jql(jql, zone=self.zone, now_ms=self.now_ms())
        except JqlError as exc:
            raise jira_error(400, str(exc)) from None
        except ValueError as exc:
            raise jira_error(400, f"Error in the JQL Query: {exc}") from None
        now = self.now_ms()
        indexed = [i for i in self._visible_issues() if i.get("indexedAt", 0) <= now or i["id"] in reconcile]
        views = [self._issue_view(i) for i in indexed]
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
            expand = body.get("expand") or ""
            return {"jql": body.get("jql", ""), "token": body.get("nextPageToken"), "max": body.get("maxResults"),
                    "fields": fields, "properties": body.get("properties") or [],
                    "expand": expand.split(",") if isinstance(expand, str) else list(expand),
                    "reconcile": body.get("reconcileIssues") or []}
        args = call.request.args
        fields = args.getlist("fields") or None
        return {"jql": args.get("jql", ""), "token": args.get("nextPageToken"), "max": args.get("maxResults"),
                "fields": fields, "properties": args.getlist("properties"), "expand": self._csv(call, "expand"),
                "reconcile": self._csv(call, "reconcileIssues")}

    def on_search(self, call: Call) -> Response:
        args = self._search_args(call)
        try:
            limit = int(args["max"]) if args["max"] is not None else int(self.config["search_default_max_results"])
        except (TypeError, ValueError):
            raise jira_error(400, "maxResults must be an integer") from None
        reconcile = args["reconcile"]
        if not isinstance(reconcile, list) or len(reconcile) > 50 or not all(str(r).isdigit() for r in reconcile):
            raise jira_error(400, "reconcileIssues accepts at most 50 issue IDs.")
        fields = args["fields"]
        cap_key = "search_max_results_fields" if fields and self._field_set(fields) else "search_max_results_ids"
        limit = max(1, min(limit, int(self.config[cap_key])))
        fingerprint = hashlib.sha1(str(args["jql"]).encode()).hexdigest()[:12]
        with self.lock:
            if args["token"]:
                snapshot_id, offset = self._read_token(str(args["token"]), fingerprint)
                ids = self._snapshots[snapshot_id]
            else:
                ids = self._matching(str(args["jql"]), frozenset(str(r) for r in reconcile))
                snapshot_id, offset = f"s{next(self._snapshot_ids)}", 0
                self._snapshots[snapshot_id] = ids
                while len(self._snapshots) > 500:
                    self._snapshots.popitem(last=False)
            page = offset_page(ids, offset, limit)
            issues = [self.render_issue(self.issues[i], fields) for i in page.items
                      if i in self.issues and not self.projects[self.issues[i]["projectId"]].get("deleted")]
            if "changelog" in [e.strip() for e in args["expand"]]:
                for body_issue in issues:
                    body_issue["changelog"] = self.changelog_page(self.issues[body_issue["id"]])
            self._add_properties(issues, self._property_keys(args["properties"]))
        body: Record = {"issues": issues}
        if page.has_more:
            body["nextPageToken"] = self._token(snapshot_id, page.end, fingerprint)
            body["isLast"] = False
        else:
            body["isLast"] = True
        return json_response(body)

    @staticmethod
    def _token(snapshot_id: str, offset: int, fingerprint: str) -> str:
        return pack({"s": snapshot_id, "o": offset, "q": fingerprint})

    def _read_token(self, token: str, fingerprint: str) -> tuple[str, int]:
        try:
            data = unpack(token)
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
        fields = call.request.args.getlist("fields") or ["*all"]
        with self.lock:
            issue = self.visible_issue(id_or_key)
            body = self.render_issue(issue, fields)
            if "changelog" in self._csv(call, "expand"):
                body["changelog"] = self.changelog_page(issue)
            self._add_properties([body], self._property_keys(call.request.args.getlist("properties")))
            return json_response(body)

    @staticmethod
    def _property_keys(requested: list[str]) -> list[str]:
        """``properties`` of a search or issue read: keys, listed or comma-separated (``*all`` is not served)."""
        return [key.strip() for raw in requested for key in str(raw).split(",") if key.strip()]

    def _add_properties(self, bodies: list[Record], keys: list[str]) -> None:
        """The requested issue properties that are set, as Jira answers them (an object by key)."""
        if not keys:
            return
        for body in bodies:
            stored = self.issues[body["id"]].get("properties") or {}
            body["properties"] = {key: stored[key] for key in keys if key in stored}

    def _paging(self, call: Call, default: int | None = None) -> tuple[int, int]:
        args = call.request.args
        try:
            start = int(args.get("startAt", 0))
            size = int(args.get("maxResults", default or self.config["page_max_results"]))
        except ValueError:
            raise jira_error(400, "startAt and maxResults must be integers") from None
        return max(0, start), max(1, min(size, int(default or self.config["page_max_results"])))

    def _page(self, call: Call, values: list[Record], start: int, size: int) -> Record:
        page = offset_page(values, start, size)
        body: Record = {"self": call.request.url, "maxResults": size, "startAt": start, "total": page.total,
                        "isLast": not page.has_more, "values": page.items}
        if page.has_more:
            args = dict(call.request.args)
            args.update({"startAt": str(page.end), "maxResults": str(size)})
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

    def _feed(self, call: Call, read: FeedReader, path: str) -> Response:
        """One page of ``/worklog/updated`` or ``/worklog/deleted``: ``read`` answers (time, id, properties)
        entries with ``since < time ≤ horizon`` from the store's index, at most ``limit`` of them."""
        try:
            since = int(call.request.args.get("since", 0))
        except ValueError:
            raise jira_error(400, "since must be a UNIX timestamp in milliseconds") from None
        horizon = self.now_ms() - int(float(self.config["worklog_feed_lag_seconds"]) * 1000)
        size = int(self.config["worklog_page_size"])
        window = {"low": canonical_ms(since) if since >= 0 else None, "high": canonical_ms(horizon),
                  "low_inclusive": False, "high_inclusive": True, "limit": size + 1}
        visible = read(window) if since < horizon else []
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
            return self._feed(call, lambda window: [
                (w["updated"], w["id"], [dict(p) for p in w.get("properties", [])])
                for w in self.worklogs.changed_between(**window)], "/rest/api/3/worklog/updated")

    def on_worklogs_deleted(self, call: Call) -> Response:
        with self.lock:
            return self._feed(call, lambda window: [
                (epoch_ms(from_canonical(t.deleted_at)), t.id, []) for t in self.worklogs.deleted_between(**window)],
                "/rest/api/3/worklog/deleted")

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


def jira_factory(dataset: dict[str, Any], directory: Any = None) -> JiraApp:
    """The ``vendors=`` factory for :func:`passerelle_sandbox.server.start_sandbox`."""
    return JiraApp(dataset)
