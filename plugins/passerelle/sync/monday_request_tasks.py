"""A request's task on monday.com: an item of the deal's board.

An item has no description: the key line is the value of a ``Demande CRM`` text column (id
``crm_request``), added to the board when it lacks one and set by the ``create_item`` itself, so an item
never exists without its key. The board's items are read once per board and run (``items_page``, then
``next_items_page``), with the key column and the status column: an item is done when its status is the
board's done label (monday's ``is_done``) or is called ``Done`` or ``Terminé``. Who set it and when: the
status value's ``updated_at`` and the board's activity log of that item (its user's name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from passerelle.sync.keys import key_line
from passerelle.sync.monday_projects import MondayProjects
from passerelle.sync.request_tasks import Task

REQUEST_COLUMN = "crm_request"
REQUEST_TITLES = ("demande crm", "crm request")
DONE_LABELS = ("done", "terminé")
ITEMS_PAGE = 100

_ITEM = "id name url column_values { id type text ... on StatusValue { label is_done updated_at } }"
_ITEMS = """query ($board: [ID!], $limit: Int!) {
  boards(ids: $board) { items_page(limit: $limit) { cursor items { %s } } } }""" % _ITEM
_NEXT = """query ($cursor: String!, $limit: Int!) { next_items_page(cursor: $cursor, limit: $limit) {
  cursor items { %s } } }""" % _ITEM
_CREATE = """mutation ($board: ID!, $name: String!, $values: JSON) {
  create_item(board_id: $board, item_name: $name, column_values: $values) { %s } }""" % _ITEM
_LOG = """query ($board: [ID!], $item: [ID!]) {
  boards(ids: $board) { activity_logs(item_ids: $item, limit: 25) { event user_id data created_at } } }"""
_USERS = """query ($ids: [ID!]) { users(ids: $ids) { id name } }"""


def _task(item: dict[str, Any]) -> Task:
    values = item.get("column_values") or []
    key = next((v.get("text") or "" for v in values if v.get("id") == REQUEST_COLUMN), "")
    status = next((v for v in values if v.get("type") == "status"), {})
    done = bool(status.get("is_done")) or (status.get("label") or "").strip().lower() in DONE_LABELS
    return Task(str(item["id"]), key, done, item.get("url"), None, status.get("updated_at") if done else None)


@dataclass
class MondayTasks:
    """Items of a board through monday's GraphQL API, with the board maker's writer and columns."""

    projects: MondayProjects
    _boards: dict[str, str] = field(default_factory=dict, repr=False)
    """Board of each item read this run (what the activity log is read from)."""

    def _items(self, board_id: str, link_id: int | None) -> Iterator[dict[str, Any]]:
        read = self.projects.writer.read
        boards = read(_ITEMS, {"board": [board_id], "limit": ITEMS_PAGE}, operation="read_tasks",
                      link_id=link_id).get("boards") or []
        page = (boards[0] if boards else {}).get("items_page") or {}
        while True:
            yield from (item for item in page.get("items") or [] if isinstance(item, dict))
            if not page.get("cursor"):
                return
            page = read(_NEXT, {"cursor": page["cursor"], "limit": ITEMS_PAGE}, operation="read_tasks",
                        link_id=link_id)["next_items_page"]

    def tasks(self, board_id: str, link_id: int | None) -> list[Task]:
        items = list(self._items(board_id, link_id))
        self._boards.update((str(item["id"]), board_id) for item in items)
        return [_task(item) for item in items]

    def create(self, board_id: str, task: dict[str, Any], link_id: int) -> Task:
        column = self.projects.text_column(board_id, REQUEST_COLUMN, "Demande CRM", REQUEST_TITLES, link_id)
        data = self.projects.writer.write(
            _CREATE, {"board": board_id, "name": task["name"][:255],
                      "values": json.dumps({column: key_line(task["idem_key"])})},
            operation="create_request_task", link_id=link_id,
            object_id=lambda d: (d.get("create_item") or {}).get("id"))
        return _task(data["create_item"])

    def closing(self, task: Task, link_id: int | None) -> Task:
        """The item's latest column change in the board's activity log: who made it (by name)."""
        read = self.projects.writer.read
        board = self._boards.get(task.task_id)
        if board is None:
            return task
        logs = read(_LOG, {"board": [board], "item": [task.task_id]}, operation="read_history",
                    link_id=link_id).get("boards") or []
        change = next((entry for entry in (logs[0].get("activity_logs") or [] if logs else [])
                       if entry.get("event") == "update_column_value"), None)  # newest first
        if change is None:
            return task
        users = read(_USERS, {"ids": [change["user_id"]]}, operation="read_users", link_id=link_id).get("users") or []
        who = (users[0].get("name") if users else None) or change["user_id"]
        return Task(task.task_id, task.notes, True, task.url, who, task.closed_at)
