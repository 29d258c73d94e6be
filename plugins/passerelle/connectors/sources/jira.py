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
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import requests

from passerelle import exact_json
from passerelle.connectors.paging import PageCursor, max_response_mb
from passerelle.connectors.auth import Token
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi, retry_after_header
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import epoch_ms, parse_timestamp
from passerelle.errors import AuthError, BadRecordError, SourceUnavailableError
from passerelle.records import Window

log = logging.getLogger(__name__)

API = "/rest/api/3"
CRM_PROPERTY = "passerelle.crm"
MINUTE_MS = 60_000
ISSUE_PAGE = 100
CENSUS_PAGE = 5000
CENSUS_PROJECTS_PER_QUERY = 100
WORKLOG_IDS_PER_CALL = 1000


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


def _offset_pages(session: JiraSession, path: str, stream: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """``startAt``/``maxResults``/``isLast`` pages (project search, project versions)."""
    start = 0
    while True:
        body = session.api.request("GET", path, stream=stream, params={**params, "startAt": start, "maxResults": 50})
        values = body.get("values", []) if isinstance(body, dict) else []
        yield values
        if body.get("isLast", True) or not values:
            return
        start += len(values)


def list_projects(session: JiraSession, stream: str) -> list[dict[str, Any]]:
    params = {"expand": "description,lead", "properties": CRM_PROPERTY}
    return [p for page in _offset_pages(session, f"{API}/project/search", stream, params) for p in page]


# --------------------------------------------------------------------------- snapshot streams


def _fingerprint(item: dict[str, Any]) -> str:
    return hashlib.sha1(exact_json.canonical(item).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class SnapshotDiffReader:
    """Objects without a modification time: list them all, emit what changed since the last run.

    State: ``{"hashes": {id: content hash}}``. Changed or new items get ``observedAt`` = window end
    (so a rerun yields the same version, and nothing when the state is already up to date); ids
    that disappeared become ``{"id", "deleted": true, "observedAt"}`` tombstones.
    """

    kind: str
    id_field: str = "id"

    def pages(self, session: JiraSession, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        previous: dict[str, str] = dict(state.get("hashes") or {})
        current: dict[str, str] = {}
        observed = _iso(window.end)
        for location, items in self._listing(session, stream.name):
            changed = []
            for item in items:
                key = item.get(self.id_field) if isinstance(item, dict) else None
                if key is None or key == "":
                    changed.append(item)  # the engine names it as a bad record
                    continue
                digest = _fingerprint(item)
                current[str(key)] = digest
                if previous.get(str(key)) != digest:
                    changed.append({**item, "observedAt": observed})
            if changed:
                yield RawPage(changed, location)
        gone = sorted(set(previous) - set(current))
        if gone:
            yield RawPage([{self.id_field: key, "deleted": True, "observedAt": observed} for key in gone],
                          f"{self.kind} no longer listed")
        state["hashes"] = current

    def _listing(self, session: JiraSession, stream: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        if self.kind == "projects":
            yield f"{API}/project/search", list_projects(session, stream)
        elif self.kind == "versions":
            for project in list_projects(session, stream):
                path = f"{API}/project/{project['id']}/version"
                for values in _offset_pages(session, path, stream, {}):
                    yield path, [{**v, "projectKey": project.get("key")} for v in values]
        elif self.kind == "users":
            start, size = 0, int(session.option("users_page_size", 1000))
            while True:
                users = session.api.request("GET", f"{API}/users/search", stream=stream,
                                            params={"startAt": start, "maxResults": size})
                if not isinstance(users, list):
                    raise BadRecordError("jira", stream, f"(users/search startAt={start})", "expected a JSON array")
                yield f"{API}/users/search?startAt={start}", users
                if len(users) < size:
                    return
                start += len(users)
        else:
            raise ValueError(f"unknown snapshot kind {self.kind!r}")


# ----------------------------------------------------------------------------------- issues


def _known_ids(state: dict[str, Any]) -> set[str]:
    return {str(i) for i in state.get("known_ids") or []}


def _save_known(state: dict[str, Any], known: set[str]) -> None:
    state["known_ids"] = sorted(known, key=lambda i: (len(i), i))


@dataclass(frozen=True)
class IssueChangesReader:
    """Issues updated inside the window, via enhanced JQL search with epoch-millisecond bounds."""

    def jql(self, window: Window) -> str:
        upper = f"updated < {epoch_ms(window.end) + MINUTE_MS}"
        if window.start is None:
            return f"{upper} ORDER BY updated ASC, id ASC"
        lower = epoch_ms(window.start) - MINUTE_MS
        return f"updated >= {lower} AND {upper} ORDER BY updated ASC, id ASC"

    def pages(self, session: JiraSession, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        known = _known_ids(state)
        body: dict[str, Any] = {"jql": self.jql(window), "fields": ["*all"],
                                "maxResults": int(session.option("page_size", ISSUE_PAGE))}
        page = 0
        cursors = PageCursor("search/jql")
        while True:
            answer = session.api.request("POST", f"{API}/search/jql", stream=stream.name, json=body)
            issues = answer.get("issues", []) if isinstance(answer, dict) else []
            kept = [i for i in issues if self._before_end(i, window)]
            for issue in kept:
                if isinstance(issue, dict) and issue.get("id"):
                    known.add(str(issue["id"]))
            _save_known(state, known)
            page += 1
            if kept:
                yield RawPage(kept, f"search/jql page {page} ({body['jql']})")
            token = answer.get("nextPageToken") if isinstance(answer, dict) else None
            if answer.get("isLast", token is None) or token is None or token == "":
                return
            body["nextPageToken"] = cursors.advance(token, len(issues))

    @staticmethod
    def _before_end(issue: Any, window: Window) -> bool:
        try:
            return parse_timestamp(issue["fields"]["updated"]) < window.end
        except (KeyError, TypeError, ValueError):
            return True  # let the engine reject it, naming the record


@dataclass(frozen=True)
class IssueCensusReader:
    """Tombstones for issues that vanished: known ids minus every id searchable now."""

    def pages(self, session: JiraSession, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        every = float(session.option("issue_census_every_hours", 0))
        last = state.get("census_at")
        if last and every > 0 and parse_timestamp(last) + timedelta(hours=every) > window.end:
            return
        known = _known_ids(state)
        present = self.census(session, stream.name)
        missing = sorted(known - present, key=lambda i: (len(i), i))
        log.info("jira.%s: census found %d issues, %d known, %d missing", stream.name, len(present), len(known),
                 len(missing))
        ratio = float(session.option("census_max_missing_ratio", 0.5))
        if len(known) >= 20 and len(missing) > ratio * len(known):
            raise SourceUnavailableError(
                f"jira.{stream.name}: the census misses {len(missing)} of {len(known)} known issues; refusing to "
                "delete them (lost project permission?). Raise census_max_missing_ratio if they were really deleted"
            )
        if missing:
            when = _iso(window.end)
            yield RawPage([{"id": i, "deleted": True, "deletedAt": when, "detectedBy": "census"} for i in missing],
                          "issue census")
        _save_known(state, present | (known - set(missing)))
        state["census_at"] = _iso(window.end)

    @staticmethod
    def census(session: JiraSession, stream: str) -> set[str]:
        projects = [str(p["id"]) for p in list_projects(session, stream)]
        found: set[str] = set()
        for chunk in range(0, len(projects), CENSUS_PROJECTS_PER_QUERY):
            ids = ", ".join(projects[chunk: chunk + CENSUS_PROJECTS_PER_QUERY])
            body: dict[str, Any] = {"jql": f"project in ({ids}) ORDER BY id ASC", "maxResults": CENSUS_PAGE}
            while True:
                answer = session.api.request("POST", f"{API}/search/jql", stream=stream, json=body)
                for issue in answer.get("issues", []):
                    if not isinstance(issue, dict) or not issue.get("id"):
                        raise BadRecordError("jira", stream, "(issue census)", f"issue without id: {issue!r}"[:300])
                    found.add(str(issue["id"]))
                token = answer.get("nextPageToken")
                if answer.get("isLast", token is None) or not token:
                    break
                body["nextPageToken"] = token
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


def _snapshot_stream(name: str, description: str, id_field: str = "id") -> StreamSpec:
    return StreamSpec(
        name=name, primary_key=id_field, cursor_field="observedAt", deleted_field="deleted",
        deleted_cursor_field="observedAt", readers=(SnapshotDiffReader(name, id_field),), description=description,
    )


JIRA = SourceSpec(
    name="jira",
    title="Jira Cloud",
    connect=connect,
    tags=("pm",),
    streams=(
        _snapshot_stream("projects", "Projects with the passerelle.crm property (CRM deal/customer link)"),
        _snapshot_stream("versions", "Versions as milestones: name, released, releaseDate (with projectKey)"),
        StreamSpec(
            name="issues", primary_key="id", cursor_field="fields.updated", deleted_field="deleted",
            deleted_cursor_field="deletedAt", readers=(IssueChangesReader(), IssueCensusReader()),
            description="Issues (status, resolution date, fix versions); deletions from an id census",
        ),
        StreamSpec(
            name="worklogs", primary_key="id", cursor_field="updated", deleted_field="deleted",
            deleted_cursor_field="deletedAt", readers=(WorklogChangesReader(), WorklogDeletionsReader()),
            description="Time entries: author, started, timeSpentSeconds, passerelle.billing property",
        ),
        _snapshot_stream("users", "People (accountId, displayName, email when visible)", "accountId"),
    ),
    doc="""Extracts Jira Cloud (REST v3): enhanced JQL search, worklog change feeds, projects, versions, users.

Connection `passerelle_jira`: host = `https://<site>.atlassian.net`, login = the Atlassian account
email, password = its API token; extra: `ca_bundle` to trust a private CA, `page_size` (issues per
search page, default 100), `issue_census_every_hours` (default 0 = every run),
`census_max_missing_ratio` (default 0.5).
""",
)
