"""A won deal's project in Microsoft Planner: a plan in the route's Microsoft 365 group, a task per deal line.

Planner has no custom fields and no description on a plan. What the extract and staging read to link a
plan to its deal is an external reference on its tasks: so the plan gets a ``Fiche affaire`` task whose
details carry the reference to the deal's page in the CRM (the route's ``deal_url``) and, as description,
the deal's summary with the key line (``Passerelle: <key>``). The lookup before any create reads that
task's details in every plan of the tenant's groups.

A plan is made bare (title and group) and stamped afterwards, so the plan's id is recorded on the link as
soon as Graph answers: a run that stops before the stamp finds the plan by that id and completes it. Each
details PATCH sends the ETag just read in ``If-Match``, as Planner requires (a stale one is refused, 412).

The deal task starts on the won date, is due on the route's due date when it has one, and is assigned to the
deal owner: the tenant user ``/users/{email}`` answers (a 404 is no such user).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from passerelle.connectors.http import ApiRequestError
from passerelle.connectors.sources.planner import V1, GraphApi, listing, plans
from passerelle.sync import links
from passerelle.sync.keys import carries_key, stamped
from passerelle.sync.links import Link
from passerelle.sync.project_owners import OwnerMatch
from passerelle.sync.vendor_calls import VendorWriter

DEAL_TASK = "Fiche affaire"
BUCKET = "À faire"
REFERENCE_TYPE = "#microsoft.graph.plannerExternalReference"


def reference_key(url: str) -> str:
    """A reference's key: the URL with ``%``, ``.``, ``:``, ``@`` and ``#`` percent-encoded (Graph's rule)."""
    for char, code in (("%", "%25"), (".", "%2E"), (":", "%3A"), ("@", "%40"), ("#", "%23")):
        url = url.replace(char, code)
    return url


@dataclass
class PlannerProjects:
    """Find, create and furnish the plan of a deal through Microsoft Graph (Planner)."""

    api: GraphApi
    writer: VendorWriter
    owners: OwnerMatch = field(init=False)

    def __post_init__(self) -> None:
        self.owners = OwnerMatch(self.writer, f"{V1}/users/{{email}}", self._user_of)

    def _user_of(self, email: str, link_id: int) -> str | None:
        try:
            return str(self.writer.read(f"{V1}/users/{email}", operation="read_users", link_id=link_id)["id"])
        except ApiRequestError as error:
            if error.status != 404:
                raise
            return None

    def list_items(self, path: str, what: str, link_id: int | None,
                   params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a Planner listing, the read audited once (request tasks reuse it)."""
        count = 0
        for items, _ in listing(self.api, f"sync {what}", path, params):
            count += len(items)
            yield from (item for item in items if isinstance(item, dict))
        self._audit_read(what, path, link_id, {"items": count})

    def _audit_read(self, what: str, path: str, link_id: int | None, response: Any) -> None:
        links.audit(self.writer.conn, run_id=self.writer.run_id, link_id=link_id, vendor="planner", operation=what,
                    method="GET", path=path, request=None, status=200, outcome="succeeded", response=response,
                    object_id=None)

    def recorded_plan(self, link_id: int | None) -> str | None:
        """The plan id recorded on the link before its creation was confirmed (Planner has no idempotency key)."""
        with self.writer.conn.cursor() as cur:
            cur.execute("SELECT pending_ref FROM sync.links WHERE link_id = %s", (link_id,))
            row = cur.fetchone()
        self.writer.conn.rollback()
        return row[0] if row else None

    def _deal_task(self, plan_id: str, link_id: int) -> dict[str, Any] | None:
        return next((t for t in self.list_items(f"{V1}/planner/plans/{plan_id}/tasks", "read_tasks", link_id)
                     if t.get("title") == DEAL_TASK), None)

    def find(self, idem_key: str, link_id: int) -> list[dict[str, Any]]:
        """The plan this link recorded (still there), else every plan whose deal task carries the key."""
        recorded = self.recorded_plan(link_id)
        if recorded:
            try:
                return [self.writer.read(f"{V1}/planner/plans/{recorded}", link_id=link_id)]
            except ApiRequestError as error:
                if error.status != 404:
                    raise
        found = []
        for items, _ in plans(self.api, "sync lookup"):
            for plan in (p for p in items if isinstance(p, dict)):
                task = self._deal_task(plan["id"], link_id)
                if task is None:
                    continue
                details = self.writer.read(f"{V1}/planner/tasks/{task['id']}/details", link_id=link_id,
                                           operation="read_details")
                if carries_key(details.get("description"), idem_key):
                    found.append(plan)
        return found

    def create(self, project: dict[str, Any], link: Link) -> dict[str, Any]:
        group = f"https://graph.microsoft.com/v1.0/groups/{project['container']}"
        plan = self.writer.write("POST", f"{V1}/planner/plans", operation="create_project", link_id=link.link_id,
                                 json={"container": {"url": group}, "title": project["name"][:255]})
        links.note_pending(self.writer.conn, link.link_id, plan["id"])
        return plan

    def _task(self, plan_id: str, bucket_id: str, title: str, start: str, link_id: int,
              **extra: Any) -> dict[str, Any]:
        return self.writer.write("POST", f"{V1}/planner/tasks", operation="create_task", link_id=link_id,
                                 json={"planId": plan_id, "bucketId": bucket_id, "title": title[:255],
                                       "startDateTime": f"{start}T00:00:00Z", **extra})

    def _deal_task_terms(self, project: dict[str, Any], link_id: int) -> dict[str, Any]:
        """The deal task's due date and assignment (the deal owner's tenant user), where there are."""
        terms: dict[str, Any] = {}
        if project.get("due_date"):
            terms["dueDateTime"] = f"{project['due_date']}T00:00:00Z"
        owner = self.owners.user(project.get("owner"), link_id)
        if owner:
            terms["assignments"] = {owner: {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"}}
        return terms

    def furnish(self, plan: dict[str, Any], project: dict[str, Any], link_id: int) -> int:
        """The bucket, the deal task with its reference and stamp, one task per line; returns tasks made."""
        plan_id = plan["id"]
        buckets = {b.get("name"): b["id"] for b in self.list_items(f"{V1}/planner/plans/{plan_id}/buckets", "read_lists",
                                                               link_id)}
        if BUCKET not in buckets:
            made = self.writer.write("POST", f"{V1}/planner/buckets", operation="create_list", link_id=link_id,
                                     json={"name": BUCKET, "planId": plan_id, "orderHint": " !"})
            buckets[BUCKET] = made["id"]
        tasks = {t.get("title"): t for t in self.list_items(f"{V1}/planner/plans/{plan_id}/tasks", "read_tasks", link_id)}
        added = 0
        deal_task = tasks.get(DEAL_TASK)
        if deal_task is None:
            deal_task = self._task(plan_id, buckets[BUCKET], DEAL_TASK, project["start_date"], link_id,
                                   **self._deal_task_terms(project, link_id))
            added += 1
        self._stamp(deal_task["id"], project, link_id)
        for line in project["lines"]:
            if line["title"][:255] in tasks:
                continue
            tasks[line["title"][:255]] = self._task(plan_id, buckets[BUCKET], line["title"], project["start_date"],
                                                    link_id)
            added += 1
        return added

    def _stamp(self, task_id: str, project: dict[str, Any], link_id: int) -> None:
        path = f"{V1}/planner/tasks/{task_id}/details"
        details = self.writer.read(path, link_id=link_id, operation="read_details")
        description = stamped(project["summary"], project["idem_key"])
        key = reference_key(project["deal_url"])
        if details.get("description") == description and key in (details.get("references") or {}):
            return
        crm, deal_id = project["deal_link"].split(":", 1)
        self.writer.write("PATCH", path, operation="set_deal_link", link_id=link_id,
                          headers={"If-Match": details["@odata.etag"]}, object_id=lambda _: task_id,
                          json={"description": description,
                                "references": {key: {"@odata.type": REFERENCE_TYPE, "alias": f"Affaire {crm} {deal_id}",
                                                     "type": "Other"}}})

    @staticmethod
    def url(plan: dict[str, Any]) -> str | None:
        return None  # Planner's web address of a plan names the tenant, which Graph does not answer here
