"""A request's task in Microsoft Planner: a task of the deal's plan, in its ``À faire`` bucket.

A Planner task has no text of its own beyond its title: the key line is stamped in its details' description.
The plan's tasks are read once per plan and run with their details expanded (``$expand=details``), which
also says which are done (``percentComplete`` 100, with ``completedBy`` and ``completedDateTime``).

The task is made bare, then its details are stamped (a PATCH with the details' ETag in ``If-Match``). Its id
is recorded on the link as soon as Graph answers, so a run that stops before the stamp finds the task by that
id and stamps it instead of making a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from passerelle.connectors.http import ApiRequestError
from passerelle.connectors.sources.planner import V1, listing
from passerelle.sync import links
from passerelle.sync.keys import stamped
from passerelle.sync.planner_projects import BUCKET, PlannerProjects
from passerelle.sync.request_tasks import Task

DONE = 100


@dataclass
class PlannerTasks:
    """Tasks of a plan through Microsoft Graph, with the plan maker's listing and recorded ids."""

    projects: PlannerProjects
    _names: dict[str, str] | None = field(default=None, repr=False)

    @staticmethod
    def _task(task: dict[str, Any]) -> Task:
        done = task.get("percentComplete") == DONE
        who = (task.get("completedBy") or {}).get("user") or {}
        return Task(str(task["id"]), (task.get("details") or {}).get("description") or "", done, None,
                    (who.get("displayName") or who.get("id")) if done else None,
                    task.get("completedDateTime") if done else None)

    def tasks(self, plan_id: str, link_id: int | None) -> list[Task]:
        return [self._task(t) for t in self.projects.list_items(f"{V1}/planner/plans/{plan_id}/tasks", "read_tasks",
                                                            link_id, {"$expand": "details"})]

    def _recorded_task(self, link_id: int) -> dict[str, Any] | None:
        recorded = self.projects.recorded_plan(link_id)
        if not recorded:
            return None
        try:
            return self.projects.writer.read(f"{V1}/planner/tasks/{recorded}", operation="read_task", link_id=link_id)
        except ApiRequestError as error:
            if error.status != 404:
                raise
            return None  # deleted since: a new one is made

    def create(self, plan_id: str, task: dict[str, Any], link_id: int) -> Task:
        writer = self.projects.writer
        made = self._recorded_task(link_id)
        if made is None:
            buckets = {b.get("name"): b["id"] for b in self.projects.list_items(
                f"{V1}/planner/plans/{plan_id}/buckets", "read_lists", link_id)}
            body: dict[str, Any] = {"planId": plan_id, "title": task["name"][:255]}
            bucket = buckets.get(BUCKET) or next(iter(buckets.values()), None)
            if bucket:
                body["bucketId"] = bucket
            made = writer.write("POST", f"{V1}/planner/tasks", operation="create_request_task", link_id=link_id,
                                json=body)
            links.note_pending(writer.conn, link_id, made["id"])
        path = f"{V1}/planner/tasks/{made['id']}/details"
        details = writer.read(path, operation="read_details", link_id=link_id)
        description = stamped(task["detail"], task["idem_key"])
        if details.get("description") != description:
            writer.write("PATCH", path, operation="stamp_request_task", link_id=link_id,
                         headers={"If-Match": details["@odata.etag"]}, json={"description": description},
                         object_id=lambda _: made["id"])
        return self._task({**made, "details": {"description": description}})

    def closing(self, task: Task, link_id: int | None) -> Task:
        """Graph names who completed a task by user id: the tenant's user of that id gives the name."""
        if task.closed_by is None:
            return task
        if self._names is None:
            self._names = {u["id"]: u.get("displayName") or u["id"]
                           for items, _ in listing(self.projects.api, "sync read_users", f"{V1}/users",
                                                   {"$select": "id,displayName"})
                           for u in items if isinstance(u, dict) and u.get("id")}
        who = self._names.get(task.closed_by or "", task.closed_by)
        return Task(task.task_id, task.notes, task.done, task.url, who, task.closed_at)
