"""monday.com mutations: items, subitems, column values, updates, boards and columns.

Column values arrive as monday's JSON (``{"status": {"label": "Terminé"}, "date_done": {"date":
"2026-03-02"}, "hours": "3.5"}``), usually sent as a GraphQL string holding that JSON; the simple
forms (``"Terminé"``, ``"2026-03-02"``, ``"55500002,55500003"``) are accepted too, as monday does for
``change_simple_column_value``. A value monday would refuse (unknown label without
``create_labels_if_missing``, unknown person, bad date or number, read-only column) fails the whole
mutation with ``ColumnValueException``: nothing is written. Every write stamps the item's
``updated_at`` with the sandbox clock and appends an activity log entry by the API token's user,
so the next incremental read (``__last_updated__`` rule, ``activity_logs(from:)``) sees it.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import DocumentNode, FieldNode, OperationDefinitionNode
from passerelle_sandbox.monday_errors import MondayError
from passerelle_sandbox.monday_reads import LINK_TYPES, text_of_html
from passerelle_sandbox.monday_columns import STATUS_LABELS, Record

READ_ONLY = {"mirror", "time_tracking", "subtasks", "name"}
MAX_NAME_LENGTH = 255
DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?))?$")
SUBITEM_COLUMNS = (("name", "Nom", "name"), ("person", "Responsable", "people"), ("status", "Statut", "status"),
                   ("date0", "Date", "date"))


def _value_error(column: Record, message: str, value: Any) -> MondayError:
    return MondayError("ColumnValueException", message, error_data={
        "column_id": column["id"], "column_type": column["type"],
        "column_value": json.dumps(value, ensure_ascii=False)})


def _json_arg(value: Any) -> Any:
    """A ``JSON`` argument: monday clients send JSON text in a GraphQL string, or an object."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise MondayError("JsonParseException", "Unexpected token in JSON", error_data={"value": value}) from None
    return value


def status_labels(column: Record) -> dict[int, str]:
    return {**{i: label for i, label in STATUS_LABELS.items() if label}, **column.get("extra_labels", {})}


def parse_status(column: Record, value: Any, create_labels: bool) -> Record:
    labels = status_labels(column)
    if isinstance(value, dict) and "index" in value:
        index = int(value["index"])
        if index not in labels:
            raise _value_error(column, f"This status index doesn't exist, possible statuses are: {labels}", value)
        return {"index": index, "label": labels[index]}
    label = str(value.get("label", "") if isinstance(value, dict) else value)
    index = next((i for i, known in labels.items() if known == label), None)
    if index is None:
        if not create_labels:
            raise _value_error(column, f"This status label doesn't exist, possible statuses are: {labels}", value)
        index = next(i for i in range(len(labels) + 2) if i not in labels and i != 5)
        column.setdefault("extra_labels", {})[index] = label
    return {"index": index, "label": label}


def parse_value(app: Any, column: Record, value: Any, create_labels: bool) -> Any:
    """monday's JSON (or simple) form of one column value → the stored raw form; None clears it."""
    ctype = column["type"]
    if ctype in READ_ONLY:
        raise _value_error(column, f"Column of type {ctype} can't be changed through the API", value)
    if value is None or value == "" or value == {}:
        return None
    if ctype == "status":
        return parse_status(column, value, create_labels)
    if ctype == "people":
        if isinstance(value, dict):
            ids = [str(p["id"]) for p in value.get("personsAndTeams", [])]
        else:
            ids = [part.strip() for part in str(value).split(",") if part.strip()]
        missing = [i for i in ids if i not in app.users]
        if missing:
            raise _value_error(column, f"The people with ids {missing} do not exist", value)
        return {"personsAndTeams": [{"id": int(i), "kind": "person"} for i in ids]} if ids else None
    if ctype == "date":
        match = DATE.match(str(value.get("date", "")) if isinstance(value, dict) else str(value))
        if match is None:
            raise _value_error(column, "Invalid date format, expected YYYY-MM-DD", value)
        moment = value.get("time") if isinstance(value, dict) else match.group(2)
        return {"date": match.group(1), **({"time": moment} if moment else {})}
    if ctype == "checkbox":
        checked = value.get("checked") if isinstance(value, dict) else value
        return {"checked": "true"} if str(checked).lower() in ("true", "1", "v") else None
    if ctype == "numbers":
        text = str(value).strip()
        try:
            if not Decimal(text).is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise _value_error(column, f"{text!r} is not a valid number", value) from None
        return text
    if ctype in LINK_TYPES:
        ids = value.get("item_ids", [p.get("linkedPulseId") for p in value.get("linkedPulseIds", [])]) \
            if isinstance(value, dict) else str(value).split(",")
        ids = [str(i).strip() for i in ids if str(i).strip()]
        missing = [i for i in ids if i not in app.items or app.items[i]["state"] == "deleted"]
        if missing:
            raise _value_error(column, f"Linked items {missing} were not found", value)
        return ids or None
    if ctype == "link" and isinstance(value, dict):
        return f"{value.get('text') or value.get('url')} - {value.get('url')}"
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return str(value)


def count_root_fields(document: DocumentNode, operation_name: str | None, name: str) -> int:
    """How many times the mutation that will run calls ``name`` (aliases count once each)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next((o for o in operations if operation_name and o.name and o.name.value == operation_name),
                  operations[0] if operations else None)
    if chosen is None or chosen.operation.value != "mutation":
        return 0
    return sum(1 for s in chosen.selection_set.selections if isinstance(s, FieldNode) and s.name.value == name)


def checked_name(name: Any) -> str:
    text = str(name)
    if len(text) > MAX_NAME_LENGTH:
        raise MondayError("ItemNameTooLongException", f"Item name must be {MAX_NAME_LENGTH} characters or less",
                          error_data={"name_length": len(text), "max_length": MAX_NAME_LENGTH})
    return text


# ---------------------------------------------------------------------------------- lookups

def board_of(app: Any, board_id: Any) -> Record:
    board = app.boards.get(str(board_id))
    if board is None or board["state"] == "deleted":
        raise MondayError("InvalidBoardIdException", "Board not found", error_data={"board_id": str(board_id)})
    return board


def item_of(app: Any, item_id: Any, board: Record | None = None) -> Record:
    item = app.items.get(str(item_id)) if item_id is not None else None
    if item is None or item["state"] == "deleted" or (board is not None and item["board_id"] != board["id"]):
        raise MondayError("InvalidItemIdException", "Item not found in board", error_data={"item_id": str(item_id)})
    return item


def group_of(board: Record, group_id: str) -> Record:
    group = next((g for g in board["groups"] if g["id"] == group_id and not g.get("deleted")), None)
    if group is None:
        raise MondayError("InvalidGroupIdException", "Group not found",
                          error_data={"group_id": group_id, "board_id": board["id"]})
    return group


def column_of(board: Record, column_id: str) -> Record:
    column = board["column_index"].get(column_id)
    if column is None:
        raise MondayError("InvalidColumnIdException", "This column ID doesn't exist for the board",
                          error_data={"column_id": column_id, "board_id": board["id"]})
    return column


# ----------------------------------------------------------------------------- item writes

def apply_values(app: Any, item: Record, values: dict[str, Any], create_labels: bool, log: bool = True) -> None:
    """Validate every value first, then write them all (monday applies a mutation whole or not at all)."""
    board = app.boards[item["board_id"]]
    if not isinstance(values, dict):
        raise MondayError("InvalidArgumentException", "column_values must be a JSON object")
    parsed: list[tuple[Record | None, Any]] = []
    for column_id, value in values.items():
        if column_id == "name":
            parsed.append((None, checked_name(value)))
        else:
            column = column_of(board, column_id)
            parsed.append((column, parse_value(app, column, value, create_labels)))
    now = app.now_monday()
    for column, raw in parsed:
        if column is None:
            previous, item["name"] = item["name"], raw
            if log:
                app._log(board["id"], "update_name", item, value=raw, previous_value=previous)
            continue
        previous = item["column_values"].get(column["id"])
        if raw is None:
            item["column_values"].pop(column["id"], None)
        else:
            item["column_values"][column["id"]] = raw
        if log:
            app._log(board["id"], "update_column_value", item, column_id=column["id"], column_type=column["type"],
                     column_title=column["title"], value=raw, previous_value=previous)
    app.touch_item(item, now)


def new_item(app: Any, board: Record, name: str, group_id: str | None, values: Any, create_labels: bool) -> Record:
    name = checked_name(name)
    group = group_of(board, group_id) if group_id else next(g for g in board["groups"] if not g.get("deleted"))
    values = _json_arg(values) or {}
    if not isinstance(values, dict):
        raise MondayError("InvalidArgumentException", "column_values must be a JSON object")
    for column_id, value in values.items():  # refuse before creating anything
        if column_id != "name":
            parse_value(app, column_of(board, column_id), value, create_labels)
    now = app.now_monday()
    item = app._new_item(board["id"], {"name": name}, now)
    item["group_id"] = group["id"]
    apply_values(app, item, values, create_labels, log=False)
    app._log(board["id"], "create_pulse", item)
    app._touch_board(board["id"], now)
    return item


def create_item(app: Any, info: Any, board_id: str, item_name: str, column_values: Any = None,
                group_id: str | None = None, create_labels_if_missing: bool | None = None,
                position_relative_method: str | None = None, relative_to: str | None = None) -> Record:
    """A new item, at the end of the board or ``before_at``/``after_at`` (the default) item ``relative_to``."""
    board = board_of(app, board_id)
    anchor = item_of(app, relative_to, board) if relative_to is not None else None
    item = new_item(app, board, item_name, group_id, column_values, bool(create_labels_if_missing))
    if anchor is not None:
        order = app.board_items[board["id"]]
        order.remove(item["id"])
        after = 0 if position_relative_method == "before_at" else 1
        order.insert(order.index(anchor["id"]) + after, item["id"])
    return item


def subitems_board(app: Any, parent_board: Record) -> Record:
    """The parent board's subitems board, made with its ``subitems`` column on the first subitem."""
    existing = parent_board.get("subitems_board_id")
    if existing:
        return app.boards[existing]
    board = app.new_board(f"Subitems of {parent_board['name']}", parent_board["board_kind"],
                          parent_board.get("workspace_id"), SUBITEM_COLUMNS, (("topics", "Subitems", "#579bfc"),))
    board["type"] = "sub_items_board"
    parent_board["subitems_board_id"] = board["id"]
    column = {"id": "subitems", "title": "Sous-éléments", "type": "subtasks", "archived": False,
              "settings_str": json.dumps({"allowMultipleItems": True, "boardIds": [int(board["id"])]})}
    parent_board["columns"].append(column)
    parent_board["column_index"][column["id"]] = column
    return board


def create_subitem(app: Any, info: Any, parent_item_id: str, item_name: str, column_values: Any = None,
                   create_labels_if_missing: bool | None = None) -> Record:
    parent = item_of(app, parent_item_id)
    board = subitems_board(app, app.boards[parent["board_id"]])
    item = new_item(app, board, item_name, None, column_values, bool(create_labels_if_missing))
    item["parent_item_id"] = parent["id"]
    parent.setdefault("subitem_ids", []).append(item["id"])
    app.touch_item(parent, item["updated_at"])
    return item


def change_column_value(app: Any, info: Any, board_id: str, column_id: str, value: Any, item_id: str | None = None,
                        create_labels_if_missing: bool | None = None) -> Record:
    item = item_of(app, item_id, board_of(app, board_id))
    apply_values(app, item, {column_id: _json_arg(value)}, bool(create_labels_if_missing))
    return item


def change_simple_column_value(app: Any, info: Any, board_id: str, column_id: str, value: str | None = None,
                               item_id: str | None = None, create_labels_if_missing: bool | None = None) -> Record:
    item = item_of(app, item_id, board_of(app, board_id))
    apply_values(app, item, {column_id: value}, bool(create_labels_if_missing))
    return item


def change_multiple_column_values(app: Any, info: Any, board_id: str, column_values: Any, item_id: str | None = None,
                                  create_labels_if_missing: bool | None = None) -> Record:
    item = item_of(app, item_id, board_of(app, board_id))
    apply_values(app, item, _json_arg(column_values), bool(create_labels_if_missing))
    return item


def move_item_to_group(app: Any, info: Any, group_id: str, item_id: str | None = None) -> Record:
    item = item_of(app, item_id)
    board = app.boards[item["board_id"]]
    group = group_of(board, group_id)
    previous, item["group_id"] = item["group_id"], group["id"]
    app._log(board["id"], "move_pulse_into_group", item, source_group_id=previous, dest_group_id=group["id"])
    app.touch_item(item, app.now_monday())
    return item


def _set_state(app: Any, item: Record, state: str, event: str) -> Record:
    item["state"] = state
    app._log(item["board_id"], event, item)
    app.touch_item(item, app.now_monday())
    return item


def archive_item(app: Any, info: Any, item_id: str | None = None) -> Record:
    return _set_state(app, item_of(app, item_id), "archived", "archive_pulse")


def delete_item(app: Any, info: Any, item_id: str | None = None) -> Record:
    return _set_state(app, item_of(app, item_id), "deleted", "delete_pulse")


# --------------------------------------------------------------------------- update writes

def create_update(app: Any, info: Any, body: str, item_id: str | None = None, parent_id: str | None = None) -> Record:
    now = app.now_monday()
    app.next_update += 1
    update = {"id": str(app.next_update), "body": body, "text_body": text_of_html(body), "creator_id": app.me_id,
              "created_at": now, "updated_at": now, "edited_at": now, "assets": [], "replies": []}
    if parent_id is not None:
        parent = app.updates.get(str(parent_id))
        if parent is None:
            raise MondayError("InvalidArgumentException", "Update not found", error_data={"parent_id": str(parent_id)})
        reply = {**update, "kind": "text", "item_id": parent["item_id"]}
        parent["replies"].append(reply)
        app.updates.touch(parent["id"], at=now)
        return reply
    item = item_of(app, item_id)
    update.update(item_id=item["id"], board_id=item["board_id"])
    app.updates.insert(update, at=now)
    return update


def delete_update(app: Any, info: Any, id: str) -> Record:  # noqa: A002 - monday's argument name
    if str(id) not in app.updates:
        raise MondayError("InvalidArgumentException", "Update not found", error_data={"id": str(id)})
    return app.updates.delete(str(id)).record


# ------------------------------------------------------------------------ board and columns

def create_board(app: Any, info: Any, board_name: str, board_kind: str, description: str | None = None,
                 folder_id: str | None = None, workspace_id: str | None = None, template_id: str | None = None,
                 board_owner_ids: list[str] | None = None, board_subscriber_ids: list[str] | None = None,
                 board_owner_team_ids: list[str] | None = None, board_subscriber_teams_ids: list[str] | None = None,
                 empty: bool = False) -> Record:
    """A new board; from ``template_id``, a copy of that board's columns, groups and (unless ``empty``) items."""
    if workspace_id is not None and str(workspace_id) not in app.workspaces:
        raise MondayError("InvalidWorkspaceIdException", "Workspace not found",
                          error_data={"workspace_id": str(workspace_id)})
    owners = [str(u) for u in board_owner_ids or [app.me_id]]
    subscribers = [str(u) for u in board_subscriber_ids or []]
    if any(u not in app.users for u in owners + subscribers):
        raise MondayError("InvalidUserIdException", "User not found",
                          error_data={"board_owner_ids": owners, "board_subscriber_ids": subscribers})
    team_owners = [str(t) for t in board_owner_team_ids or []]
    team_subscribers = [str(t) for t in board_subscriber_teams_ids or []]
    if any(t not in app.teams for t in team_owners + team_subscribers):
        raise MondayError("InvalidTeamIdException", "Team not found",
                          error_data={"board_owner_team_ids": team_owners,
                                      "board_subscriber_teams_ids": team_subscribers})
    template = None
    if template_id is not None:
        template = app.boards.get(str(template_id))
        if template is None or template["state"] == "deleted":
            raise MondayError("InvalidBoardIdException", "Template not found",
                              error_data={"template_id": str(template_id)})
    columns = [(c["id"], c["title"], c["type"]) for c in template["columns"]] if template else None
    groups = [(g["id"], g["title"], g["color"]) for g in template["groups"] if not g.get("deleted")] if template \
        else None
    board = app.new_board(board_name, board_kind, str(workspace_id) if workspace_id else None, columns, groups)
    board.update(description=description, owner_ids=owners, subscriber_ids=subscribers, team_owner_ids=team_owners,
                 team_subscriber_ids=team_subscribers)
    if template is not None:
        for copy, original in zip(board["columns"], template["columns"]):
            copy["settings_str"] = original.get("settings_str", "{}")
        if not empty:
            for item_id in list(app.board_items[template["id"]]):
                original = app.items[item_id]
                if original["state"] == "active" and not original.get("parent_item_id"):
                    item = app._new_item(board["id"], {"name": original["name"]}, board["created_at"])
                    item["group_id"] = original["group_id"]
                    item["column_values"] = json.loads(json.dumps(original["column_values"]))
                    app._log(board["id"], "create_pulse", item)
    return board


def create_column(app: Any, info: Any, board_id: str, title: str, column_type: str,  # noqa: A002 - monday's ``id``
                  description: str | None = None, defaults: Any = None, id: str | None = None,
                  after_column_id: str | None = None) -> Record:
    board = board_of(app, board_id)
    column_id = id or f"{column_type}_mk{app.random_bits(24):06x}"
    if column_id in board["column_index"]:
        raise MondayError("ColumnIdDuplicateException", "Column id already exists on the board",
                          error_data={"column_id": column_id})
    settings = _json_arg(defaults) if defaults is not None else {}
    column = {"id": column_id, "title": title, "type": column_type, "archived": False, "description": description,
              "settings_str": json.dumps(settings, separators=(",", ":"), ensure_ascii=False)}
    position = len(board["columns"])
    if after_column_id is not None:
        position = board["columns"].index(column_of(board, str(after_column_id))) + 1
    board["columns"].insert(position, column)
    board["column_index"][column_id] = column
    app.boards.touch(board["id"], at=app.now_monday())
    return column


MUTATIONS = {
    "create_item": create_item, "create_subitem": create_subitem, "change_column_value": change_column_value,
    "change_simple_column_value": change_simple_column_value,
    "change_multiple_column_values": change_multiple_column_values, "move_item_to_group": move_item_to_group,
    "archive_item": archive_item, "delete_item": delete_item, "create_update": create_update,
    "delete_update": delete_update, "create_board": create_board, "create_column": create_column,
}
