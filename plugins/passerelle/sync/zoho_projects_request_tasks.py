"""A request's task in Zoho Projects: a task of the deal's project, in its ``Lignes de l'affaire`` task list.

Zoho Projects has no idempotency key: the key line is stamped in the task's description and looked up among
the project's tasks (one listing per project and run), which also says which are done (a status of the
closed type). Who closed a task and when: the task's last modifier and its ``completed_time`` (else its
``last_modified_time``), as the task itself carries them; the v3 API answers no per-task activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from passerelle.sync.keys import stamped
from passerelle.sync.request_tasks import Task
from passerelle.sync.zoho_projects_projects import TASK_LIST, ZohoProjectsProjects, _made_id
from passerelle.sync.zoho_task_sides import modifier


@dataclass
class ZohoProjectsTasks:
    """Tasks of a project through the Zoho Projects v3 API, with the project maker's listing and paths."""

    projects: ZohoProjectsProjects

    @staticmethod
    def _task(task: dict[str, Any]) -> Task:
        done = bool((task.get("status") or {}).get("is_closed"))
        who = task.get("last_modified_by")
        return Task(str(task["id"]), task.get("description") or "", done, ZohoProjectsProjects.url(task),
                    ((who.get("name") if isinstance(who, dict) else None) or modifier(who)) if done else None,
                    (task.get("completed_time") or task.get("last_modified_time")) if done else None)

    def tasks(self, project_id: str, link_id: int | None) -> list[Task]:
        return [self._task(t) for t in self.projects.list_items(f"projects/{project_id}/tasks", "tasks", "read_tasks",
                                                            link_id)]

    def create(self, project_id: str, task: dict[str, Any], link_id: int) -> Task:
        lists = {t.get("name"): str(t["id"]) for t in self.projects.list_items(
            f"projects/{project_id}/tasklists", "tasklists", "read_lists", link_id)}
        body: dict[str, Any] = {"name": task["name"], "description": stamped(task["detail"], task["idem_key"])}
        if TASK_LIST in lists:
            body["tasklist"] = {"id": lists[TASK_LIST]}  # else Zoho's first list of the project
        answer = self.projects.writer.write("POST", self.projects.api_path(f"projects/{project_id}/tasks"),
                                            operation="create_request_task", link_id=link_id, json=body,
                                            object_id=_made_id("tasks"))
        return self._task(answer["tasks"][0])

    def closing(self, task: Task, link_id: int | None) -> Task:
        return task  # the modifier and completion time come with the project's tasks
