"""monday.com reads beyond boards and items: subitems, updates, teams, workspaces, tags, linked columns.

The account's teams, workspaces and tags come from the dataset section when it lists them, else are
derived from it deterministically (one team of consultants and one of integration, the workspace the
boards name, a ``facturable`` tag on boards with billable items and a ``client`` tag on boards
whose items carry a CRM deal). Updates (item comments) start empty and are written through
``create_update``.

``board_relation`` and ``dependency`` values hold linked item ids; ``mirror`` values show, through
the board's relation column named in the mirror's settings, the text of a column of the linked
items. monday leaves ``text`` null for these three types: their content is in ``display_value``,
which is what clients ask through ``... on MirrorValue { display_value }``.
"""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

from passerelle_sandbox.monday_errors import MondayError
from passerelle_sandbox.monday_columns import Record, render_column_value
from passerelle_sandbox.paging import numbered_page

LINK_TYPES = {"board_relation": "BoardRelationValue", "dependency": "DependencyValue"}
TAG = re.compile(r"<[^>]+>")


def _app(info: Any) -> Any:
    return info.context["app"]


def page_of(records: list[Any], limit: int | None, page: int | None) -> list[Any]:
    """Page ``page`` (from 1) of ``limit`` records; all of them without a limit."""
    return numbered_page(records, page or 1, len(records) if limit is None else limit).items


def text_of_html(body: str) -> str:
    """An update's ``text_body``: its HTML ``body`` without tags."""
    return unescape(TAG.sub("", body)).strip()


# ----------------------------------------------------------------------------- account extras

def load_extras(app: Any, section: Record) -> None:
    """Teams, workspaces, tags and updates of the account, from the dataset section or derived from it."""
    users = sorted(app.users.values(), key=lambda u: int(u["id"]))
    app.teams = {t["id"]: dict(t) for t in section.get("teams") or [
        {"id": "6100001", "name": "Consultants", "picture_url": None, "is_guest": False,
         "user_ids": [u["id"] for u in users if not u.get("is_admin")], "owner_ids": [app.me_id]},
        {"id": "6100002", "name": "Intégration", "picture_url": None, "is_guest": False,
         "user_ids": [app.me_id], "owner_ids": [app.me_id]},
    ]}
    first_board = min((b["created_at"] for b in app.boards.values()), default=None)
    app.workspaces = {w["id"]: dict(w) for w in section.get("workspaces") or [
        {"id": workspace_id, "name": "Projets clients", "kind": "open", "state": "active",
         "description": "Un tableau par affaire gagnée", "created_at": first_board, "is_default_workspace": False}
        for workspace_id in sorted({b["workspace_id"] for b in app.boards.values() if b.get("workspace_id")})
    ]}
    app.tags = {t["id"]: dict(t) for t in section.get("tags") or [
        {"id": "19500001", "name": "facturable", "color": "#00c875"},
        {"id": "19500002", "name": "client", "color": "#579bfc"},
    ]}
    for board in app.boards.values():
        if "tag_ids" in board:
            continue
        values = [app.items[i]["column_values"] for i in app.board_items.get(board["id"], [])]
        board["tag_ids"] = [tag for tag, used in (
            ("19500001", any(v.get("billable") for v in values)), ("19500002", any(v.get("crm_deal") for v in values)),
        ) if used and tag in app.tags]
    app.updates = app.collection([dict(u) for u in section.get("updates") or []])
    app.next_update = max((int(u) for u in app.updates), default=4_200_000_000)


# ------------------------------------------------------------------------------ root reads

def q_updates(app: Any, info: Any, ids: list[str] | None = None, limit: int = 25, page: int = 1) -> list[Record]:
    selected = [u for u in newest_updates(app) if ids is None or u["id"] in {str(i) for i in ids}]
    return page_of(selected, limit, page)


def q_teams(app: Any, info: Any, ids: list[str] | None = None) -> list[Record]:
    teams = sorted(app.teams.values(), key=lambda t: int(t["id"]))
    return [t for t in teams if ids is None or t["id"] in {str(i) for i in ids}]


def q_workspaces(app: Any, info: Any, ids: list[str] | None = None, limit: int | None = None, page: int | None = None,
                 kind: str | None = None, state: str = "active", order_by: str | None = None) -> list[Record]:
    spaces = sorted(app.workspaces.values(), key=lambda w: int(w["id"]))
    wanted = {str(i) for i in ids} if ids is not None else None
    spaces = [w for w in spaces if (wanted is None or w["id"] in wanted) and (kind is None or w["kind"] == kind)
              and (state == "all" or w["state"] == state)]
    if order_by == "created_at":
        spaces.sort(key=lambda w: w["created_at"] or "", reverse=True)
    return page_of(spaces, limit if limit is not None else 25, page)


def q_tags(app: Any, info: Any, ids: list[str] | None = None) -> list[Record]:
    tags = sorted(app.tags.values(), key=lambda t: int(t["id"]))
    return [t for t in tags if ids is None or t["id"] in {str(i) for i in ids}]


def q_items_page_by_column_values(app: Any, info: Any, board_id: str, limit: int = 25, cursor: str | None = None,
                                  columns: list[Record] | None = None) -> Record:
    """Items whose columns hold one of the given texts (AND between columns); paged like ``items_page``."""
    if cursor:
        return app.continue_page(cursor, limit)
    board = app.boards.get(str(board_id))
    if board is None:
        raise MondayError("InvalidBoardIdException", "Board not found", error_data={"board_id": str(board_id)})
    if not columns:
        raise MondayError("InvalidArgumentException", "columns or cursor must be provided")
    tests = []
    for wanted in columns:
        column = board["column_index"].get(wanted["column_id"])
        if column is None:
            raise MondayError("InvalidColumnIdException", "This column ID doesn't exist for the board",
                              error_data={"column_id": wanted["column_id"], "board_id": board["id"]})
        tests.append((column, {str(v) for v in wanted["column_values"] if v is not None}))
    selected = [
        item for item in (app.items[i] for i in app.board_items[board["id"]]) if item["state"] == "active"
        and all(column_text(app, item, column) in values for column, values in tests)
    ]
    return app.open_page(board, [i["id"] for i in selected], limit)


def column_text(app: Any, item: Record, column: Record) -> str:
    """What ``items_page_by_column_values`` compares: the column's text (its display value when linked)."""
    rendered = render_value(app, item, column)
    return str(rendered.get("display_value") if column["type"] in (*LINK_TYPES, "mirror") else rendered["text"] or "")


# ------------------------------------------------------------------------- field resolvers

def newest_updates(app: Any) -> list[Record]:
    return sorted(app.updates.values(), key=lambda u: (u["created_at"], int(u["id"])), reverse=True)


def board_updates(board: Record, info: Any, limit: int = 25, page: int = 1,
                  ids: list[str] | None = None) -> list[Record]:
    app = _app(info)
    selected = [u for u in newest_updates(app) if u["board_id"] == board["id"]
                and (ids is None or u["item_id"] in {str(i) for i in ids})]
    return page_of(selected, limit, page)


def item_updates(item: Record, info: Any, limit: int = 25, page: int = 1,
                 ids: list[str] | None = None) -> list[Record]:
    wanted = {str(i) for i in ids} if ids is not None else None
    return page_of([u for u in newest_updates(_app(info)) if u["item_id"] == item["id"]
                    and (wanted is None or u["id"] in wanted)], limit, page)


def update_creator(update: Record, info: Any) -> Record | None:
    return _app(info).users.get(update.get("creator_id"))


def update_replies(update: Record, info: Any) -> list[Record]:
    return sorted(update.get("replies", []), key=lambda r: (r["created_at"], int(r["id"])))


def item_subitems(item: Record, info: Any) -> list[Record]:
    app = _app(info)
    return [app.items[i] for i in item.get("subitem_ids", []) if app.items[i]["state"] == "active"]


def item_parent(item: Record, info: Any) -> Record | None:
    return _app(info).items.get(item.get("parent_item_id") or "")


def item_url(item: Record, info: Any) -> str:
    return f"https://passerelle-conseil.monday.com/boards/{item['board_id']}/pulses/{item['id']}"


def user_teams(user: Record, info: Any, ids: list[str] | None = None) -> list[Record]:
    return [t for t in q_teams(_app(info), info, ids) if user["id"] in t["user_ids"]]


def select_users(users: list[Record], ids: list[str] | None = None, limit: int | None = None,
                 page: int | None = None, kind: str | None = None, emails: list[str] | None = None,
                 name: str | None = None, newest_first: bool | None = None,
                 non_active: bool | None = None) -> list[Record]:
    """The ``users`` arguments (of the root field and of ``Team.users``) applied to ``users``."""
    selected = sorted(users, key=lambda u: int(u["id"]))
    if ids is not None:
        selected = [u for u in selected if u["id"] in {str(i) for i in ids}]
    if emails:
        selected = [u for u in selected if u["email"].lower() in {e.lower() for e in emails}]
    if name:
        selected = [u for u in selected if name.lower() in u["name"].lower()]
    if kind == "guests":
        selected = [u for u in selected if u.get("is_guest")]
    elif kind == "non_guests":
        selected = [u for u in selected if not u.get("is_guest")]
    if non_active:
        selected = [u for u in selected if not u.get("enabled", True)]
    if newest_first:
        selected.sort(key=lambda u: (u.get("created_at") or "", int(u["id"])), reverse=True)
    return page_of(selected, limit if limit is not None else len(selected), page)


def team_users(team: Record, info: Any, **args: Any) -> list[Record]:
    users = _app(info).users
    return select_users([users[u] for u in team["user_ids"] if u in users], **args)


def team_owners(team: Record, info: Any, ids: list[str] | None = None) -> list[Record]:
    users = _app(info).users
    wanted = {str(i) for i in ids} if ids is not None else None
    return [users[u] for u in team["owner_ids"] if u in users and (wanted is None or u in wanted)]


def _users(app: Any, ids: list[str]) -> list[Record]:
    return [app.users[u] for u in dict.fromkeys(ids) if u in app.users]


def board_creator(board: Record, info: Any) -> Record:
    app = _app(info)
    return app.users.get((board.get("owner_ids") or [app.me_id])[0], app.users[app.me_id])


def board_subscribers(board: Record, info: Any) -> list[Record]:
    """Owners are subscribers too, as on monday."""
    return _users(_app(info), [*board.get("owner_ids", []), *board.get("subscriber_ids", [])])


def board_top_group(board: Record, info: Any) -> Record:
    return next(g for g in board["groups"] if not g.get("deleted"))


def board_team_owners(board: Record, info: Any, limit: int = 25, page: int = 1) -> list[Record]:
    teams = _app(info).teams
    return page_of([teams[t] for t in board.get("team_owner_ids", []) if t in teams], limit, page)


def board_team_subscribers(board: Record, info: Any, limit: int = 25, page: int = 1) -> list[Record]:
    teams = _app(info).teams
    return page_of([teams[t] for t in board.get("team_subscriber_ids", []) if t in teams], limit, page)


def item_creator(item: Record, info: Any) -> Record | None:
    return _app(info).users.get(item.get("creator_id") or "")


def item_subscribers(item: Record, info: Any) -> list[Record]:
    return _users(_app(info), [item.get("creator_id") or ""])


def item_email(item: Record, info: Any) -> str:
    """The address that posts an update on the item by e-mail."""
    return f"passerelle-conseil-pulse-{item['id']}@monday.com"


def update_item(update: Record, info: Any) -> Record | None:
    return _app(info).items.get(update.get("item_id") or "")


def no_entries(_parent: Record, _info: Any, **_args: Any) -> list[Record]:
    """Likes, pins and viewers: the sandbox records none."""
    return []


def user_url(user: Record, info: Any) -> str:
    return f"https://passerelle-conseil.monday.com/users/{user['id']}"


def user_account(user: Record, info: Any) -> Record:
    return _app(info).q_account(info)


def board_tags(board: Record, info: Any) -> list[Record]:
    tags = _app(info).tags
    return [tags[t] for t in board.get("tag_ids", []) if t in tags]


def board_workspace(board: Record, info: Any) -> Record | None:
    return _app(info).workspaces.get(board.get("workspace_id") or "")


def board_permissions(board: Record, info: Any) -> str:
    return str(board.get("permissions", "everyone"))


def board_type(board: Record, info: Any) -> str:
    return str(board.get("type", "board"))


def board_url(board: Record, info: Any) -> str:
    return f"https://passerelle-conseil.monday.com/boards/{board['id']}"


def group_items_page(group: Record, info: Any, **args: Any) -> Record:
    app = _app(info)
    board = next(b for b in app.boards.values() if any(g is group for g in b["groups"]))
    return app.items_page(board, group_id=group["id"], **args)


def item_column_values(item: Record, info: Any, ids: list[str] | None = None,
                       types: list[str] | None = None) -> list[Record]:
    app = _app(info)
    board = app.boards[item["board_id"]]
    return [
        render_value(app, item, column) for column in board["columns"]
        if column["type"] != "name" and (ids is None or column["id"] in ids)
        and (types is None or column["type"] in types)
    ]


def render_value(app: Any, item: Record, column: Record) -> Record:
    """One ``column_values`` entry, the linked types (relation, dependency, mirror, subitems) included."""
    ctype = column["type"]
    if ctype in LINK_TYPES:
        linked = [i for i in (item["column_values"].get(column["id"]) or []) if i in app.items]
        value = json.dumps({"linkedPulseIds": [{"linkedPulseId": int(i)} for i in linked]}, separators=(",", ":"))
        return {"__typename": LINK_TYPES[ctype], "id": column["id"], "type": ctype, "text": None, "column": column,
                "value": value if linked else None, "linked_item_ids": linked,
                "linked_items": [app.items[i] for i in linked],
                "display_value": ", ".join(app.items[i]["name"] for i in linked),
                "updated_at": item["updated_at"] if linked else None}
    if ctype == "mirror":
        mirrored = mirrored_items(app, item, column)
        texts = [column_text(app, linked, source) for linked, source in mirrored]
        return {"__typename": "MirrorValue", "id": column["id"], "type": ctype, "text": None, "value": None,
                "column": column, "display_value": ", ".join(t for t in texts if t),
                "mirrored_items": [{"linked_board_id": linked["board_id"], "linked_item": linked}
                                   for linked, _ in mirrored]}
    if ctype == "subtasks":
        children = [i for i in item.get("subitem_ids", []) if app.items[i]["state"] == "active"]
        value = json.dumps({"linkedPulseIds": [{"linkedPulseId": int(i)} for i in children]}, separators=(",", ":"))
        return {"__typename": "SubtasksValue", "id": column["id"], "type": ctype, "text": None, "column": column,
                "value": value if children else None, "subitems_ids": children,
                "subitems": [app.items[i] for i in children],
                "display_value": ", ".join(app.items[i]["name"] for i in children)}
    return render_column_value(item, column, app.users)


def mirrored_items(app: Any, item: Record, column: Record) -> list[tuple[Record, Record]]:
    """(linked item, mirrored column) pairs: the mirror's settings name its relation column and the
    column shown per linked board, as monday's ``settings_str`` does."""
    settings = json.loads(column.get("settings_str") or "{}")
    relations = [c for c, on in (settings.get("relation_column") or {}).items() if on]
    shown = settings.get("displayed_linked_columns") or {}
    pairs = []
    for relation in relations:
        for linked_id in item["column_values"].get(relation) or []:
            linked = app.items.get(linked_id)
            if linked is None or linked["state"] == "deleted":
                continue
            linked_board = app.boards[linked["board_id"]]
            for column_id in shown.get(linked["board_id"], []):
                source = linked_board["column_index"].get(column_id)
                if source is not None:
                    pairs.append((linked, source))
    return pairs


ROOT_READS = {
    "updates": q_updates, "teams": q_teams, "workspaces": q_workspaces, "tags": q_tags,
    "items_page_by_column_values": q_items_page_by_column_values,
}
FIELD_READS = {
    ("Board", "updates"): board_updates, ("Board", "tags"): board_tags, ("Board", "workspace"): board_workspace,
    ("Board", "permissions"): board_permissions, ("Board", "type"): board_type, ("Board", "url"): board_url,
    ("Group", "items_page"): group_items_page,
    ("Item", "updates"): item_updates, ("Item", "subitems"): item_subitems, ("Item", "parent_item"): item_parent,
    ("Item", "url"): item_url, ("Item", "column_values"): item_column_values,
    ("Update", "creator"): update_creator, ("Update", "replies"): update_replies,
    ("Reply", "creator"): update_creator,
    ("User", "teams"): user_teams, ("Team", "users"): team_users, ("Team", "owners"): team_owners,
    ("Board", "creator"): board_creator, ("Board", "subscribers"): board_subscribers,
    ("Board", "top_group"): board_top_group, ("Board", "team_owners"): board_team_owners,
    ("Board", "team_subscribers"): board_team_subscribers,
    ("Item", "creator"): item_creator, ("Item", "subscribers"): item_subscribers, ("Item", "email"): item_email,
    ("Update", "item"): update_item, ("Update", "likes"): no_entries, ("Update", "pinned_to_top"): no_entries,
    ("Update", "viewers"): no_entries, ("Reply", "likes"): no_entries, ("Reply", "pinned_to_top"): no_entries,
    ("Reply", "viewers"): no_entries, ("User", "url"): user_url, ("User", "account"): user_account,
}
