"""monday.com (GraphQL API v2): boards, groups, items, users and time-tracking sessions.

Everything goes through ``POST {host}/v2`` with the personal API token in ``Authorization`` (raw,
no ``Bearer``) and an ``API-Version`` header. monday answers most failures with HTTP 200 and an
``errors`` array, so :class:`GraphQLApi` (reusable for any GraphQL source) turns ``errors[]`` into
the shared retry vocabulary: complexity budget / rate limits → :class:`Retryable` honouring
``extensions.retry_in_seconds`` (or ``Retry-After``), authentication → :class:`NeedsReauth`,
expired cursors → :class:`CursorExpired` (handled by the readers), anything else → an error.

- Items: per board (``state: all``), ``items_page`` with a ``__last_updated__`` rule, then root
  ``next_items_page``. The rule compares **days** only, so the reader asks from the day before the
  window start up to the window end's day and keeps items whose ``updated_at`` is inside the window.
  A cursor expires 60 minutes after the query started: the reader restarts that board's query and
  skips the versions (same content) it already yielded (at most ``MAX_RESTARTS`` times per board).
- Deletions: ``items_page`` never returns archived or deleted items, and deleting does not show
  as an update. Each window reads every board's ``activity_logs(from, to)`` for ``delete_pulse`` /
  ``archive_pulse`` events, then ``items(ids:, exclude_nonactive: false)``: items whose ``state`` is
  ``archived`` or ``deleted`` become tombstones (``deleted: true``, cursor ``updated_at``).
  Boards carry ``state`` themselves (listed with ``state: all``).
- Groups have no timestamp of their own: they are emitted with their board's ``updated_at`` and
  keyed ``<board id>:<group id>``; a deleted/archived group or board gives a tombstone.
- Users have no modification time: the whole list is read every run (cursor ``created_at``).

Conventions for invoicing (documented for the people who configure boards):

- CRM link: a text column titled ``Affaire CRM`` / ``CRM deal`` (id ``crm_deal`` in our template)
  holding ``salesforce:<Opportunity Id>`` or ``hubspot:<deal id>``; boards without it are matched on
  the customer's name later (identity resolution), never here.
- Time: the item's time-tracking column. ``time_tracking`` has one record per tracked session
  (``history``): ``person_id`` = the user who started it, ``date`` = its start day (UTC),
  ``duration_seconds`` = end − start. monday has no billable flag: a checkbox column titled
  ``Facturable`` / ``Billable`` (id ``billable``) on the item marks all its sessions billable;
  without such a column ``billable`` is null. A session removed from an item's history is not
  detected (monday's history gives no deletion trace); deleting the item tombstones its sessions.
  Teams without the tracker log hours by hand in a numbers column titled ``Heures`` / ``Hours`` (id
  ``hours``): its ``text`` / ``value`` keep the digits as typed (the GraphQL ``number`` is a Float and is
  not requested).
- Completion: the status column (``is_done``) and the ``Date de fin`` date column; milestones are the
  items of the group titled ``Jalons`` / ``Milestones``.

Connection ``passerelle_monday``: host = ``https://api.monday.com``, password = API token; extra
``api_version`` (default ``2025-07``), ``page_size`` (items per page, ≤ 500), ``ca_bundle``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator

import requests

from passerelle import exact_json
from passerelle.connectors.paging import PageCursor, max_response_mb
from passerelle.connectors.auth import StaticToken
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.graphql_api import GraphQLApi, error_code
from passerelle.connectors.http import retry_after_header
from passerelle.connectors.retry import NeedsReauth, Retryable, RetrySettings
from passerelle.connectors.incremental import in_window
from passerelle.connectors.paginators import PageNumber, PageRequest, PageResponse, paginate
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.errors import BadRecordError, PasserelleError, SourceUnavailableError
from passerelle.records import Window

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2025-07"
ITEMS_PAGE = 500
BOARDS_PAGE = 100
LOGS_PAGE = 500
IDS_CHUNK = 100
MAX_RESTARTS = 5
REMOVAL_EVENTS = frozenset({"delete_pulse", "archive_pulse", "batch_delete_pulses", "batch_archive_pulses"})
THROTTLE_CODES = frozenset({
    "COMPLEXITY_BUDGET_EXHAUSTED", "ComplexityException", "RATE_LIMIT_EXCEEDED", "IP_RATE_LIMIT_EXCEEDED",
    "FIELD_LIMIT_EXCEEDED", "maxConcurrencyExceeded", "CONCURRENCY_LIMIT_EXCEEDED",
})
TRANSIENT_CODES = frozenset({"INTERNAL_SERVER_ERROR", "InternalServerError", "API_TEMPORARILY_BLOCKED"})
AUTH_CODES = frozenset({"UserUnauthorizedException", "UNAUTHENTICATED", "Unauthorized", "USER_UNAUTHORIZED"})
CURSOR_CODES = frozenset({"CursorException", "CursorExpiredError"})
QUOTA_CODES = frozenset({"DAILY_LIMIT_EXCEEDED"})


class CursorExpired(PasserelleError):
    """A paging cursor is no longer valid: the query must be started again."""


def retry_in(error: dict[str, Any], response: requests.Response) -> float | None:
    extensions = error.get("extensions") or {}
    for value in (extensions.get("retry_in_seconds"), (extensions.get("error_data") or {}).get("retry_in_seconds"),
                  (error.get("error_data") or {}).get("retry_in_seconds")):
        if isinstance(value, (int, float)):
            return float(value)
    return retry_after_header(response)


def monday_error(error: dict[str, Any], response: requests.Response) -> Exception | None:
    """monday's ``errors[]`` entry → the exception the retry policy understands."""
    code = error_code(error)
    message = str(error.get("message") or error.get("error_message") or "")
    if code in THROTTLE_CODES:
        return Retryable(f"{code}: {message}", retry_after=retry_in(error, response))
    if code in TRANSIENT_CODES:
        return Retryable(f"{code}: {message}", retry_after=retry_in(error, response))
    if code in AUTH_CODES:
        return NeedsReauth(f"{code}: {message}")
    if code in CURSOR_CODES or "CursorExpired" in message:
        return CursorExpired(message)
    if code in QUOTA_CODES:
        return SourceUnavailableError(f"monday daily call limit reached: {message}")
    return None


def connect(config: SourceConfig, retry: RetrySettings) -> GraphQLApi:
    return GraphQLApi(
        source="monday",
        url=f"{config.base_url}/v2",
        tokens=StaticToken(config.password or ""),
        retry=retry,
        verify=config.verify, max_response_mb=max_response_mb(config),
        headers={"API-Version": str(config.option("api_version", DEFAULT_API_VERSION))},
        auth_scheme="",  # monday takes the bare token in Authorization
        classify=monday_error,
        options={"page_size": int(config.option("page_size", ITEMS_PAGE))},
    )


def page_size(api: GraphQLApi) -> int:
    return max(1, min(int(api.options.get("page_size", ITEMS_PAGE)), ITEMS_PAGE))


# ----------------------------------------------------------------------------- queries

BOARD_FIELDS = """id name state board_kind description workspace_id updated_at items_count
owners { id } columns { id title type } groups { id title color position archived deleted }"""
ITEM_FIELDS = """id name state created_at updated_at creator_id group { id title } board { id name }
column_values { id type text value
  ... on StatusValue { index label is_done }
  ... on DateValue { date }
  ... on CheckboxValue { checked }
  ... on PeopleValue { persons_and_teams { id kind } }
  ... on TimeTrackingValue { duration running started_at
      history { id started_user_id ended_user_id started_at ended_at manually_entered_start_date
                manually_entered_end_date status } } }"""
USER_FIELDS = "id name email title enabled is_admin is_guest time_zone_identifier created_at"


def iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def numbered_pages(api: GraphQLApi, stream: str, query: str, root: str) -> Iterator[tuple[list[Any], str]]:
    """``(items, location)`` of a root field paged by ``$page``/``$limit`` until a short page."""

    def send(request: PageRequest) -> PageResponse:
        return PageResponse(api.query(query, dict(request.params), stream=stream))

    for page in paginate(send, PageRequest(root), PageNumber(BOARDS_PAGE, "page", "limit"), records=root,
                         what=f"{root} pages"):
        yield page.items, f"{root} page {page.request.params['page']}"


def list_boards(api: GraphQLApi, stream: str, fields: str = "id state") -> Iterator[dict[str, Any]]:
    """Every board, active, archived and deleted, in pages."""
    query = f"query ($limit: Int!, $page: Int!) {{ boards(state: all, limit: $limit, page: $page) {{ {fields} }} }}"
    for boards, _ in numbered_pages(api, stream, query, "boards"):
        yield from boards


def mark_removed(item: Any) -> Any:
    if isinstance(item, dict):
        item["deleted"] = item.get("state") in ("archived", "deleted")
    return item


def updated_rules(window: Window) -> list[dict[str, Any]]:
    """Day-granular ``__last_updated__`` rules covering the window, one day early for the overlap."""
    if window.start is None:
        return []
    first = (window.start - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    last = window.end.strftime("%Y-%m-%dT00:00:00Z")
    return [
        {"column_id": "__last_updated__", "compare_value": ["EXACT", first], "operator": "greater_than_or_equals",
         "compare_attribute": "UPDATED_AT"},
        {"column_id": "__last_updated__", "compare_value": ["EXACT", last], "operator": "lower_than_or_equal",
         "compare_attribute": "UPDATED_AT"},
    ]


FIRST_PAGE = (
    "query ($board: [ID!], $limit: Int!, $params: ItemsQuery) { boards(ids: $board, state: all) { "
    "items_page(limit: $limit, query_params: $params) { cursor items { %s } } } }" % ITEM_FIELDS
)
NEXT_PAGE = "query ($cursor: String!, $limit: Int!) { next_items_page(cursor: $cursor, limit: $limit) { cursor items { %s } } }" % ITEM_FIELDS


def version(item: dict[str, Any]) -> str:
    """An item version as yielded: a restarted query skips exactly these, while the same id and
    ``updated_at`` with other content still reaches the loader, which quarantines the contradiction."""
    return hashlib.sha256(exact_json.canonical(item).encode()).hexdigest()


def board_items(
    api: GraphQLApi, stream: str, board_id: str, window: Window, items_count: int | None = None
) -> Iterator[tuple[list[Any], str]]:
    """Pages of the board's items updated inside the window, restarting on an expired cursor.

    Complexity is charged on the requested ``limit``, not on what comes back: a small board is
    asked for no more than its ``items_count``, so one run over many boards stays within budget.
    """
    params = {"rules": updated_rules(window)} if window.start is not None else {}
    limit = page_size(api)
    if isinstance(items_count, int) and items_count >= 0:
        limit = max(1, min(limit, items_count + 1))
    seen: set[str] = set()
    restarts = 0
    while True:
        try:
            data = api.query(FIRST_PAGE, {"board": [board_id], "limit": limit, "params": params}, stream=stream)
            boards = data.get("boards") or []
            response = (boards[0] or {}).get("items_page") if boards else None
            number = 0
            cursors = PageCursor(f"board {board_id} items_page")
            while response:
                number += 1
                kept, versions = [], set()
                for item in response.get("items") or []:
                    if not in_window(item, "updated_at", window):
                        continue
                    if isinstance(item, dict):
                        digest = version(item)  # before the page is handed on (readers add fields)
                        if digest in seen:
                            continue
                        versions.add(digest)
                    kept.append(item)
                if kept:
                    yield kept, f"board {board_id} items_page #{number} (restart {restarts})"
                    seen.update(versions)
                cursor = response.get("cursor")
                if cursor is None or cursor == "":
                    return
                cursor = cursors.advance(cursor, len(response.get("items") or []))
                response = api.query(NEXT_PAGE, {"cursor": cursor, "limit": limit}, stream=stream)["next_items_page"]
            return
        except CursorExpired as exc:
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise SourceUnavailableError(f"monday.{stream}: board {board_id}: cursor kept expiring ({exc})") from exc
            log.warning("monday.%s: board %s: %s; restarting the board's query", stream, board_id, exc)


def removed_items(api: GraphQLApi, stream: str, board_id: str, window: Window) -> Iterator[tuple[list[Any], str]]:
    """Items archived or deleted inside the window, found through the board's activity logs."""
    ids: list[str] = []
    page = 1
    bounds = {"from": iso(window.start) if window.start else None, "to": iso(window.end)}
    while True:
        data = api.query(
            "query ($board: [ID!], $from: ISO8601DateTime, $to: ISO8601DateTime, $limit: Int!, $page: Int!) { "
            "boards(ids: $board, state: all) { activity_logs(from: $from, to: $to, limit: $limit, page: $page) "
            "{ id event data created_at } } }",
            {"board": [board_id], **bounds, "limit": LOGS_PAGE, "page": page}, stream=stream,
        )
        boards = data.get("boards") or []
        logs = (boards[0] or {}).get("activity_logs") or [] if boards else []
        for entry in logs:
            if entry.get("event") in REMOVAL_EVENTS:
                ids.extend(pulse_ids(entry.get("data")))
        if len(logs) < LOGS_PAGE:
            break
        page += 1
    unique = sorted(set(ids), key=int)
    for start in range(0, len(unique), IDS_CHUNK):
        chunk = unique[start:start + IDS_CHUNK]
        data = api.query(
            "query ($ids: [ID!], $limit: Int!) { items(ids: $ids, limit: $limit, exclude_nonactive: false) { %s } }"
            % ITEM_FIELDS, {"ids": chunk, "limit": IDS_CHUNK}, stream=stream,
        )
        gone = [mark_removed(i) for i in data.get("items") or []
                if isinstance(i, dict) and i.get("state") in ("archived", "deleted") and in_window(i, "updated_at", window)]
        if gone:
            yield gone, f"board {board_id} removed items {chunk[0]}..{chunk[-1]}"


def pulse_ids(data: Any) -> list[str]:
    """Item ids named by an activity-log ``data`` (a JSON string: ``pulse_id`` or ``pulse_ids``)."""
    try:
        parsed = json.loads(data) if isinstance(data, str) else data
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    found = [parsed.get("pulse_id")] + list(parsed.get("pulse_ids") or [])
    return [str(v) for v in found if v not in (None, "")]


# ----------------------------------------------------------------------------- readers

@dataclass(frozen=True)
class ItemsReader:
    """Items updated inside the window (``removals``: archived/deleted ones, as tombstones)."""

    removals: bool = False

    def pages(self, api: GraphQLApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        for board in list(list_boards(api, stream.name, "id state items_count")):
            board_id = board.get("id") if isinstance(board, dict) else None
            if not board_id:
                raise BadRecordError("monday", stream.name, f"board {board!r}"[:200], "board without an id")
            if self.removals:
                pages = removed_items(api, stream.name, str(board_id), window)
            else:
                pages = board_items(api, stream.name, str(board_id), window, board.get("items_count"))
            for items, location in pages:
                yield RawPage([mark_removed(i) for i in items], location)


@dataclass(frozen=True)
class TimeTrackingReader:
    """One record per time-tracking session of the items read by ``ItemsReader``."""

    removals: bool = False

    def pages(self, api: GraphQLApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        for page in ItemsReader(self.removals).pages(api, stream, window, state):
            sessions = [s for item in page.items for s in time_sessions(item)]
            if sessions:
                yield RawPage(sessions, page.location)


def column(item: dict[str, Any], ctype: str, titles: tuple[str, ...] = (), ids: tuple[str, ...] = ()) -> dict[str, Any] | None:
    values = [v for v in item.get("column_values") or [] if isinstance(v, dict) and v.get("type") == ctype]
    for value in values:
        if value.get("id") in ids:
            return value
    return values[0] if values and not ids else None


def time_sessions(item: Any) -> list[dict[str, Any]]:
    """Sessions of the item's time-tracking column, with person, day, seconds and billable flag."""
    if not isinstance(item, dict):
        return [item]  # the engine names the bad record
    tracking = column(item, "time_tracking")
    if tracking is None:
        return []
    billable_column = column(item, "checkbox", ids=("billable", "facturable"))
    billable = bool(billable_column.get("checked")) if billable_column is not None else None
    out = []
    for session in tracking.get("history") or []:
        started, ended = session.get("started_at"), session.get("ended_at")
        seconds = None
        if started and ended:
            seconds = int((parse_timestamp(ended) - parse_timestamp(started)).total_seconds())
        out.append({
            "id": session.get("id"), "item_id": item.get("id"), "item_name": item.get("name"),
            "board_id": (item.get("board") or {}).get("id"), "column_id": tracking.get("id"),
            "person_id": session.get("started_user_id"), "started_at": started, "ended_at": ended,
            "date": started[:10] if isinstance(started, str) else None, "duration_seconds": seconds,
            "billable": billable, "manual": bool(session.get("manually_entered_start_date")),
            "updated_at": item.get("updated_at"), "deleted": bool(item.get("deleted")),
        })
    return out


@dataclass(frozen=True)
class BoardsReader:
    """Boards (any state) whose ``updated_at`` falls in the window; ``groups`` explodes their groups."""

    groups: bool = False

    def pages(self, api: GraphQLApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        kept = [mark_removed(b) for b in list_boards(api, stream.name, BOARD_FIELDS) if in_window(b, "updated_at", window)]
        if self.groups:
            kept = [g for board in kept for g in board_groups(board)]
        if kept:
            yield RawPage(kept, f"boards(state: all) [{len(kept)} in window]")


def board_groups(board: Any) -> list[Any]:
    if not isinstance(board, dict):
        return [board]
    return [
        {**group, "key": f"{board.get('id')}:{group.get('id')}", "board_id": board.get("id"),
         "updated_at": board.get("updated_at"),
         "deleted": bool(board.get("deleted") or group.get("deleted") or group.get("archived"))}
        for group in board.get("groups") or [] if isinstance(group, dict)
    ]


@dataclass(frozen=True)
class UsersReader:
    """The whole user list (monday gives users no modification time)."""

    def pages(self, api: GraphQLApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        query = "query ($limit: Int!, $page: Int!) { users(limit: $limit, page: $page) { %s } }" % USER_FIELDS
        for users, location in numbered_pages(api, stream.name, query, "users"):
            if users:
                yield RawPage(users, location)


MONDAY = SourceSpec(
    name="monday",
    title="monday.com",
    connect=connect,
    tags=("pm",),
    streams=(
        StreamSpec(name="boards", primary_key="id", cursor_field="updated_at", deleted_field="deleted",
                   readers=(BoardsReader(),), description="Projects (any state; archived/deleted → tombstones)"),
        StreamSpec(name="groups", primary_key="key", cursor_field="updated_at", deleted_field="deleted",
                   readers=(BoardsReader(groups=True),), description="Board groups (milestones group: Jalons)"),
        StreamSpec(name="items", primary_key="id", cursor_field="updated_at", deleted_field="deleted",
                   deleted_cursor_field="updated_at", readers=(ItemsReader(), ItemsReader(removals=True)),
                   description="Tasks and milestones with their column values (status, dates, CRM deal)"),
        StreamSpec(name="users", primary_key="id", cursor_field="created_at", readers=(UsersReader(),),
                   description="People (full list each run)"),
        StreamSpec(name="time_tracking", primary_key="id", cursor_field="updated_at", deleted_field="deleted",
                   readers=(TimeTrackingReader(), TimeTrackingReader(removals=True)),
                   description="Time-tracking sessions: person, date, seconds, billable (checkbox convention)"),
    ),
    doc="""Extracts monday.com boards, groups, items, users and time-tracking sessions (GraphQL API v2).

Connection `passerelle_monday`: host = `https://api.monday.com`, password = personal API token;
extra `{"api_version": "2025-07", "page_size": 500}`; `ca_bundle` to trust a private CA.
""",
)
