"""A request's task in its deal's project: a Trello card in ``À faire``, or an Asana task.

Neither tool takes an idempotency key, so the request's key is stamped as a line of the card's description
or the task's notes (``Passerelle: <key>``) and looked up among the project's tasks before any create. A
project's tasks are read once per run (one list per board or project), which also says which tasks are
done: a Trello card moved to ``Terminé`` or archived, an Asana task ``completed``. Who closed it and when
come from the tool's own record of the change (Trello's card actions, Asana's ``completed_by``/``completed_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from passerelle.connectors.sources.asana import AsanaSession, list_pages
from passerelle.sync import links
from passerelle.sync.keys import carries_key, stamped
from passerelle.sync.vendor_calls import Rejected, VendorWriter

TODO_LIST = "À faire"
DONE_LIST = "Terminé"


@dataclass(frozen=True)
class Task:
    task_id: str
    notes: str
    done: bool
    url: str | None
    closed_by: str | None = None
    closed_at: str | None = None


class TaskMaker(Protocol):
    """What a project tool offers the flow: a project's tasks, a new task, who closed one and when."""

    def tasks(self, project_id: str, link_id: int | None) -> list[Task]: ...
    def create(self, project_id: str, task: dict[str, Any], link_id: int) -> Task: ...
    def closing(self, task: Task, link_id: int | None) -> Task: ...


def find(maker: TaskMaker, project_id: str, idem_key: str, link_id: int) -> list[Task]:
    """The project's tasks carrying the key (archived ones included)."""
    return [t for t in maker.tasks(project_id, link_id) if carries_key(t.notes, idem_key)]


@dataclass
class TrelloTasks:
    writer: VendorWriter

    def _lists(self, board_id: str, name: str, link_id: int | None) -> list[str]:
        """Ids of the board's lists called ``name``, open ones first (a board may hold two of one name)."""
        lists = self.writer.read(f"/1/boards/{board_id}/lists", operation="read_lists", link_id=link_id,
                                 filter="all", fields="name,closed")
        return [item["id"] for item in sorted(lists, key=lambda item: bool(item.get("closed")))
                if item.get("name") == name]

    def tasks(self, board_id: str, link_id: int | None) -> list[Task]:
        done = set(self._lists(board_id, DONE_LIST, link_id))
        cards = self.writer.read(f"/1/boards/{board_id}/cards/all", operation="read_tasks", link_id=link_id,
                                 fields="name,desc,idList,closed,shortUrl")
        return [Task(c["id"], c.get("desc") or "", bool(c.get("closed")) or c.get("idList") in done,
                     c.get("shortUrl")) for c in cards]

    def create(self, board_id: str, task: dict[str, Any], link_id: int) -> Task:
        todo = next(iter(self._lists(board_id, TODO_LIST, link_id)), None)
        if todo is None:
            raise Rejected(f"trello board {board_id}", 404, f"the board has no list named {TODO_LIST!r}")
        card = self.writer.write("POST", "/1/cards", operation="create_request_task", link_id=link_id,
                                 params={"idList": todo, "name": task["name"],
                                         "desc": stamped(task["detail"], task["idem_key"])})
        return Task(card["id"], card.get("desc") or "", False, card.get("shortUrl") or card.get("url"))

    def closing(self, task: Task, link_id: int | None) -> Task:
        """The card's last move or archiving: who made it and when."""
        actions = self.writer.read(f"/1/cards/{task.task_id}/actions", operation="read_history", link_id=link_id,
                                   filter="updateCard")
        for action in actions:  # newest first
            old = (action.get("data") or {}).get("old") or {}
            if "idList" in old or "closed" in old:
                who = (action.get("memberCreator") or {}).get("fullName") or action.get("idMemberCreator")
                return Task(task.task_id, task.notes, True, task.url, who, action.get("date"))
        return task


@dataclass
class AsanaTasks:
    session: AsanaSession
    writer: VendorWriter

    def _pages(self, path: str, params: dict[str, Any], link_id: int | None) -> Iterator[dict[str, Any]]:
        count = 0
        for items, _ in list_pages(self.session, path, params, "sync read_tasks"):
            count += len(items)
            yield from (item for item in items if isinstance(item, dict))
        links.audit(self.writer.conn, run_id=self.writer.run_id, link_id=link_id, vendor="asana",
                    operation="read_tasks", method="GET", path=path, request=params, status=200,
                    outcome="succeeded", response={"items": count}, object_id=None)

    def tasks(self, project_gid: str, link_id: int | None) -> list[Task]:
        fields = "name,notes,completed,completed_at,completed_by.name,permalink_url"
        return [Task(t["gid"], t.get("notes") or "", bool(t.get("completed")), t.get("permalink_url"),
                     (t.get("completed_by") or {}).get("name"), t.get("completed_at"))
                for t in self._pages(f"/projects/{project_gid}/tasks", {"opt_fields": fields}, link_id)]

    def create(self, project_gid: str, task: dict[str, Any], link_id: int) -> Task:
        answer = self.writer.write("POST", "/tasks", operation="create_request_task", link_id=link_id,
                                   json={"data": {"name": task["name"], "projects": [project_gid],
                                                  "notes": stamped(task["detail"], task["idem_key"])}},
                                   object_id=lambda body: (body.get("data") or {}).get("gid"))
        made = answer["data"]
        return Task(made["gid"], made.get("notes") or "", False, made.get("permalink_url"))

    def closing(self, task: Task, link_id: int | None) -> Task:
        return task  # completed_by and completed_at come with the project's tasks
