"""A won deal's project on monday.com: a board per deal, an item per deal line, all carrying the deal.

The extract and staging read a monday board as a project and link it to the deal its items name in the
``Affaire CRM`` text column (id ``crm_deal``, ``<crm>:<deal id>``). So each deal gets its own board, made
from the route's template board when there is one (``create_board(template_id:)`` copies its columns,
groups and items), in the route's workspace when one is named. The board lacks the column? It is added.
A ``Fiche affaire`` item and one item per deal line are made with the column set, so the board's link is
unanimous; ``items_page_by_column_values`` on that column tells what the board already holds, so a run
that stopped halfway completes the board instead of duplicating its items.

monday has no idempotency key and no board search: the key line (``Passerelle: <key>``) is stamped in the
board's description, and the lookup before any create reads the descriptions of every board (archived
ones included, deleted ones not: a board people deleted is not adopted).

The ``Fiche affaire`` item also carries the project's terms: the deal owner in a ``Responsable commercial``
people column (the account user of that email, ``users(emails:)``), the won date in ``Début`` and the due date,
when the route gives one, in ``Échéance`` (date columns), each column added when the board lacks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from passerelle.sync.graphql_writes import GraphQLWriter
from passerelle.sync.keys import carries_key, stamped
from passerelle.sync.links import Link
from passerelle.sync.project_owners import OwnerMatch

DEAL_COLUMN = "crm_deal"
DEAL_TITLES = ("affaire crm", "crm deal")
DEAL_ITEM = "Fiche affaire"
BOARDS_PAGE = 100
ITEMS_PAGE = 100
TERM_COLUMNS = (("deal_owner", "Responsable commercial", "people"), ("deal_start", "Début", "date"),
                ("deal_due", "Échéance", "date"))
"""The deal item's owner, start and due columns: id, title, type."""

_BOARDS = """query ($page: Int!) {
  boards(limit: %d, page: $page, state: all) { id name description state url } }""" % BOARDS_PAGE
_COLUMNS = """query ($board: [ID!]) { boards(ids: $board) { columns { id title type } } }"""
_DEAL_ITEMS = """query ($board: ID!, $column: String!, $value: String!) {
  items_page_by_column_values(board_id: $board, limit: %d, columns: [{column_id: $column, column_values: [$value]}])
  { cursor items { id name } } }""" % ITEMS_PAGE
_NEXT_ITEMS = """query ($cursor: String!) {
  next_items_page(cursor: $cursor, limit: %d) { cursor items { id name } } }""" % ITEMS_PAGE
_CREATE_BOARD = """mutation ($name: String!, $description: String, $workspace: ID, $template: ID) {
  create_board(board_name: $name, board_kind: public, description: $description, workspace_id: $workspace,
               template_id: $template) { id name description state url } }"""
_CREATE_COLUMN = """mutation ($board: ID!, $id: String!, $title: String!) {
  create_column(board_id: $board, id: $id, title: $title, column_type: text) { id } }"""
_CREATE_TYPED_COLUMN = """mutation ($board: ID!, $id: String!, $title: String!, $type: ColumnType!) {
  create_column(board_id: $board, id: $id, title: $title, column_type: $type) { id } }"""
_USERS = """query ($email: String!) { users(emails: [$email]) { id email } }"""
_CREATE_ITEM = """mutation ($board: ID!, $name: String!, $values: JSON) {
  create_item(board_id: $board, item_name: $name, column_values: $values) { id } }"""


def _normalised(title: str | None) -> str:
    return " ".join((title or "").lower().split())


@dataclass
class MondayProjects:
    """Find, create and furnish the board of a deal through monday's GraphQL API."""

    writer: GraphQLWriter
    owners: OwnerMatch = field(init=False)

    def __post_init__(self) -> None:
        self.owners = OwnerMatch(self.writer, "users(emails:)", self._user_of)

    def _user_of(self, email: str, link_id: int) -> str | None:
        users = self.writer.read(_USERS, {"email": email}, operation="read_users", link_id=link_id).get("users") or []
        return next((str(u["id"]) for u in users if (u.get("email") or "").lower() == email), None)

    def _deal_terms(self, board_id: str, project: dict[str, Any], link_id: int) -> dict[str, Any]:
        """The deal item's owner, start and due values; their columns are added where the board lacks them."""
        values: dict[str, Any] = {"deal_start": {"date": project["start_date"]}}
        if project.get("due_date"):
            values["deal_due"] = {"date": project["due_date"]}
        owner = self.owners.user(project.get("owner"), link_id)
        if owner:
            values["deal_owner"] = {"personsAndTeams": [{"id": int(owner), "kind": "person"}]}
        boards = self.writer.read(_COLUMNS, {"board": [board_id]}, operation="read_columns", link_id=link_id)["boards"]
        have = {c["id"] for c in (boards[0] if boards else {}).get("columns") or []}
        for column_id, title, kind in TERM_COLUMNS:
            if column_id in values and column_id not in have:
                self.writer.write(_CREATE_TYPED_COLUMN, {"board": board_id, "id": column_id, "title": title,
                                                         "type": kind}, operation="create_field", link_id=link_id)
        return values

    def _boards(self, link_id: int) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            boards = self.writer.read(_BOARDS, {"page": page}, link_id=link_id).get("boards") or []
            yield from (b for b in boards if isinstance(b, dict))
            if len(boards) < BOARDS_PAGE:
                return
            page += 1

    def find(self, idem_key: str, link_id: int) -> list[dict[str, Any]]:
        """Every board not deleted whose description carries the key."""
        return [b for b in self._boards(link_id)
                if b.get("state") != "deleted" and carries_key(b.get("description"), idem_key)]

    def create(self, project: dict[str, Any], link: Link) -> dict[str, Any]:
        variables = {"name": project["name"][:255], "description": stamped(project["summary"], project["idem_key"]),
                     "workspace": project.get("container"), "template": project.get("template")}
        data = self.writer.write(_CREATE_BOARD, variables, operation="create_project", link_id=link.link_id,
                                 object_id=lambda d: (d.get("create_board") or {}).get("id"))
        return data["create_board"]

    def text_column(self, board_id: str, column_id: str, title: str, titles: tuple[str, ...], link_id: int) -> str:
        """The board's text column ``column_id`` (or one titled as in ``titles``), added when it has none."""
        boards = self.writer.read(_COLUMNS, {"board": [board_id]}, operation="read_columns", link_id=link_id)["boards"]
        columns = (boards[0] if boards else {}).get("columns") or []
        found = next((c["id"] for c in columns if c["id"] == column_id), None) or next(
            (c["id"] for c in columns if c.get("type") == "text" and _normalised(c.get("title")) in titles), None)
        if found:
            return found
        self.writer.write(_CREATE_COLUMN, {"board": board_id, "id": column_id, "title": title},
                          operation="create_field", link_id=link_id)
        return column_id

    def _deal_column(self, board_id: str, link_id: int) -> str:
        return self.text_column(board_id, DEAL_COLUMN, "Affaire CRM", DEAL_TITLES, link_id)

    def _deal_items(self, board_id: str, column: str, deal_link: str, link_id: int) -> set[str]:
        page = self.writer.read(_DEAL_ITEMS, {"board": board_id, "column": column, "value": deal_link},
                                operation="read_tasks", link_id=link_id)["items_page_by_column_values"]
        names = {i["name"] for i in page.get("items") or []}
        while page.get("cursor"):
            page = self.writer.read(_NEXT_ITEMS, {"cursor": page["cursor"]}, operation="read_tasks",
                                    link_id=link_id)["next_items_page"]
            names |= {i["name"] for i in page.get("items") or []}
        return names

    def furnish(self, board: dict[str, Any], project: dict[str, Any], link_id: int) -> int:
        """Add the deal column if missing, the deal item and one item per line not yet there; returns items made."""
        board_id = str(board["id"])
        column = self._deal_column(board_id, link_id)
        have = self._deal_items(board_id, column, project["deal_link"], link_id)
        values = json.dumps({column: project["deal_link"]})
        added = 0
        for name in [DEAL_ITEM, *(line["title"][:255] for line in project["lines"])]:
            if name in have:
                continue
            item_values = values if name != DEAL_ITEM else json.dumps(
                {column: project["deal_link"], **self._deal_terms(board_id, project, link_id)})
            self.writer.write(_CREATE_ITEM, {"board": board_id, "name": name, "values": item_values},
                              operation="create_task", link_id=link_id,
                              object_id=lambda d: (d.get("create_item") or {}).get("id"))
            have.add(name)
            added += 1
        return added

    @staticmethod
    def url(board: dict[str, Any]) -> str | None:
        return board.get("url")
