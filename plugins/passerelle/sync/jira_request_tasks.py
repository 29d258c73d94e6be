"""A request's task in Jira: a ``Task`` issue under the deal's epic (the deal's project in Jira).

The key line is stamped in the issue's description, and the key itself as a label (what a person can search
by). The epic's tasks are read with one JQL search (``parent = <epic>``) per epic and run, which also says
which are done (status category ``done``). As for an epic, the issue's id is recorded on the link as soon as
Jira answers, and the lookup passes it in ``reconcileIssues``: an issue made a moment ago, not yet in the
search index, is still found. Who closed it and when come from the issue's changelog (the last status
change); an issue closed without a history entry falls back to its ``resolutiondate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from passerelle.sync import links
from passerelle.sync.jira_projects import API, TASK, JiraProjects, plain_text, rich_text
from passerelle.sync.keys import stamped
from passerelle.sync.request_tasks import Task

FIELDS = "summary,description,status,resolutiondate,parent"
DONE = "done"
HISTORY_PAGE = 100


@dataclass
class JiraTasks:
    """Issues under an epic through the Jira Cloud REST API (v3), with the epic maker's search."""

    projects: JiraProjects

    def _task(self, issue: dict[str, Any]) -> Task:
        fields = issue.get("fields") or {}
        category = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
        return Task(str(issue["id"]), plain_text(fields.get("description")), category == DONE,
                    f"{self.projects.writer.api.base_url}/browse/{issue['key']}", None, fields.get("resolutiondate"))

    def tasks(self, epic_id: str, link_id: int | None) -> list[Task]:
        issues = self.projects.search(f"parent = {epic_id}", link_id, self.projects.recorded(link_id), FIELDS)
        return [self._task(issue) for issue in issues]

    def create(self, epic_id: str, task: dict[str, Any], link_id: int) -> Task:
        writer = self.projects.writer
        epic = writer.read(f"{API}/issue/{epic_id}", operation="read_project", link_id=link_id, fields="project")
        fields = {"project": {"id": epic["fields"]["project"]["id"]}, "issuetype": {"name": TASK},
                  "summary": task["name"][:255], "parent": {"id": str(epic_id)}, "labels": [task["idem_key"]],
                  "description": rich_text(stamped(task["detail"], task["idem_key"]))}
        made = writer.write("POST", f"{API}/issue", operation="create_request_task", link_id=link_id,
                            json={"fields": fields})
        links.note_pending(writer.conn, link_id, str(made["id"]))
        return Task(str(made["id"]), plain_text(fields["description"]), False,
                    f"{writer.api.base_url}/browse/{made['key']}")

    def closing(self, task: Task, link_id: int | None) -> Task:
        """The last status change in the issue's changelog: its author and time."""
        last: dict[str, Any] | None = None
        start = 0
        while True:
            page = self.projects.writer.read(f"{API}/issue/{task.task_id}/changelog", operation="read_history",
                                             link_id=link_id, startAt=start, maxResults=HISTORY_PAGE)
            values = page.get("values") or []
            for history in values:  # oldest first
                if any(item.get("fieldId") == "status" or item.get("field") == "status"
                       for item in history.get("items") or []):
                    last = history
            start += len(values)
            if page.get("isLast", True) or not values:
                break
        if last is None:
            return task
        who = (last.get("author") or {}).get("displayName") or (last.get("author") or {}).get("accountId")
        return Task(task.task_id, task.notes, True, task.url, who, last.get("created") or task.closed_at)
