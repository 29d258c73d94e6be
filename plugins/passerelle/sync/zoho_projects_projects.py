"""A won deal's project in Zoho Projects: a project (from the route's template when named), a task per line.

The project starts the day the deal was won. It is not strict: Zoho refuses a strict project without an end
date, and a won deal has none; the template's tasks are dated from the start. Its description holds the
deal's summary and the key line (``Passerelle: <key>``), which the lookup before any create reads among
the portal's projects, Zoho Projects having no idempotency key. The deal lines become tasks of a
``Lignes de l'affaire`` task list, made when the project lacks it; a task of the same name is not made twice.

The project ends on the route's due date when it has one (``end_date``) and is owned by the portal user whose
email is the deal owner's (``owner_zpuid``; the portal's users are read once per run).

Zoho Projects sets a project's CRM deal (what staging links by) only when the project is made from a Zoho
CRM deal, never through this API: a project made here is linked by its customer's name in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from passerelle.connectors.sources.zoho_projects import V3, ZohoProjectsApi, listing
from passerelle.sync import links
from passerelle.sync.keys import carries_key, stamped
from passerelle.sync.links import Link
from passerelle.sync.project_owners import OwnerMatch
from passerelle.sync.vendor_calls import VendorWriter

TASK_LIST = "Lignes de l'affaire"
NAME_LENGTH = 100
"""Zoho Projects' longest project name."""


@dataclass
class ZohoProjectsProjects:
    """Find, create and furnish the project of a deal through the Zoho Projects v3 API."""

    api: ZohoProjectsApi
    writer: VendorWriter
    owners: OwnerMatch = field(init=False)
    _directory: dict[str, str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.owners = OwnerMatch(self.writer, f"{V3}/users", self._user_of)

    def _user_of(self, email: str, link_id: int) -> str | None:
        if self._directory is None:
            self._directory = {}
            for user in self.list_items("users", "users", "read_users", link_id):
                if user.get("email") and user.get("zpuid"):
                    self._directory.setdefault(str(user["email"]).lower(), str(user["zpuid"]))
        return self._directory.get(email)

    def list_items(self, segment: str, key: str, what: str, link_id: int | None) -> Iterator[dict[str, Any]]:
        """Every item of a portal listing, the read audited once (request tasks reuse it)."""
        count = 0
        for items, _ in listing(self.api, segment, key, f"sync {what}"):
            count += len(items)
            yield from (item for item in items if isinstance(item, dict))
        links.audit(self.writer.conn, run_id=self.writer.run_id, link_id=link_id, vendor="zoho_projects",
                    operation=what, method="GET", path=f"{V3}/{segment}", request=None, status=200,
                    outcome="succeeded", response={"items": count}, object_id=None)

    def api_path(self, segment: str) -> str:
        """The portal's API path of a segment (``{portal}`` filled in)."""
        return f"{V3}/{segment}".replace("{portal}", self.api.portal("sync"))

    def find(self, idem_key: str, link_id: int) -> list[dict[str, Any]]:
        """Every project of the portal whose description carries the key."""
        return [p for p in self.list_items("projects", "projects", "lookup", link_id)
                if carries_key(p.get("description"), idem_key)]

    def create(self, project: dict[str, Any], link: Link) -> dict[str, Any]:
        body: dict[str, Any] = {"name": project["name"][:NAME_LENGTH], "start_date": project["start_date"],
                                "is_strict": False, "description": stamped(project["summary"], project["idem_key"])}
        if project.get("template"):
            body["template_id"] = project["template"]
        if project.get("due_date"):
            body["end_date"] = project["due_date"]
        owner = self.owners.user(project.get("owner"), link.link_id)
        if owner:
            body["owner_zpuid"] = owner
        answer = self.writer.write("POST", self.api_path("projects"), operation="create_project", link_id=link.link_id,
                                   json=body, object_id=_made_id("projects"))
        return answer["projects"][0]

    def furnish(self, made: dict[str, Any], project: dict[str, Any], link_id: int) -> int:
        project_id = str(made["id"])
        lists = {t.get("name"): str(t["id"]) for t in self.list_items(f"projects/{project_id}/tasklists", "tasklists",
                                                                   "read_lists", link_id)}
        if TASK_LIST not in lists:
            answer = self.writer.write("POST", self.api_path(f"projects/{project_id}/tasklists"), operation="create_list",
                                       link_id=link_id, json={"name": TASK_LIST, "flag": "internal"},
                                       object_id=_made_id("tasklists"))
            lists[TASK_LIST] = str(answer["tasklists"][0]["id"])
        tasks = {t.get("name") for t in self.list_items(f"projects/{project_id}/tasks", "tasks", "read_tasks", link_id)}
        added = 0
        for line in project["lines"]:
            if line["title"] in tasks:
                continue
            self.writer.write("POST", self.api_path(f"projects/{project_id}/tasks"), operation="create_task",
                              link_id=link_id, json={"name": line["title"], "description": line["detail"],
                                                     "tasklist": {"id": lists[TASK_LIST]}},
                              object_id=_made_id("tasks"))
            tasks.add(line["title"])
            added += 1
        return added

    @staticmethod
    def url(made: dict[str, Any]) -> str | None:
        web = (made.get("link") or {}).get("web") if isinstance(made.get("link"), dict) else None
        return web.get("url") if isinstance(web, dict) else None


def _made_id(key: str) -> Any:
    def object_id(body: Any) -> str | None:
        records = body.get(key) if isinstance(body, dict) else None
        return str(records[0]["id"]) if isinstance(records, list) and records and isinstance(records[0], dict) else None
    return object_id
