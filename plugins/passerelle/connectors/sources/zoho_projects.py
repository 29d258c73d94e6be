"""Zoho Projects (API v3, or the legacy REST API's lists): projects, task lists, tasks and subtasks,
milestones, users and time logs.

- Auth: the Zoho OAuth of :mod:`passerelle.connectors.sources.zoho` (refresh-token grant at the data
  centre's accounts server = the Connection's host, ``Zoho-oauthtoken``), with access tokens shared by
  every connection of the process until shortly before they expire
  (:mod:`passerelle.connectors.access_token_cache`): a refresh token yields at most 10 access tokens in
  10 minutes. API calls go to the Projects host of the token's data centre: ``api_domain``
  ``https://www.zohoapis.eu`` → ``https://projectsapi.zoho.eu`` (extra ``api_domain`` overrides it).
- Request budget: past 100 calls in 2 minutes Zoho locks the account out for 30 minutes, so every call
  first takes a slot of :class:`~passerelle.connectors.request_budget.RequestBudget` (default 90 per
  120 s, leaving room for other integrations; extras ``max_requests_per_window`` and
  ``request_window_seconds``), shared by the streams run one after the other in the ``zoho_projects_api``
  pool (one slot). A lock answer (429 ``URL_ROLLING_THROTTLES_LIMIT_EXCEEDED``) fails the window at once:
  waiting 30 minutes inside a task is worse than the next retry.
- No list has a modification filter and nothing lists deletions: portals' projects, users, task
  lists, milestones and tasks are listed in full and diffed with the previous listing (the kit's
  snapshot diff: changed records stamped ``observedAt`` = the window end, absences as tombstones).
- Tasks: ``/tasks`` lists main tasks only; each task whose ``has_subtasks`` is not false has its
  ``/subtasks`` read, recursively (subtasks nest), so no subtask is missed.
- Time logs: ``/timelogs`` by log date (``MM-DD-YYYY``) over the window and the trailing
  ``timelogs_rescan_days`` (30) before its end, diffed with what that span held last time: approvals
  and billing-status changes become new versions, logs gone from the span tombstones. Logs dated
  before the span are no longer watched.
- Paging: ``page``/``per_page`` (≤ 200) until ``page_info.has_next_page`` is false.
- Extra ``api_version`` ``legacy``: projects, tasks and subtasks are read from the legacy REST lists
  (``/restapi/portal/{portal}/projects/``, ``…/projects/{project}/tasks/`` per project, ``…/tasks/{task}/subtasks/``),
  paged by ``index``/``range`` (range ≤ 200; ``index`` 1-based as the REST doc says, ``legacy_index_base`` 0 for
  deployments counting from 0), ending on a short page or 204 No Content. The reference documents no legacy
  list usable for the other streams (time logs there are grouped by day, users and task lists absent): they
  stay on v3. The records are read as they come; the staging models expect v3's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, timezone
from typing import Any, Callable, Iterator, Literal
from urllib.parse import urlsplit

import requests
from pydantic import Field

from passerelle.connectors.access_token_cache import CachedAccessTokens
from passerelle.connectors.auth import RefreshTokenGrant
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonResponse, PinnedCASession, retry_after_header
from passerelle.connectors.paginators import (
    OffsetLimit, PageNumber, PageRequest, PageResponse, Paginator, Path, at, json_api_sender, paginate,
)
from passerelle.connectors.paging import PageCursor, UnusableResponseError
from passerelle.connectors.request_budget import RequestBudget
from passerelle.connectors.rest import ConnectionApi, RestStream, connection_api
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.snapshot import (
    STATE_KEY, VERSION_FIELD, SnapshotDiff, SnapshotReader, content_hash, iso, refuse_mass_deletion,
)
from passerelle.connectors.sources.zoho import ZohoApi, ZohoOptions
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.errors import AuthError, SourceUnavailableError, one_line
from passerelle.records import Window

V3 = "/api/v3/portal/{portal}"
LEGACY = "/restapi/portal/{portal}"
NO_CONTENT = b"null"
MAX_PER_PAGE = 200
RESCAN_DAYS = 30
FIRST_DAY = "2000-01-01"
LOCKED = "URL_ROLLING_THROTTLES_LIMIT_EXCEEDED"


class ZohoProjectsOptions(ZohoOptions):
    portal_id: str | None = Field(None, description="The portal to read.",
                                  json_schema_extra={"default_text": "the account's default portal"})
    api_domain: str | None = Field(None, description="Zoho Projects API host (https://projectsapi.zoho.eu...).",
                                   json_schema_extra={"default_text": "derived from the token's api_domain"})
    page_size: int = Field(MAX_PER_PAGE, ge=1, le=MAX_PER_PAGE, description="Records per page (per_page; legacy: range).")
    api_version: Literal["v3", "legacy"] = Field(
        "v3", description="API of the projects, tasks and subtasks lists: v3 (page/per_page) or legacy (index/range).")
    legacy_index_base: int = Field(1, ge=0, le=1, description="Index of the first record in legacy lists (REST doc: 1).")
    max_requests_per_window: int = Field(90, ge=1, description="Calls allowed per request window (Zoho: 100 per 2 min).")
    request_window_seconds: float = Field(120.0, gt=0, description="Length of the request window, in seconds.")
    timelogs_rescan_days: int = Field(RESCAN_DAYS, ge=0, description="Days of time logs re-read before each window end.")
    timelogs_since: str = Field(FIRST_DAY, description="First log date read by the first run (YYYY-MM-DD).")
    max_missing_ratio: float | None = Field(None, gt=0, le=1, description="Share of known records a listing may miss.")


@dataclass(frozen=True)
class HasNextPage(PageNumber):
    """``page``/``per_page`` until ``page_info.has_next_page`` is false (Zoho Projects v3)."""

    more_field: Path = "page_info.has_next_page"

    def next(self, request: PageRequest, response: PageResponse, items: list[Any],
             guard: PageCursor, base_url: str) -> PageRequest | None:
        if not items or not at(response.body, self.more_field, False):
            return None
        page = guard.advance(int(request.params[self.page_param]) + 1, len(items))
        return request.with_params(**{self.page_param: page})


def projects_domain(api_domain: str) -> str:
    """The Zoho Projects host of a token's data centre: ``www.zohoapis.<dc>`` → ``projectsapi.zoho.<dc>``."""
    parts = urlsplit(api_domain)
    host = parts.hostname or ""
    if host.startswith("www.zohoapis."):
        return f"https://projectsapi.zoho.{host[len('www.zohoapis.'):]}"
    return api_domain.rstrip("/")


def throttle_delay(response: requests.Response) -> float | None | bool:
    """429: the 30-minute lock fails the window at once; another 429 waits ``Retry-After``."""
    if response.status_code != 429:
        return False
    if LOCKED in response.text:
        raise SourceUnavailableError(f"Zoho Projects locked the account out: {one_line(response.text)[:300]}",
                                     check="other integrations using this portal's API budget (100 calls in 2 minutes); "
                                           "lower max_requests_per_window. Access comes back after 30 minutes")
    return retry_after_header(response)


class BudgetedSession(PinnedCASession):
    """Every request (retries included) takes a slot of the request budget first."""

    budget: RequestBudget | None = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if self.budget is not None:
            self.budget.acquire()
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class ApiVersion:
    """Where one version of the API lists records under the portal, and how it pages them."""

    base: str
    paging: Callable[["ZohoProjectsApi"], Paginator]
    legacy: bool = False
    """Legacy REST: paths end with a slash, main tasks are listed project by project, 204 ends a list."""

    def path(self, segment: str) -> str:
        return f"{self.base}/{segment}{'/' if self.legacy else ''}"


API_VERSIONS: dict[str, ApiVersion] = {
    "v3": ApiVersion(V3, lambda api: HasNextPage(api.page_size)),
    "legacy": ApiVersion(LEGACY, lambda api: OffsetLimit(api.page_size, offset_param="index", limit_param="range",
                                                         start=int(api.option("legacy_index_base", 1))),
                         legacy=True),
}


class ZohoProjectsApi(ZohoApi):
    """The Zoho API client on the Projects host; ``{portal}`` in a path is the Connection's portal."""

    _portal: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        session = BudgetedSession(self.verify, self.timeout, self.max_response_mb)
        config = self.config
        assert config is not None
        session.budget = RequestBudget(
            f"zoho_projects:{config.base_url}:{config.option('client_id', config.login or '')}:"
            f"{config.option('portal_id', '') or ''}",
            int(config.option("max_requests_per_window", 90)), float(config.option("request_window_seconds", 120.0)))
        self.http = session

    @property
    def page_size(self) -> int:
        return int(self.option("page_size", MAX_PER_PAGE))

    def version(self, has_legacy: bool) -> ApiVersion:
        """The API a list is read from: the Connection's ``api_version`` when the list has a legacy form, else v3."""
        return API_VERSIONS[str(self.option("api_version", "v3")) if has_legacy else "v3"]

    def check_response(self, response: requests.Response, stream: str) -> None:
        if response.status_code == 204:  # no (more) records: told apart from a page without its list
            response._content = NO_CONTENT
            return
        super().check_response(response, stream)

    def fetch(self, method: str, path: str, *, stream: str, **kwargs: Any) -> JsonResponse:
        domain = self.option("api_domain") or self.tokens.token().raw.get("api_domain")
        if not isinstance(domain, str) or not domain.startswith("https://"):
            raise AuthError(f"the token answer names no usable api_domain ({domain!r})",
                            check="the connection's host: the accounts server of the portal's data centre")
        self.base_url = domain.rstrip("/") if self.option("api_domain") else projects_domain(domain)
        if "{portal}" in path:
            path = path.replace("{portal}", self.portal(stream))
        return super(ZohoApi, self).fetch(method, path, stream=stream, **kwargs)

    def portal(self, stream: str) -> str:
        """The Connection's ``portal_id``, else the account's default (or only) portal."""
        if self._portal is None:
            configured = self.option("portal_id")
            if configured:
                self._portal = str(configured)
            else:
                body = self.request("GET", "/api/v3/portals", stream=stream)
                portals = [p for p in (body.get("portals") if isinstance(body, dict) else body) or [] if isinstance(p, dict)]
                chosen = next((p for p in portals if p.get("default")), portals[0] if len(portals) == 1 else None)
                if chosen is None:
                    raise AuthError(f"the account has {len(portals)} portals and none is the default",
                                    check="the connection's extra portal_id")
                self._portal = str(chosen["id"])
        return self._portal


def connect(config: SourceConfig, retry: RetrySettings) -> ConnectionApi:
    """The Connection's host is the accounts server; login/password the client id/secret; extra ``refresh_token``."""
    if not config.option("refresh_token"):
        raise AuthError("Zoho Projects needs an OAuth refresh token",
                        check="the connection's extra refresh_token (a Zoho self-client's)")
    grant = RefreshTokenGrant(
        token_url=f"{config.base_url}/oauth/v2/token", client_id=config.option("client_id", config.login or ""),
        client_secret=config.option("client_secret", config.password or ""),
        refresh_token=config.option("refresh_token"), verify=config.verify,
    )
    return connection_api("zoho_projects", config, retry, CachedAccessTokens(grant), api=ZohoProjectsApi,
                          throttle_delay=throttle_delay)


def listing(api: ZohoProjectsApi, segment: str, key: str, stream: str, params: dict[str, Any] | None = None,
            *, has_legacy: bool = False) -> Iterator[tuple[list[Any], str]]:
    """Every page of the list at ``segment`` under the portal: ``(records, location)``, from the API
    :meth:`ZohoProjectsApi.version` picks. A page without ``key`` is an unusable answer; 204 an empty page."""
    version = api.version(has_legacy)
    path = version.path(segment)
    request = PageRequest(path, params=params or {})
    for page in paginate(json_api_sender(api, stream), request, version.paging(api), records=key,
                         what=f"GET {path}", base_url=lambda: api.base_url):
        body = page.response.body
        if body is None and version.legacy:
            yield [], page.request.location
            continue
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            raise UnusableResponseError(f"GET {path}: expected '{key}' to be a list")
        yield page.items, page.request.location


def projects(api: ZohoProjectsApi, stream: str) -> Iterator[tuple[list[Any], str]]:
    return listing(api, "projects", "projects", stream, has_legacy=True)


def project_ids(api: ZohoProjectsApi, stream: str) -> list[str]:
    return [str(p["id"]) for items, _ in projects(api, stream)
            for p in items if isinstance(p, dict) and p.get("id") is not None]


def per_project(segment: str, key: str, has_legacy: bool = False) -> Any:
    """A listing of ``/projects/{id}/<segment>`` for every project."""

    def read(api: ZohoProjectsApi, stream: str) -> Iterator[tuple[list[Any], str]]:
        for project in project_ids(api, stream):
            yield from listing(api, f"projects/{project}/{segment}", key, stream, has_legacy=has_legacy)

    return read


def main_tasks(api: ZohoProjectsApi, stream: str) -> Iterator[tuple[list[Any], str]]:
    """v3 lists every project's main tasks at once; the legacy API project by project."""
    if api.version(has_legacy=True).legacy:
        return per_project("tasks", "tasks", has_legacy=True)(api, stream)
    return listing(api, "tasks", "tasks", stream)


def tasks_and_subtasks(api: ZohoProjectsApi, stream: str) -> Iterator[tuple[list[Any], str]]:
    """Main tasks of every project, then the subtasks of each task that has (or may have) some, level by level."""
    parents: list[dict[str, Any]] = []
    for items, location in main_tasks(api, stream):
        parents += [t for t in items if isinstance(t, dict)]
        yield items, location
    seen = {str(t.get("id")) for t in parents}
    while parents:
        below: list[dict[str, Any]] = []
        for task in parents:
            if task.get("has_subtasks") is False:
                continue
            project = (task.get("project") or {}).get("id") if isinstance(task.get("project"), dict) else None
            if project is None or task.get("id") is None:
                raise UnusableResponseError(f"task {task.get('id')!r} names no project: its subtasks cannot be read")
            segment = f"projects/{project}/tasks/{task['id']}/subtasks"
            for items, location in listing(api, segment, "tasks", stream, has_legacy=True):
                fresh = [t for t in items if isinstance(t, dict) and str(t.get("id")) not in seen]
                seen.update(str(t.get("id")) for t in fresh)
                below += fresh
                yield items, location
        parents = below


def _log_date(item: dict[str, Any]) -> str | None:
    value = item.get("date")
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class TimeLogReader:
    """Time logs dated in the window or the re-scanned span before its end, diffed with that span's last listing."""

    diff: SnapshotDiff = SnapshotDiff()

    def span(self, api: ZohoProjectsApi, window: Window) -> tuple[date, date]:
        last = (window.end - timedelta(microseconds=1)).astimezone(timezone.utc).date()
        rescan = last - timedelta(days=int(api.option("timelogs_rescan_days", RESCAN_DAYS)))
        if window.start is None:
            return date.fromisoformat(str(api.option("timelogs_since", FIRST_DAY))), last
        return min(rescan, window.start.astimezone(timezone.utc).date()), last

    def pages(self, api: ZohoProjectsApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        first, last = self.span(api, window)
        known: dict[str, list[Any]] = {str(k): list(v) for k, v in (state.get(STATE_KEY) or {}).items()}
        watched = {k for k, v in known.items() if len(v) > 2 and v[2] is not None and first.isoformat() <= v[2] <= last.isoformat()}
        params = {"view_type": "customdate", "start_date": first.strftime("%m-%d-%Y"), "end_date": last.strftime("%m-%d-%Y")}
        seen: set[str] = set()
        for items, location in listing(api, "timelogs", "timelogs", stream.name, params):
            changed = []
            for item in items:
                key = item.get("id") if isinstance(item, dict) else None
                if key is None or isinstance(key, bool) or not isinstance(key, (str, int)):
                    changed.append(item)  # the engine names it
                    continue
                digest, day = content_hash(item), _log_date(item)
                seen.add(str(key))
                before = known.get(str(key))
                if before and before[0] == digest:
                    continue
                version = iso(window.end)
                known[str(key)] = [digest, version, day]
                changed.append({**item, VERSION_FIELD: version})
            if changed:
                yield RawPage(changed, location)
        gone = sorted(watched - seen)
        ratio = api.option("max_missing_ratio", None)
        ratio = self.diff.max_missing_ratio if ratio is None else float(ratio)
        refuse_mass_deletion(f"{stream.name}: the listing", len(gone), len(watched), ratio,
                             noun="time logs of the re-scanned span", min_known=self.diff.min_known,
                             setting="max_missing_ratio")
        if gone:
            yield RawPage([{"id": key, "deleted": True, VERSION_FIELD: iso(window.end), "date": known.pop(key)[2]}
                           for key in gone], f"{stream.name} no longer listed between {first} and {last}")
        for key in [k for k, v in known.items() if len(v) > 2 and v[2] is not None and v[2] < first.isoformat()]:
            known.pop(key)  # left the re-scanned span: its later edits are no longer watched
        state[STATE_KEY] = known


def _snapshot_stream(name: str, listing_of: Any, description: str) -> StreamSpec:
    return StreamSpec(name=name, primary_key="id", cursor_field=VERSION_FIELD, deleted_field="deleted",
                      deleted_cursor_field=VERSION_FIELD, description=description,
                      readers=(SnapshotReader(listing_of, ratio_option="max_missing_ratio"),))


def _listed(name: str, description: str) -> StreamSpec:
    """A portal-wide list (one request per 200 records), diffed with the previous run."""
    return RestStream(name, f"{V3}/{name}", records=name, require_records=True, description=description,
                      paginator=HasNextPage(MAX_PER_PAGE), incremental=SnapshotDiff("id"),
                      ratio_option="max_missing_ratio").spec()


ZOHO_PROJECTS = SourceSpec(
    name="zoho_projects",
    title="Zoho Projects",
    connect=connect,
    options=ZohoProjectsOptions,
    tags=("pm",),
    streams=(
        _snapshot_stream("projects", projects, "Projects with their client company, billing status and CRM account/deal"),
        _listed("users", "Portal users (task owners, who logged time)"),
        _snapshot_stream("tasklists", per_project("tasklists", "tasklists"), "Task lists of every project"),
        _snapshot_stream("milestones", per_project("milestones", "milestones"), "Milestones with status and end date"),
        _snapshot_stream("tasks", tasks_and_subtasks, "Tasks and subtasks (status, priority, owners, dates, % complete)"),
        StreamSpec(name="timelogs", primary_key="id", cursor_field=VERSION_FIELD, deleted_field="deleted",
                   deleted_cursor_field=VERSION_FIELD, readers=(TimeLogReader(),),
                   description="Time logs (hours, billing and approval status), re-read over a trailing span"),
    ),
    doc="""Extracts Zoho Projects (API v3: projects, task lists, tasks and subtasks, milestones, users, time logs).

Connection `passerelle_zoho_projects`: host = the data centre's accounts server (`https://accounts.zoho.eu`...),
login = client id, password = client secret, extra `{"refresh_token": ..., "portal_id": ...}` (a self-client's,
scopes `ZohoProjects.portals.READ,ZohoProjects.projects.READ,ZohoProjects.tasklists.READ,ZohoProjects.tasks.READ,
ZohoProjects.milestones.READ,ZohoProjects.timesheets.READ,ZohoProjects.users.READ`). Other extras:
`max_requests_per_window` (90) and `request_window_seconds` (120), `timelogs_rescan_days` (30), `timelogs_since`,
`page_size`, `api_domain`, `api_version` (`v3`; `legacy`: projects, tasks and subtasks from the legacy REST lists,
paged by index/range) and `legacy_index_base` (1).
""",
)

