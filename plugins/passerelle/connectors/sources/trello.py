"""Trello REST v1: boards, lists, cards, custom fields, checklists and members, driven by board actions.

Trello has no modification filter on its object lists, so every incremental stream reads the
board's change log: ``GET /1/boards/{id}/actions?since=&before=&limit=1000`` returns actions newest
first, and a full page is followed by ``before=<id of its last action>`` until a short page (or an
action older than the window) shows the window start was reached, so a window holding more than
1000 actions is read whole. ``since``/``before`` are sent as dates widened to whole seconds (Trello
compares them as ObjectIds, whose timestamp has second resolution) and each action's ``date`` is
then checked against the half-open window.

- ``cards``: cards touched by an action inside the window are read from ``cards/all`` (archived
  ones included: ``closed`` means archived, not deleted) with ``customFieldItems``; cursor
  ``dateLastActivity``. A ``deleteCard`` action becomes a tombstone ``{"id", "idBoard",
  "deleted": true, "dateDeleted": <action date>, "idAction"}``.
- ``actions``: the change log itself, cursor ``date``.
- ``boards``: boards of the token's member (optionally only extra ``board_ids``) whose
  ``dateLastActivity`` falls in the window.
- ``lists``, ``custom_fields``, ``checklists``, ``members``: these objects carry no modification
  date, so the reader stamps each one with the date of the newest action about it inside the
  window (``passerelleChangedAt``; on the first window, objects no action mentions are stamped
  with their ObjectId creation time). Removal actions (``deleteCustomField``,
  ``removeChecklistFromCard``) become tombstones like cards; a member leaving a board is not one.

Conventions for invoicing (Trello has no time tracking, milestones nor CRM link):
a board is a project; its custom field ``CRM deal`` (text ``salesforce:<Opportunity Id>`` or
``hubspot:<deal id>``, set on the board's cards because Trello custom fields live on cards) links it
to the won deal, otherwise the customer's name in the board name is the only hint. Task status is
the card's list (``À faire``/``En cours``/``Terminé``) and its completion date the ``updateCard``
action moving it to ``Terminé`` (``dueComplete`` set). Milestones are cards of the ``Jalons`` list
(label ``Jalon``, ``due``, ``dueComplete``). A time entry is a card of the ``Temps`` list: its member
is the person, custom fields ``Date worked`` (date), ``Hours`` (number) and ``Billable`` (checkbox).

Connection ``passerelle_trello``: host ``https://api.trello.com``, login = API key, password = user
token (sent as ``Authorization: OAuth oauth_consumer_key=…, oauth_token=…``); extra ``board_ids``
(list) to restrict boards, ``page_size`` (actions per call, at most 1000), ``ca_bundle``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import requests

from passerelle.connectors.incremental import in_window
from passerelle.connectors.paginators import LastItemCursor, PageRequest, PageResponse, Send, SinglePage, paginate
from passerelle.connectors.paging import max_response_mb
from passerelle.connectors.auth import StaticToken
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import JsonApi, retry_after_header
from passerelle.connectors.retry import RetrySettings
from passerelle.connectors.spec import RawPage, SourceSpec, StreamSpec, dig
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.errors import BadRecordError
from passerelle.records import Window

log = logging.getLogger(__name__)

MAX_PAGE = 1000
STAMP = "passerelleChangedAt"


def throttle_delay(response: requests.Response) -> float | None | bool:
    """Trello throttles with 429 and a JSON ``error`` code but no ``Retry-After``: back off."""
    if response.status_code != 429:
        return False
    try:
        code = response.json().get("error", "")
    except (ValueError, AttributeError):
        code = ""
    log.warning("trello throttled the call (%s)", code or response.text[:100])
    return retry_after_header(response)


@dataclass
class TrelloApi(JsonApi):
    """JSON requests signed with the key and token in Trello's ``OAuth`` header."""

    api_key: str = ""
    board_ids: tuple[str, ...] = ()
    page_size: int = MAX_PAGE
    _boards: list[dict[str, Any]] | None = field(default=None, init=False, repr=False)

    def authorization(self) -> str:
        return f'OAuth oauth_consumer_key="{self.api_key}", oauth_token="{self.tokens.token().access_token}"'

    def get_list(self, path: str, stream: str, **params: Any) -> list[Any]:
        body = self.request("GET", path, stream=stream, params=params or None)
        if not isinstance(body, list):
            raise BadRecordError(self.source, stream, f"(response of GET {path})", f"expected a JSON array, got {type(body).__name__}")
        return body

    def boards(self, stream: str) -> list[dict[str, Any]]:
        """The member's boards (open and closed), restricted to ``board_ids`` when configured."""
        if self._boards is None:
            boards = self.get_list("/1/members/me/boards", stream, filter="all", fields="all")
            wanted = set(self.board_ids)
            self._boards = [b for b in boards if not wanted or (isinstance(b, dict) and b.get("id") in wanted)]
        return self._boards


def connect(config: SourceConfig, retry: RetrySettings) -> TrelloApi:
    page_size = int(config.option("page_size", MAX_PAGE))
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"trello page_size must be between 1 and {MAX_PAGE}, got {page_size}")
    return TrelloApi(
        source="trello", base_url=config.base_url, tokens=StaticToken(config.password or ""), retry=retry,
        verify=config.verify, max_response_mb=max_response_mb(config), throttle_delay=throttle_delay, api_key=config.login or "",
        board_ids=tuple(config.option("board_ids") or ()), page_size=page_size,
    )


def trello_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def window_params(window: Window) -> dict[str, str]:
    """``since``/``before`` covering the window once widened to whole seconds."""
    end = window.end.astimezone(timezone.utc)
    ceiling = end.replace(microsecond=0) + (timedelta(seconds=1) if end.microsecond else timedelta(0))
    params = {"before": trello_date(ceiling)}
    if window.start is not None:
        params["since"] = trello_date(window.start.replace(microsecond=0))
    return params


def action_time(action: Any) -> datetime | None:
    try:
        return parse_timestamp(action.get("date")) if isinstance(action, dict) else None
    except (TypeError, ValueError):
        return None


def board_actions(api: TrelloApi, board_id: str, window: Window, stream: str,
                  types: str = "all") -> Iterator[tuple[list[Any], str]]:
    """Pages of a board's actions inside the window, newest first, walking ``before=<last id>``."""
    path = f"/1/boards/{board_id}/actions"

    def no_id(request: PageRequest, page: list[Any]) -> Exception:
        return BadRecordError(api.source, stream, f"#{len(page) - 1} at {path}?before={request.params['before']}",
                              "action without id: cannot page on")

    request = PageRequest(path, params={"filter": types, **window_params(window)})
    paginator = LastItemCursor(api.page_size, "before", "id", on_missing=no_id)
    for page in paginate(sender(api, stream), request, paginator, records=None, what=f"GET {path}"):
        yield [a for a in page.items if in_window(a, "date", window)], f"{path}?before={page.request.params['before']}"
        oldest = action_time(page.items[-1]) if page.items else None
        if window.start is not None and oldest is not None and oldest < window.start:
            return  # the server ignored ``since``: everything older is outside the window


def sender(api: TrelloApi, stream: str) -> Send:
    """Trello lists are bare JSON arrays: anything else is a bad response, named as such."""

    def send(request: PageRequest) -> PageResponse:
        return PageResponse(api.get_list(request.path, stream, **request.params))

    return send


def stamp_from_id(object_id: str) -> str:
    """ISO date of an ObjectId's creation second."""
    try:
        return trello_date(datetime.fromtimestamp(int(object_id[:8], 16), tz=timezone.utc))
    except (TypeError, ValueError):
        return ""


@dataclass(frozen=True)
class ActionsReader:
    """The board change log for the window."""

    def pages(self, api: TrelloApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        for board in api.boards(stream.name):
            for kept, location in board_actions(api, board["id"], window, stream.name):
                if kept:
                    yield RawPage(kept, location)


@dataclass(frozen=True)
class BoardsReader:
    """Boards whose last activity falls in the window (every board on the first window)."""

    def pages(self, api: TrelloApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        boards = api.boards(stream.name)
        kept = [b for b in boards if window.start is None or in_window(b, "dateLastActivity", window)]
        if kept:
            yield RawPage(kept, "/1/members/me/boards?filter=all")


@dataclass(frozen=True)
class ChangedObjectsReader:
    """Objects of each board that actions inside the window mention, read from their board list.

    ``refs`` are the dotted paths to the object id in an action's ``data``; ``change_types``
    restricts which actions count (empty: any action mentioning the object); ``delete_types`` turn
    into tombstones. With ``stamp`` the reader adds ``passerelleChangedAt`` (the newest action
    date) for objects that have no modification date of their own.
    """

    path: str
    refs: tuple[str, ...]
    change_types: frozenset[str] = frozenset()
    delete_types: frozenset[str] = frozenset()
    params: tuple[tuple[str, str], ...] = ()
    stamp: bool = True
    paged: bool = False

    def pages(self, api: TrelloApi, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        emitted: set[str] = set()
        for board in api.boards(stream.name):
            board_id = board["id"]
            changed, deleted = self._changes(api, board_id, window, stream.name)
            if window.start is not None and not changed and not deleted:
                continue
            path = self.path.format(board=board_id)
            for items in self._listing(api, path, stream.name):
                kept = []
                for item in items:
                    item_id = item.get("id") if isinstance(item, dict) else None
                    if item_id is not None and (item_id in emitted or (window.start is not None and item_id not in changed)):
                        continue
                    if item_id is not None:
                        emitted.add(item_id)
                        deleted.pop(item_id, None)
                        if self.stamp:
                            item[STAMP] = changed.get(item_id) or stamp_from_id(item_id)
                    kept.append(item)
                if kept:
                    yield RawPage(kept, path)
            tombstones = [
                {"id": object_id, "idBoard": board_id, "deleted": True, "dateDeleted": action["date"],
                 "idAction": action.get("id"), "type": action.get("type")}
                for object_id, action in deleted.items() if object_id not in emitted
            ]
            emitted.update(t["id"] for t in tombstones)
            if tombstones:
                yield RawPage(tombstones, f"/1/boards/{board_id}/actions (deletions)")

    def _changes(self, api: TrelloApi, board_id: str, window: Window, stream: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """Newest change date per object id, and the deletion action per deleted object id."""
        changed: dict[str, str] = {}
        deleted: dict[str, dict[str, Any]] = {}
        types = "all" if not self.change_types else ",".join(sorted(self.change_types | self.delete_types))
        for kept, _ in board_actions(api, board_id, window, stream, types):
            for action in kept:
                if not isinstance(action, dict) or not isinstance(action.get("data"), dict):
                    continue
                kind = action.get("type")
                for ref in self.refs:
                    object_id = dig(action["data"], ref)
                    if not isinstance(object_id, str):
                        continue
                    if kind in self.delete_types:
                        deleted.setdefault(object_id, action)
                    elif not self.change_types or kind in self.change_types:
                        changed.setdefault(object_id, action.get("date") or "")
        return changed, deleted

    def _listing(self, api: TrelloApi, path: str, stream: str) -> Iterator[list[Any]]:
        paginator = LastItemCursor(api.page_size) if self.paged else SinglePage()
        for page in paginate(sender(api, stream), PageRequest(path, params=dict(self.params)), paginator,
                             records=None, what=f"GET {path}"):
            yield page.items


def _objects(name: str, reader: ChangedObjectsReader, description: str, cursor: str = STAMP) -> StreamSpec:
    return StreamSpec(
        name=name, primary_key="id", cursor_field=cursor, deleted_field="deleted",
        deleted_cursor_field="dateDeleted", readers=(reader,), description=description,
    )


TRELLO = SourceSpec(
    name="trello",
    title="Trello",
    connect=connect,
    tags=("pm",),
    streams=(
        StreamSpec(name="boards", primary_key="id", cursor_field="dateLastActivity", readers=(BoardsReader(),),
                   description="Boards (projects); closed = archived"),
        _objects(
            "cards",
            ChangedObjectsReader("/1/boards/{board}/cards/all", ("card.id",), delete_types=frozenset({"deleteCard"}),
                                 params=(("customFieldItems", "true"),), stamp=False, paged=True),
            "Cards (tasks, milestones, time entries) with custom field items; deleteCard tombstones",
            cursor="dateLastActivity",
        ),
        StreamSpec(name="actions", primary_key="id", cursor_field="date", readers=(ActionsReader(),),
                   description="Board actions: the change log (newest first, paged by before=<id>)"),
        _objects(
            "lists",
            ChangedObjectsReader("/1/boards/{board}/lists", ("list.id",), params=(("filter", "all"),),
                                 change_types=frozenset({"createList", "updateList", "moveListToBoard", "moveListFromBoard"})),
            "Lists (task status columns)",
        ),
        _objects(
            "custom_fields",
            ChangedObjectsReader("/1/boards/{board}/customFields", ("customField.id",),
                                 change_types=frozenset({"createCustomField", "updateCustomField"}),
                                 delete_types=frozenset({"deleteCustomField"})),
            "Custom field definitions (CRM deal, Billable, Hours, Date worked)",
        ),
        _objects(
            "checklists",
            ChangedObjectsReader("/1/boards/{board}/checklists", ("checklist.id",),
                                 change_types=frozenset({"addChecklistToCard", "updateChecklist", "createCheckItem",
                                                         "updateCheckItem", "updateCheckItemStateOnCard", "deleteCheckItem"}),
                                 delete_types=frozenset({"removeChecklistFromCard"})),
            "Checklists with their items",
        ),
        _objects(
            "members",
            ChangedObjectsReader("/1/boards/{board}/members", ("member.id", "idMember"), params=(("fields", "all"),),
                                 change_types=frozenset({"addMemberToBoard", "makeNormalMemberOfBoard",
                                                         "makeAdminOfBoard", "makeObserverOfBoard"})),
            "Board members (the people of time entries)",
        ),
    ),
    doc=__doc__ or "",
)
