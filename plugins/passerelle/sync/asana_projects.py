"""A won deal's project in Asana, instantiated from the route's project template.

Asana makes a project from a template asynchronously: ``instantiateProject`` answers a job, polled until it
``succeeded`` with its ``new_project``. The job's id is recorded on the link before any waiting, so a run that
stops while the job runs (or between its success and the stamping) polls the same job next time instead of
starting a second one. The project is then stamped: its notes get the deal's summary and the key line
(``Passerelle: <key>``, what the lookup before any create reads) and its ``CRM deal`` field the deal's id, as
``staging/projects/asana.sql`` reads it to link the project to its deal. Every date variable of the template
is set to the day the deal was won; with a due date (the route's ``duration_days``) the project's ``start_on`` and
``due_on`` are set too, else the template's own schedule stands. The project's ``owner`` is the workspace user
whose email is the deal owner's (:mod:`passerelle.sync.project_owners`). Each deal line becomes a task of the
project (checked by name first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from passerelle.connectors.sources.asana import AsanaSession, list_pages, workspaces
from passerelle.crash_points import crash_point
from passerelle.sync import links
from passerelle.sync.keys import carries_key, stamped
from passerelle.sync.links import Link
from passerelle.sync.project_owners import OwnerMatch
from passerelle.sync.vendor_calls import Rejected, UnknownOutcome, VendorWriter

DEAL_FIELD = "crm deal"
POLLS = 12
"""Job polls before the run gives up waiting (the next run polls the same job again)."""
POLL_WAIT = 0.5
"""Seconds before the second poll, doubled each time up to five."""
JOB_STARTED = "sync.project_job_started"
"""Crash point: the template's job is started and recorded on the link, its project not yet stamped."""


@dataclass
class AsanaProjects:
    session: AsanaSession
    writer: VendorWriter
    owners: OwnerMatch = field(init=False)
    _directory: dict[str, str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.owners = OwnerMatch(self.writer, "/users", self._user_of)

    def _user_of(self, email: str, link_id: int) -> str | None:
        """The workspace user of ``email`` (the workspaces' users are read once per run)."""
        if self._directory is None:
            self._directory = {}
            for workspace in workspaces(self.session, "sync users"):
                for user in self._pages("/users", {"workspace": workspace, "opt_fields": "email"}, "read_users",
                                        link_id):
                    if user.get("email"):
                        self._directory.setdefault(str(user["email"]).lower(), str(user["gid"]))
        return self._directory.get(email)

    def _pages(self, path: str, params: dict[str, Any], what: str, link_id: int) -> Iterator[dict[str, Any]]:
        count = 0
        for items, _ in list_pages(self.session, path, params, f"sync {what}"):
            count += len(items)
            yield from (item for item in items if isinstance(item, dict))
        links.audit(self.writer.conn, run_id=self.writer.run_id, link_id=link_id, vendor="asana", operation=what,
                    method="GET", path=path, request=params, status=200, outcome="succeeded",
                    response={"items": count}, object_id=None)

    def find(self, idem_key: str, link_id: int) -> list[dict[str, Any]]:
        """Every project (archived ones included) of the workspaces whose notes carry the key."""
        found = []
        for workspace in workspaces(self.session, "sync lookup"):
            params = {"workspace": workspace, "opt_fields": "name,notes,permalink_url,archived"}
            found += [p for p in self._pages("/projects", params, "lookup", link_id) if carries_key(p.get("notes"), idem_key)]
        return found

    def create(self, project: dict[str, Any], link: Link) -> dict[str, Any]:
        if not project.get("template"):
            raise Rejected("asana create_project", 400, "an Asana route needs a project template (template = <gid>)")
        job_id = link.pending_ref or self._start(project, link)
        made = self._wait(job_id, link)
        deal_field = next((s["custom_field"]["gid"] for s in self._pages(
            f"/projects/{made['gid']}/custom_field_settings", {"opt_fields": "custom_field.name"}, "read_fields",
            link.link_id) if (s.get("custom_field") or {}).get("name", "").strip().lower() == DEAL_FIELD), None)
        data: dict[str, Any] = {"notes": stamped(project["summary"], project["idem_key"])}
        if deal_field:
            data["custom_fields"] = {deal_field: project["deal_link"].split(":", 1)[1]}
        if project.get("due_date"):
            data.update(start_on=project["start_date"], due_on=project["due_date"])
        owner = self.owners.user(project.get("owner"), link.link_id)
        if owner:
            data["owner"] = owner
        answer = self.writer.write("PUT", f"/projects/{made['gid']}", operation="stamp_project", link_id=link.link_id,
                                   json={"data": data}, object_id=lambda body: (body.get("data") or {}).get("gid"))
        return answer["data"]

    def _start(self, project: dict[str, Any], link: Link) -> str:
        template = self.writer.read(f"/project_templates/{project['template']}", link_id=link.link_id,
                                    operation="read_template")["data"]
        dates = [{"gid": d["gid"], "value": project["start_date"]} for d in template.get("requested_dates") or []]
        job = self.writer.write("POST", f"/project_templates/{project['template']}/instantiateProject",
                                operation="create_project", link_id=link.link_id,
                                json={"data": {"name": project["name"], "requested_dates": dates, "is_strict": True}},
                                object_id=lambda body: (body.get("data") or {}).get("gid"))
        job_id = str(job["data"]["gid"])
        links.note_pending(self.writer.conn, link.link_id, job_id)
        crash_point(JOB_STARTED)
        return job_id

    def _wait(self, job_id: str, link: Link) -> dict[str, Any]:
        for attempt in range(POLLS):
            job = self.writer.api.request("GET", f"/jobs/{job_id}", stream="sync job")["data"]
            if job.get("status") == "succeeded" and job.get("new_project"):
                return job["new_project"]
            if job.get("status") == "failed":
                raise Rejected(f"asana job {job_id}", 422, job)
            time.sleep(min(POLL_WAIT * 2 ** attempt, 5.0))
        raise UnknownOutcome(f"asana job {job_id} still {job.get('status')} after {POLLS} polls: the next run polls it")

    def furnish(self, made: dict[str, Any], project: dict[str, Any], link_id: int) -> int:
        tasks = {t.get("name") for t in self._pages(f"/projects/{made['gid']}/tasks", {"opt_fields": "name"},
                                                    "read_tasks", link_id)}
        added = 0
        for line in project["lines"]:
            if line["title"] in tasks:
                continue
            self.writer.write("POST", "/tasks", operation="create_task", link_id=link_id,
                              json={"data": {"name": line["title"], "notes": line["detail"], "projects": [made["gid"]]}},
                              object_id=lambda body: (body.get("data") or {}).get("gid"))
            tasks.add(line["title"])
            added += 1
        return added

    @staticmethod
    def url(made: dict[str, Any]) -> str | None:
        return made.get("permalink_url") or f"https://app.asana.com/0/{made['gid']}"
