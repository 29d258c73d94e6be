"""Jira Cloud REST v3: projects, versions (milestones), issues, worklogs (time entries) and users.

- Auth: basic ``email:api_token`` (the connection's login and password). A refused token cannot be
  refreshed: the run fails fast with :class:`AuthError`.
- Issues: ``POST /rest/api/3/search/jql`` paged by ``nextPageToken`` until ``isLast``, with
  ``updated >= <ms> AND updated < <ms>`` bounds written as **epoch milliseconds**. Bare JQL dates
  (``"2026-03-01 10:00"``) are read in the API account's profile time zone, so a connector that
  renders UTC bounds silently skips or repeats hours of changes; millisecond literals are absolute.
  The lower bound is moved back one minute and the upper one forward one minute (JQL dates are
  minute-grained) and items are then kept client-side on the exact window.
- Deleted issues have no feed: a census lists every issue id of every visible project (ids only,
  5,000 per page) and ids known from earlier runs that are gone become tombstones (cursor
  ``deletedAt`` = the window end). Known ids live in the stream state committed with the window. The
  census runs every run by default (extra ``issue_census_every_hours`` to space it out) and refuses
  to delete more than ``census_max_missing_ratio`` (default 0.5) of the known issues at once, which
  would rather mean a permission or project-visibility change than deletions.
- Worklogs: ``GET /worklog/updated?since=<ms>`` then ``POST /worklog/list`` (≤1000 ids) with their
  properties; ``GET /worklog/deleted?since=<ms>`` gives tombstones. Both feeds hide the minute before
  the request: the source lookback (15 minutes) re-reads it on the next run. A feed page is
  continued from ``until - 1`` and de-duplicated, so a page cut inside a run of equal timestamps
  loses nothing; more than a page of worklogs on one millisecond is an error, not a silent gap.
- Projects, versions and users carry no modification time: each run lists them, emits those whose
  content changed since the last run (a hash per id kept in the stream state) with ``observedAt`` =
  the window end as cursor, and tombstones the ones that disappeared.

Conventions (the CRM link and billing are not Jira concepts):

- **CRM deal of a project**: the project property ``passerelle.crm`` =
  ``{"crm": "salesforce"|"hubspot", "dealId": "...", "customerId": "..."}``, read with
  ``project/search?properties=passerelle.crm`` and kept under ``properties`` in the raw project.
  Projects without it are matched downstream by customer name in the project name (and flagged when
  the name is ambiguous or matches nothing).
- **Billable time**: the worklog property ``passerelle.billing`` = ``{"billable": true|false}``;
  when absent, ``staging.time_entries.billable`` is NULL (unknown) and the invoicing rules decide
  (for instance from the project's default). (Tempo's billable seconds are out of scope.)
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import requests

from passerelle.connectors.paging import max_response_mb
from passerelle.connectors.paginators import CursorToken, OffsetLimit, PageRequest, Send, json_api_sender, paginate
from passerelle.connectors.snapshot import Listing, SnapshotDiff, SnapshotReader, refuse_mass_deletion
from passerelle.connectors.auth import Token
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi, retry_after_header
from passerelle.connectors.rest import RestReader, RestStream
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import epoch_ms, parse_timestamp
from passerelle.errors import AuthError, BadRecordError, SourceUnavailableError
from passerelle.records import Window

log = logging.getLogger(__name__)

API = "/rest/api/3"
CRM_PROPERTY = "passerelle.crm"
DEAL_EPIC_LABEL = "passerelle-affaire"
"""The label of an epic that delivers a CRM deal (the epic is then a project of its own, see ``deal_epics``)."""
DEAL_EPICS = f'issuetype = Epic AND labels = "{DEAL_EPIC_LABEL}"'
MINUTE_MS = 60_000
ISSUE_PAGE = 100
CENSUS_PAGE = 5000
CENSUS_PROJECTS_PER_QUERY = 100
WORKLOG_IDS_PER_CALL = 1000
SEARCH_PAGES = CursorToken("nextPageToken", "nextPageToken", in_body=True, last_field="isLast")
"""Enhanced JQL search: ``nextPageToken`` sent back in the POST body until ``isLast``."""


def throttle_delay(response: requests.Response) -> float | None | bool:
    """Jira throttles with 429 + ``Retry-After`` (seconds), else ``X-RateLimit-Reset`` (ISO minute)."""
    if response.status_code != 429:
        return False
    explicit = retry_after_header(response)
    if explicit is not None:
        return explicit
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, (parse_timestamp(reset.replace("Z", "+00:00")) - datetime.now(timezone.utc)).total_seconds())
        except ValueError:
            pass
    return None


@dataclass
class ApiTokenCredentials:
    """Atlassian account email + API token, sent as HTTP basic auth. Tokens expire (≤ 1 year)."""

    email: str
    api_token: str = field(repr=False)

    def header(self) -> str:
        raw = f"{self.email}:{self.api_token}".encode("utf-8")
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def token(self) -> Token:
        return Token(self.api_token)

    def refresh(self) -> Token:
        raise AuthError(
            f"Jira refused the API token of {self.email} (expired or revoked?); create a new one and update the connection"
        )


@dataclass
class BasicAuthJsonApi(JsonApi):
    """:class:`JsonApi` with a basic ``Authorization`` header instead of a bearer token."""

    def authorization(self) -> str:
        assert isinstance(self.tokens, ApiTokenCredentials)
        return self.tokens.header()


@dataclass
class JiraSession:
    api: BasicAuthJsonApi
    config: SourceConfig

    def option(self, name: str, default: Any) -> Any:
        value = self.config.option(name)
        return default if value is None else value


def connect(config: SourceConfig, retry: RetrySettings) -> JiraSession:
    credentials = ApiTokenCredentials(config.login or "", config.password or "")
    api = BasicAuthJsonApi(
        source="jira", base_url=config.base_url, tokens=credentials, retry=retry, verify=config.verify, max_response_mb=max_response_mb(config),
        throttle_delay=throttle_delay,
    )
    return JiraSession(api, config)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _sender(session: JiraSession, stream: str) -> Send:
    return json_api_sender(session.api, stream)


def _offset(session: JiraSession, stream: str, path: str, size: int = 50, last: str | None = "isLast",
            records: str | None = "values", **params: Any) -> Iterator[tuple[list[Any], str]]:
    """``startAt``/``maxResults`` listings (project search, project versions, users)."""
    paginator = OffsetLimit(size, "startAt", "maxResults", last_field=last)
    for page in paginate(_sender(session, stream), PageRequest(path, params=params), paginator,
                         records=records, what=f"GET {path}", base_url=session.api.base_url):
        if not isinstance(page.items, list):
            raise BadRecordError("jira", stream, f"(response of {page.request.location})", "expected a JSON array")
        yield page.items, page.request.location


def _api(session: JiraSession) -> BasicAuthJsonApi:
    return session.api


PROJECTS = RestStream(
    "projects", f"{API}/project/search", records="values",
    paginator=OffsetLimit(50, "startAt", "maxResults", last_field="isLast"),
    params=(("expand", "description,lead"), ("properties", CRM_PROPERTY)),
    incremental=SnapshotDiff(), client=_api,
    description="Projects with the passerelle.crm property (CRM deal/customer link)",
)


def list_projects(session: JiraSession, stream: str) -> Iterator[tuple[list[Any], str]]:
    return RestReader(PROJECTS).listing(session, stream)


def all_projects(session: JiraSession, stream: str) -> list[dict[str, Any]]:
    return [p for items, _ in list_projects(session, stream) for p in items]


# --------------------------------------------------------------------------- snapshot streams
# Projects, versions and users carry no modification time: a snapshot diff (``observedAt`` = window end).


def list_versions(session: JiraSession, stream: str) -> Iterator[tuple[list[Any], str]]:
    for project in all_projects(session, stream):
        for values, location in _offset(session, stream, f"{API}/project/{project['id']}/version"):
            yield [{**v, "projectKey": project.get("key")} for v in values], location


def list_users(session: JiraSession, stream: str) -> Iterator[tuple[list[Any], str]]:
    size = int(session.option("users_page_size", 1000))
    return _offset(session, stream, f"{API}/users/search", size=size, last=None, records=None)


# ----------------------------------------------------------------------------------- issues


def _known_ids(state: dict[str, Any]) -> set[str]:
    return {str(i) for i in state.get("known_ids") or []}


def _save_known(state: dict[str, Any], known: set[str]) -> None:
    state["known_ids"] = sorted(known, key=lambda i: (len(i), i))


@dataclass(frozen=True)
class IssueChangesReader:
    """Issues updated inside the window, via enhanced JQL search with epoch-millisecond bounds.

    ``scope`` narrows the search (a JQL condition, e.g. a label); ``properties`` are issue properties read
    with each issue and kept under ``properties`` in raw."""

    scope: str = ""
    properties: tuple[str, ...] = ()

    def jql(self, window: Window) -> str:
        bounds = [f"updated < {epoch_ms(window.end) + MINUTE_MS}"]
        if window.start is not None:
            bounds.insert(0, f"updated >= {epoch_ms(window.start) - MINUTE_MS}")
        if self.scope:
            bounds.insert(0, f"({self.scope})")
        return f"{' AND '.join(bounds)} ORDER BY updated ASC, id ASC"

    def pages(self, session: JiraSession, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        known = _known_ids(state)
        jql = self.jql(window)
        body: dict[str, Any] = {"jql": jql, "fields": ["*all"], "maxResults": int(session.option("page_size", ISSUE_PAGE))}
        if self.properties:
            body["properties"] = list(self.properties)
        request = PageRequest(f"{API}/search/jql", "POST", json=body)
        for number, page in enumerate(paginate(_sender(session, stream.name), request, SEARCH_PAGES, records="issues",
                                               what="search/jql", base_url=session.api.base_url), 1):
            kept = [i for i in page.items if self._before_end(i, window)]
            for issue in kept:
                if isinstance(issue, dict) and issue.get("id"):
                    known.add(str(issue["id"]))
            _save_known(state, known)
            if kept:
                yield RawPage(kept, f"search/jql page {number} ({jql})")

    @staticmethod
    def _before_end(issue: Any, window: Window) -> bool:
        try:
            return parse_timestamp(issue["fields"]["updated"]) < window.end
        except (KeyError, TypeError, ValueError):
            return True  # let the engine reject it, naming the record


@dataclass(frozen=True)
class IssueCensusReader:
    """Tombstones for issues that vanished: known ids minus every id searchable now (within ``scope``:
    an issue that leaves the scope, say loses its label, leaves the stream as if deleted)."""

    scope: str = ""

    def pages(self, session: JiraSession, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        every = float(session.option("issue_census_every_hours", 0))
        last = state.get("census_at")
        if last and every > 0 and parse_timestamp(last) + timedelta(hours=every) > window.end:
            return
        known = _known_ids(state)
        present = self.census(session, stream.name, self.scope)
        missing = sorted(known - present, key=lambda i: (len(i), i))
        log.info("jira.%s: census found %d issues, %d known, %d missing", stream.name, len(present), len(known),
                 len(missing))
        ratio = float(session.option("census_max_missing_ratio", 0.5))
        refuse_mass_deletion(f"jira.{stream.name}: the census", len(missing), len(known), ratio, noun="issues",
                             hint="lost project permission?", setting="census_max_missing_ratio")
        if missing:
            when = _iso(window.end)
            yield RawPage([{"id": i, "deleted": True, "deletedAt": when, "detectedBy": "census"} for i in missing],
                          "issue census")
        _save_known(state, present | (known - set(missing)))
        state["census_at"] = _iso(window.end)

    @staticmethod
    def census(session: JiraSession, stream: str, scope: str = "") -> set[str]:
        if scope:
            queries = [f"{scope} ORDER BY id ASC"]
        else:
            projects = [str(p["id"]) for p in all_projects(session, stream)]
            queries = [f"project in ({', '.join(projects[chunk: chunk + CENSUS_PROJECTS_PER_QUERY])}) ORDER BY id ASC"
                       for chunk in range(0, len(projects), CENSUS_PROJECTS_PER_QUERY)]
        found: set[str] = set()
        for jql in queries:
            request = PageRequest(f"{API}/search/jql", "POST", json={"jql": jql, "maxResults": CENSUS_PAGE})
            for page in paginate(_sender(session, stream), request, SEARCH_PAGES, records="issues",
                                 what="search/jql (census)", base_url=session.api.base_url):
                for issue in page.items:
                    if not isinstance(issue, dict) or not issue.get("id"):
                        raise BadRecordError("jira", stream, "(issue census)", f"issue without id: {issue!r}"[:300])
                    found.add(str(issue["id"]))
        return found


# --------------------------------------------------------------------------------- worklogs


def _feed(session: JiraSession, path: str, stream: str, since: int, end_ms: int) -> Iterator[list[dict[str, Any]]]:
    """Entries of ``/worklog/updated`` or ``/worklog/deleted`` with ``updatedTime < end_ms``.

    Pages continue from ``until - 1`` (``since`` is exclusive), skipping entries already seen, so
    a page cut among equal timestamps loses nothing.
    """
    seen: set[tuple[int, int]] = set()
    while True:
        body = session.api.request("GET", f"{API}{path}", stream=stream, params={"since": since, "expand": "properties"})
        values = body.get("values", []) if isinstance(body, dict) else []
        fresh = []
        for entry in values:
            key = (entry.get("worklogId"), entry.get("updatedTime")) if isinstance(entry, dict) else None
            if key is None or key[0] is None or key[1] is None:
                raise BadRecordError("jira", stream, f"#{len(fresh)} at {path}?since={since}",
                                     f"feed entry without worklogId/updatedTime: {entry!r}"[:300])
            if key not in seen:
                seen.add(key)
                fresh.append(entry)
        in_window = [e for e in fresh if int(e["updatedTime"]) < end_ms]
        if in_window:
            yield in_window
        if body.get("lastPage", True) or len(in_window) < len(fresh):
            return
        if not fresh:
            raise SourceUnavailableError(
                f"jira.{stream}: {path} cannot advance past {since}: more than a page of worklogs share one timestamp"
            )
        since = int(body.get("until", since)) - 1


@dataclass(frozen=True)
class WorklogChangesReader:
    """Worklogs created or updated in the window: the change feed, then the worklogs by id."""

    def pages(self, session: JiraSession, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        since = 0 if window.start is None else max(0, epoch_ms(window.start) - MINUTE_MS)
        for entries in _feed(session, "/worklog/updated", stream.name, since, epoch_ms(window.end)):
            ids = [int(e["worklogId"]) for e in entries]
            for chunk in range(0, len(ids), WORKLOG_IDS_PER_CALL):
                batch = ids[chunk: chunk + WORKLOG_IDS_PER_CALL]
                worklogs = session.api.request("POST", f"{API}/worklog/list", stream=stream.name,
                                               params={"expand": "properties"}, json={"ids": batch})
                if not isinstance(worklogs, list):
                    raise BadRecordError("jira", stream.name, "(worklog/list)", "expected a JSON array")
                if worklogs:
                    yield RawPage(worklogs, f"worklog/list {batch[0]}..{batch[-1]} (since {since})")


@dataclass(frozen=True)
class WorklogDeletionsReader:
    """Tombstones for worklogs deleted in the window (``/worklog/deleted``)."""

    def pages(self, session: JiraSession, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        since = 0 if window.start is None else max(0, epoch_ms(window.start) - MINUTE_MS)
        for entries in _feed(session, "/worklog/deleted", stream.name, since, epoch_ms(window.end)):
            yield RawPage(
                [{"id": str(e["worklogId"]), "deleted": True, "deletedAt": int(e["updatedTime"])} for e in entries],
                f"worklog/deleted since {since}",
            )


def _snapshot_stream(name: str, listing: Callable[[JiraSession, str], Listing], description: str,
                     id_field: str = "id") -> StreamSpec:
    return StreamSpec(
        name=name, primary_key=id_field, cursor_field="observedAt", deleted_field="deleted",
        deleted_cursor_field="observedAt", readers=(SnapshotReader(listing, SnapshotDiff(id_field)),),
        description=description,
    )


JIRA = SourceSpec(
    name="jira",
    title="Jira Cloud",
    connect=connect,
    tags=("pm",),
    streams=(
        PROJECTS.spec(),
        _snapshot_stream("versions", list_versions, "Versions as milestones: name, released, releaseDate (with projectKey)"),
        StreamSpec(
            name="issues", primary_key="id", cursor_field="fields.updated", deleted_field="deleted",
            deleted_cursor_field="deletedAt", readers=(IssueChangesReader(), IssueCensusReader()),
            description="Issues (status, resolution date, fix versions); deletions from an id census",
        ),
        StreamSpec(
            name="deal_epics", primary_key="id", cursor_field="fields.updated", deleted_field="deleted",
            deleted_cursor_field="deletedAt",
            readers=(IssueChangesReader(DEAL_EPICS, (CRM_PROPERTY,)), IssueCensusReader(DEAL_EPICS)),
            description=f"Epics that deliver a CRM deal (label {DEAL_EPIC_LABEL}), with their {CRM_PROPERTY} property; "
                        "staged as projects",
        ),
        StreamSpec(
            name="worklogs", primary_key="id", cursor_field="updated", deleted_field="deleted",
            deleted_cursor_field="deletedAt", readers=(WorklogChangesReader(), WorklogDeletionsReader()),
            description="Time entries: author, started, timeSpentSeconds, passerelle.billing property",
        ),
        _snapshot_stream("users", list_users, "People (accountId, displayName, email when visible)", "accountId"),
    ),
    doc="""Extracts Jira Cloud (REST v3): enhanced JQL search, worklog change feeds, projects, versions, users.

Connection `passerelle_jira`: host = `https://<site>.atlassian.net`, login = the Atlassian account
email, password = its API token; extra: `ca_bundle` to trust a private CA, `page_size` (issues per
search page, default 100), `issue_census_every_hours` (default 0 = every run),
`census_max_missing_ratio` (default 0.5).
""",
)
