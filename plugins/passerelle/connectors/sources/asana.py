"""Asana REST 1.0: projects, sections, users, tasks (with milestones and deletions) and time tracking.

- Auth: a personal access token (connection password) or an OAuth app (extra ``client_id``,
  ``client_secret``, ``refresh_token``; refreshed at ``POST {host}/-/oauth_token``).
- Lists are read 100 at a time following ``next_page.offset`` until ``next_page`` is null; 429 waits
  the ``Retry-After`` seconds, 5xx are retried by the shared policy.
- Tasks: ``GET /tasks?project=…&modified_since=<window start>`` for every project of every workspace,
  kept when ``modified_at`` falls in the window (a task in several projects is yielded once;
  the same gid with other content is passed on for the loader to quarantine).
  Milestones are tasks with ``resource_subtype: "milestone"``; ``completed`` / ``completed_at`` give
  the completion. Deleted tasks vanish from lists, so deletions come from the Events API: one sync
  token per project is kept in the stream state (committed with the window); each run reads the
  events since that token and turns ``deleted`` task events into tombstones (cursor = the event's
  ``created_at``). A project seen for the first time, or whose token expired (412 with a fresh token:
  Asana's "events lost, resync"), only gets a new token; the loss is logged.
- Time tracking entries carry no modification time. Each run lists
  ``GET /time_tracking_entries?workspace=…&entered_on_start_date=…`` from the window start, or from
  ``time_entries_rescan_days`` (14) before the window end if that is earlier, so late edits and
  late entries are seen again. Versions are told apart by content: the state keeps a hash and a
  version time per entry of the re-scanned span; an entry's first version is stamped with its
  ``created_at``, a changed one with the window end (minus 1 ms), and an entry that disappears from
  the span is confirmed with a ``GET`` (404) and loaded as a tombstone. The version time is put in
  the payload under ``_passerelle.version_at`` (the stream cursor).
- Users and sections have no modification time either: they are listed in full and versioned by
  content the same way.

CRM link convention: a project's ``CRM deal`` text custom field holds the id of the won deal it
delivers, as the CRM writes it: an 18-character Salesforce Opportunity Id (``006…``) or a numeric
HubSpot deal id. Projects without it can only be matched by the customer name in the project name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

import requests

from passerelle.connectors.incremental import in_window
from passerelle.connectors.paginators import CursorToken, PageRequest, PageResponse, paginate
from passerelle.connectors.paging import UnusableResponseError, max_response_mb
from passerelle.connectors.snapshot import SnapshotDiff, SnapshotReader, content_hash
from passerelle.connectors.auth import TokenProvider, refresh_or_static
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import ApiRequestError, JsonApi
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.errors import BadRecordError
from passerelle.records import Window

log = logging.getLogger(__name__)

API_PATH = "/api/1.0"
PAGE = 100
RESCAN_DAYS = 14
FIRST_DAY = "2000-01-01"
PROJECT_FIELDS = ("name,archived,completed,completed_at,created_at,modified_at,start_on,due_on,owner,owner.name,"
                  "team,team.name,workspace,custom_fields,custom_fields.name,custom_fields.text_value,"
                  "custom_fields.enum_value,custom_fields.display_value,current_status")
TASK_FIELDS = ("name,resource_subtype,completed,completed_at,completed_by,assignee,assignee.name,due_on,due_at,"
               "start_on,created_at,modified_at,notes,parent,num_subtasks,actual_time_minutes,custom_fields,"
               "memberships.project.name,memberships.section.name,workspace")
ENTRY_FIELDS = ("duration_minutes,entered_on,created_at,created_by,created_by.name,task,task.name,"
                "attributable_to,attributable_to.name,billable_status,approval_status,description,categories")
SECTION_FIELDS = "name,created_at,project,project.name"
USER_FIELDS = "name,email,workspaces"


class SyncTokenReset(Exception):
    """The Events API refused the sync token (412) and handed out a fresh one: events may be lost."""

    def __init__(self, sync: str) -> None:
        super().__init__("sync token invalid or expired")
        self.sync = sync


@dataclass
class AsanaApi(JsonApi):
    """JsonApi that surfaces the Events API's 412 (with its new sync token) instead of failing."""

    def check_response(self, response: requests.Response, stream: str) -> None:
        if response.status_code == 412:
            try:
                sync = response.json().get("sync")
            except ValueError:
                sync = None
            if sync:
                raise SyncTokenReset(str(sync))
        super().check_response(response, stream)


def token_provider(config: SourceConfig) -> TokenProvider:
    """Personal access token (connection password) or OAuth refresh token (extra)."""
    return refresh_or_static(config, "/-/oauth_token")


@dataclass
class AsanaSession:
    api: AsanaApi
    config: SourceConfig


def connect(config: SourceConfig, retry: RetrySettings) -> AsanaSession:
    api = AsanaApi(source="asana", base_url=config.base_url + API_PATH, tokens=token_provider(config), retry=retry,
                   verify=config.verify, max_response_mb=max_response_mb(config))
    return AsanaSession(api, config)


def iso_ms(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


NEXT_PAGE = CursorToken("next_page.offset", "offset", link_field="next_page.uri")
"""Lists: ``next_page.offset`` until ``next_page`` is null; its ``uri`` must stay on the Connection's host."""


def list_pages(
    session: AsanaSession, path: str, params: dict[str, Any], stream: str
) -> Iterator[tuple[list[Any], str]]:
    """Every page of a paginated list: ``(items, location)`` until ``next_page`` is null."""

    def send(request: PageRequest) -> PageResponse:
        body = session.api.request("GET", request.path, stream=stream, params=dict(request.params))
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise BadRecordError("asana", stream, f"(response of GET {path})", "no data list in the response")
        next_page = body.get("next_page")
        if next_page and not isinstance(next_page, dict):
            raise UnusableResponseError(f"GET {path}: next_page of the wrong type: {type(next_page).__name__}")
        return PageResponse(body)

    for page in paginate(send, PageRequest(path, params={**params, "limit": PAGE}), NEXT_PAGE, records="data",
                         what=f"GET {path}", base_url=session.api.base_url):
        yield page.items, f"{path}?offset={page.request.params.get('offset')}"


def workspaces(session: AsanaSession, stream: str) -> list[str]:
    configured = session.config.option("workspace_gid")
    if configured:
        return [str(configured)]
    return [str(w["gid"]) for items, _ in list_pages(session, "/workspaces", {}, stream) for w in items if w.get("gid")]


def projects(session: AsanaSession, stream: str, fields: str = "name") -> Iterator[tuple[list[Any], str]]:
    for workspace in workspaces(session, stream):
        yield from list_pages(session, "/projects", {"workspace": workspace, "opt_fields": fields}, stream)


def project_gids(session: AsanaSession, stream: str) -> list[str]:
    return [str(p["gid"]) for items, _ in projects(session, stream) for p in items
            if isinstance(p, dict) and p.get("gid")]


def is_gone(session: AsanaSession, path: str, stream: str) -> bool:
    """True when reading the object answers 404: the proof of a deletion we did not see as an event."""
    try:
        session.api.request("GET", path, stream=stream, params={"opt_fields": "gid"})
    except ApiRequestError as exc:
        if exc.status == 404:
            return True
        raise
    return False


# ------------------------------------------------------------------------------------ versions


def stamp_version(item: dict[str, Any], versions: dict[str, list[Any]], detected: datetime,
                  first_seen_field: str | None, extra: Any = None) -> None:
    """Give ``item`` a version time that changes exactly when its content does (see the module doc)."""
    gid = item.get("gid")
    if not gid:
        return
    digest = content_hash(item)
    known = versions.get(str(gid))
    if known and known[0] == digest:
        version_at = known[1]
    elif known:
        version_at = iso_ms(max(detected, parse_timestamp(known[1]) + timedelta(milliseconds=1)))
    else:
        first = item.get(first_seen_field) if first_seen_field else None
        version_at = first if isinstance(first, str) and first else iso_ms(detected)
    versions[str(gid)] = [digest, version_at, extra]
    item["_passerelle"] = {"version_at": version_at, "content_hash": digest}


def detection_time(window: Window) -> datetime:
    return window.end - timedelta(milliseconds=1)


# -------------------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class ProjectReader:
    """Every project of every workspace, kept when ``modified_at`` falls in the window."""

    def pages(
        self, session: AsanaSession, stream: StreamSpec, window: Window, state: dict[str, Any]
    ) -> Iterator[RawPage]:
        for items, location in projects(session, stream.name, PROJECT_FIELDS):
            kept = [p for p in items if in_window(p, "modified_at", window)]
            if kept:
                yield RawPage(kept, location)


def changed_version(window: Window, item: dict[str, Any], before: list[Any] | None, first_seen_field: str | None) -> str:
    """A new version's time: after the previous one, else the item's creation time (or the detection time)."""
    detected = detection_time(window)
    if before:
        return iso_ms(max(detected, parse_timestamp(before[1]) + timedelta(milliseconds=1)))
    first = item.get(first_seen_field) if first_seen_field else None
    return first if isinstance(first, str) and first else iso_ms(detected)


def version_stamp(item: dict[str, Any], version: str, digest: str) -> dict[str, Any]:
    return {**item, "_passerelle": {"version_at": version, "content_hash": digest}}


def versioned(first_seen_field: str | None = None) -> SnapshotDiff:
    """Users and sections: versioned by content; one missing from a listing is not a deletion."""
    return SnapshotDiff("gid", version_time=lambda window, item, before: changed_version(
        window, item, before, first_seen_field), stamp=version_stamp, tombstones=False)


def list_users(session: AsanaSession, stream: str) -> Iterator[tuple[list[Any], str]]:
    for workspace in workspaces(session, stream):
        yield from list_pages(session, "/users", {"workspace": workspace, "opt_fields": USER_FIELDS}, stream)


def list_sections(session: AsanaSession, stream: str) -> Iterator[tuple[list[Any], str]]:
    for project in project_gids(session, stream):
        yield from list_pages(session, f"/projects/{project}/sections", {"opt_fields": SECTION_FIELDS}, stream)


@dataclass(frozen=True)
class TaskReader:
    """Tasks (and milestones) modified in the window, project by project.

    A task listed under several projects comes back identical each time and is yielded once; the same
    gid with other content is yielded too, so the loader can quarantine the contradiction instead of
    this reader silently keeping whichever version came first.
    """

    def pages(
        self, session: AsanaSession, stream: StreamSpec, window: Window, state: dict[str, Any]
    ) -> Iterator[RawPage]:
        seen: set[tuple[str, str]] = set()
        for project in project_gids(session, stream.name):
            params: dict[str, Any] = {"project": project, "opt_fields": TASK_FIELDS}
            if window.start is not None:
                params["modified_since"] = iso_ms(window.start)
            for items, location in list_pages(session, "/tasks", params, stream.name):
                kept = []
                for task in items:
                    gid = task.get("gid") if isinstance(task, dict) else None
                    gid = gid if isinstance(gid, str) else None  # another type is reported by the engine
                    version = (gid, content_hash(task)) if gid else None
                    if version and version in seen:
                        continue
                    if in_window(task, "modified_at", window):
                        kept.append(task)
                        if version:
                            seen.add(version)
                if kept:
                    yield RawPage(kept, location)


@dataclass(frozen=True)
class TaskDeletionReader:
    """Tombstones for tasks deleted since the last run, from each project's Events API sync token."""

    def pages(
        self, session: AsanaSession, stream: StreamSpec, window: Window, state: dict[str, Any]
    ) -> Iterator[RawPage]:
        tokens: dict[str, str] = state.setdefault("event_sync", {})
        current = project_gids(session, stream.name)
        for gone in set(tokens) - set(current):
            tokens.pop(gone)
        for project in current:
            yield from self._project_events(session, stream.name, project, tokens)

    def _project_events(
        self, session: AsanaSession, stream: str, project: str, tokens: dict[str, str]
    ) -> Iterator[RawPage]:
        sync = tokens.get(project)
        while True:
            params = {"resource": project, **({"sync": sync} if sync else {})}
            try:
                body = session.api.request("GET", "/events", stream=stream, params=params)
            except SyncTokenReset as reset:
                if sync:
                    log.warning("asana.%s: events of project %s expired; deletions since the last run may be "
                                "missed (tasks are still re-read by modified_since)", stream, project)
                tokens[project] = reset.sync
                return
            tombstones = [
                {"gid": (e.get("resource") or {}).get("gid"), "deleted": True, "deleted_at": e.get("created_at"),
                 "resource_subtype": (e.get("resource") or {}).get("resource_subtype"), "event": e}
                for e in body.get("data", [])
                if isinstance(e, dict) and e.get("action") == "deleted"
                and (e.get("resource") or {}).get("resource_type") == "task"
            ]
            if tombstones:
                yield RawPage(tombstones, f"/events?resource={project}")
            sync = body.get("sync") or sync
            tokens[project] = sync
            if not body.get("has_more"):
                return


@dataclass(frozen=True)
class TimeEntryReader:
    """Time tracking entries entered in the window or the re-scanned recent span (see the module doc)."""

    def pages(
        self, session: AsanaSession, stream: StreamSpec, window: Window, state: dict[str, Any]
    ) -> Iterator[RawPage]:
        versions: dict[str, list[Any]] = state.setdefault("versions", {})
        rescan = int(session.config.option("time_entries_rescan_days", RESCAN_DAYS))
        since = (window.end - timedelta(days=rescan)).date()
        if window.start is None:
            since = date.fromisoformat(str(session.config.option("time_entries_since", FIRST_DAY)))
        else:
            since = min(since, window.start.date())
        start = since.isoformat()
        detected = detection_time(window)
        seen: set[str] = set()
        for workspace in workspaces(session, stream.name):
            params = {"workspace": workspace, "entered_on_start_date": start, "opt_fields": ENTRY_FIELDS}
            for items, location in list_pages(session, "/time_tracking_entries", params, stream.name):
                for entry in items:
                    if isinstance(entry, dict) and entry.get("gid"):
                        seen.add(str(entry["gid"]))
                        stamp_version(entry, versions, detected, "created_at", entry.get("entered_on"))
                if items:
                    yield RawPage(items, location)
        tombstones = []
        for gid, (digest, version_at, entered_on) in sorted(versions.items()):
            if gid in seen:
                continue
            if entered_on is None or str(entered_on) < start:
                versions.pop(gid)  # left the re-scanned span: its later edits are no longer watched
            elif is_gone(session, f"/time_tracking_entries/{gid}", stream.name):
                versions.pop(gid)
                stamp = iso_ms(max(detected, parse_timestamp(version_at) + timedelta(milliseconds=1)))
                tombstones.append({"gid": gid, "deleted": True, "deleted_at": stamp, "entered_on": entered_on,
                                   "_passerelle": {"version_at": stamp, "content_hash": None}})
        if tombstones:
            yield RawPage(tombstones, "/time_tracking_entries (reconciled)")


ASANA = SourceSpec(
    name="asana",
    title="Asana",
    connect=connect,
    tags=("pm",),
    streams=(
        StreamSpec(
            name="projects", primary_key="gid", cursor_field="modified_at", readers=(ProjectReader(),),
            description="Projects with their custom fields (CRM deal id, Billable)",
        ),
        StreamSpec(
            name="sections", primary_key="gid", cursor_field="_passerelle.version_at",
            readers=(SnapshotReader(list_sections, versioned("created_at")),),
            description="Sections (columns) of every project, versioned by content",
        ),
        StreamSpec(
            name="users", primary_key="gid", cursor_field="_passerelle.version_at",
            readers=(SnapshotReader(list_users, versioned()),),
            description="Workspace members, versioned by content",
        ),
        StreamSpec(
            name="tasks", primary_key="gid", cursor_field="modified_at", deleted_field="deleted",
            deleted_cursor_field="deleted_at", readers=(TaskReader(), TaskDeletionReader()),
            description="Tasks and milestones with completion; deletions from the Events API",
        ),
        StreamSpec(
            name="time_entries", primary_key="gid", cursor_field="_passerelle.version_at", deleted_field="deleted",
            deleted_cursor_field="deleted_at", readers=(TimeEntryReader(),),
            description="Time tracking entries (duration, date, billable and approval status), versioned by content",
        ),
    ),
    doc="""Extracts Asana projects, sections, users, tasks/milestones (deletions via the Events API) and time
tracking entries.

Connection `passerelle_asana`: host = `https://app.asana.com`, password = personal access token; or
login/extra `client_id`, extra `client_secret` and `refresh_token` for an OAuth app. Extra: `workspace_gid`
(default: every workspace of the token), `time_entries_rescan_days` (14), `time_entries_since`
(first run, default 2000-01-01), `ca_bundle` to trust a private CA.
""",
)
