"""Zoho CRM tasks and Zoho Projects tasks as the task sync reads and writes them, through the connectors'
API objects (their hosts, tokens, retries and, for Zoho Projects, the shared request budget).

Reads are the vendors' current values and stamps, never the warehouse's copy: the sync compares what each
side holds now. Writes go through :class:`~passerelle.sync.vendor_calls.VendorWriter` (audited, at most
once). A CRM update carries ``If-Unmodified-Since`` = the ``Modified_Time`` the plan read, so a task
edited since is refused (412 ``ALREADY_MODIFIED``) rather than overwritten, and ``trigger: []`` so the
CRM's workflows do not fire on the sync's own writes. Zoho Projects has no such guard.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from passerelle.connectors.http import ApiRequestError
from passerelle.connectors.paging import UnusableResponseError
from passerelle.connectors.sources.zoho import ZohoApi, pages
from passerelle.connectors.sources.zoho_projects import ZohoProjectsApi, listing, projects
from passerelle.connectors.timestamps import parse_timestamp
from passerelle.sync.vendor_calls import VendorWriter
from passerelle.sync.zoho_task_fields import CRM_FIELDS

STREAM = "sync zoho_tasks"


def instant(value: Any) -> datetime | None:
    """A vendor timestamp as an aware UTC datetime (``None`` when absent or unreadable)."""
    try:
        return parse_timestamp(value).astimezone(timezone.utc) if value else None
    except (TypeError, ValueError):
        return None


def modifier(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return str(value.get("email") or value.get("name") or value.get("id") or value.get("zpuid") or "") or None


class CrmTasks:
    """Zoho CRM ``Tasks`` (v8)."""

    def __init__(self, api: ZohoApi, writer: VendorWriter) -> None:
        self.api, self.writer = api, writer
        self._users: list[dict[str, Any]] | None = None

    def tasks(self) -> list[dict[str, Any]]:
        """Every task, with the six fields, its ``What_Id`` (and ``$se_module``) and stamps."""
        params = {"fields": ",".join(CRM_FIELDS), "sort_by": "id", "sort_order": "asc"}
        return [t for page in pages(self.api, "/Tasks", STREAM, params, {}) for t in page if isinstance(t, dict)]

    def users(self) -> list[dict[str, Any]]:
        if self._users is None:
            self._users = [u for page in pages(self.api, "/users", STREAM, {"type": "AllUsers"}, {}, key="users")
                           for u in page if isinstance(u, dict)]
        return self._users

    def emails(self) -> dict[str, str]:
        """User id → address."""
        return {str(u["id"]): str(u["email"]) for u in self.users() if u.get("id") and u.get("email")}

    def ids_by_email(self) -> dict[str, str]:
        return {str(u["email"]).lower(): str(u["id"]) for u in self.users()
                if u.get("id") and u.get("email") and u.get("status", "active") == "active"}

    def update(self, task_id: str, values: dict[str, Any], modified_time: str | None, link_id: int) -> dict[str, Any]:
        """One task's fields; returns Zoho's ``details`` (new ``Modified_Time`` and ``Modified_By``)."""
        headers = {"If-Unmodified-Since": modified_time} if modified_time else None
        body = self.writer.write("PUT", f"/Tasks/{task_id}", operation="update_task", link_id=link_id,
                                 json={"data": [{"id": task_id, **values}], "trigger": []}, headers=headers,
                                 object_id=lambda _: task_id)
        entries = body.get("data") if isinstance(body, dict) else None
        return (entries[0].get("details") or {}) if isinstance(entries, list) and entries else {}


class PmTasks:
    """Zoho Projects (v3) tasks of the connection's portal."""

    def __init__(self, api: ZohoProjectsApi, writer: VendorWriter) -> None:
        self.api, self.writer = api, writer
        self._users: dict[str, str] | None = None

    def portal(self) -> str:
        return self.api.portal(STREAM)

    def projects(self) -> dict[str, dict[str, Any]]:
        """Project id → project (dates, ``is_strict``, the CRM deal in ``crm``)."""
        return {str(p["id"]): p for items, _ in projects(self.api, STREAM) for p in items
                if isinstance(p, dict) and p.get("id") is not None}

    def task(self, project_id: str, task_id: str) -> dict[str, Any] | None:
        """One task as it is now; ``None`` when the portal no longer has it."""
        try:
            body = self.api.request("GET", f"/api/v3/portal/{{portal}}/projects/{project_id}/tasks/{task_id}",
                                    stream=STREAM)
        except ApiRequestError as exc:
            if exc.status == 404:
                return None
            raise
        tasks = body.get("tasks") if isinstance(body, dict) else None
        if not isinstance(tasks, list) or not tasks or not isinstance(tasks[0], dict):
            raise UnusableResponseError(f"GET task {task_id}: expected 'tasks' with the task")
        return tasks[0]

    def main_tasks(self, project_id: str) -> list[dict[str, Any]]:
        return [t for items, _ in listing(self.api, f"projects/{project_id}/tasks", "tasks", STREAM)
                for t in items if isinstance(t, dict)]

    def ids_by_email(self) -> dict[str, str]:
        """Address → zpuid of the portal's users."""
        if self._users is None:
            self._users = {str(u["email"]).lower(): str(u.get("zpuid") or u["id"])
                           for items, _ in listing(self.api, "users", "users", STREAM) for u in items
                           if isinstance(u, dict) and u.get("email")}
        return self._users

    def _path(self, project_id: str, task_id: str | None = None) -> str:
        self.ids_by_email()  # a read first: it settles the Projects host the writes go to
        base = f"/api/v3/portal/{self.portal()}/projects/{project_id}/tasks"
        return f"{base}/{task_id}" if task_id else base

    def update(self, project_id: str, task_id: str, values: dict[str, Any], link_id: int,
               operation: str = "update_task") -> dict[str, Any]:
        """Change only the fields sent; returns the task as saved."""
        body = self.writer.write("PATCH", self._path(project_id, task_id), operation=operation, link_id=link_id,
                                 json=values, object_id=lambda _: task_id)
        return _task_of(body)

    def create(self, project_id: str, values: dict[str, Any], link_id: int) -> dict[str, Any]:
        body = self.writer.write("POST", self._path(project_id), operation="create_task", link_id=link_id,
                                 json=values, object_id=lambda b: str(_task_of(b).get("id")))
        return _task_of(body)


def _task_of(body: Any) -> dict[str, Any]:
    tasks = body.get("tasks") if isinstance(body, dict) else None
    return tasks[0] if isinstance(tasks, list) and tasks and isinstance(tasks[0], dict) else {}
