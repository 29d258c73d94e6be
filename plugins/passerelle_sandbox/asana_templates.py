"""Asana project templates and the asynchronous jobs that instantiate them.

``POST /project_templates/{gid}/instantiateProject`` with ``{name, team, public, is_strict,
requested_dates:[{gid, value}], requested_roles:[{gid, value}]}`` answers 201 with a Job
``{gid, status, new_project}``; ``GET /jobs/{gid}`` moves it ``not_started → in_progress →
succeeded`` over ``job_polls`` polls, and only then does the project exist (``new_project`` is
``null`` until then). With ``is_strict`` a date variable left without a value is refused, and a
token may have at most five jobs running at once (a 429 with ``Retry-After``), as Asana documents.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

from werkzeug.wrappers import Response

from passerelle_sandbox.asana_fields import FieldSettings
from passerelle_sandbox.asana_model import Record, bad_request, error_body, not_found, render, wanted_fields
from passerelle_sandbox.asana_writes import compact, created_at_url, request_data
from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.store import Collection

MAX_RUNNING_JOBS = 5
TEMPLATE_NAME = "Modèle — Projet client"
TEMPLATE_SECTIONS = ("À faire", "En cours", "Terminé")
TEMPLATE_TASKS = (("Kick-off client", 0), ("Paramétrage", 7), ("Recette", 21), ("Mise en production", 30))
START_DATE = "Start Date"


def build_templates(team: Record, owner: Record, next_gid: Callable[[], str]) -> list[Record]:
    """One client-project template for the team: three sections, four tasks dated from the start date."""
    return [{
        "gid": next_gid(), "resource_type": "project_template", "name": TEMPLATE_NAME,
        "description": "Projet de mise en œuvre pour un client", "html_description": "",
        "owner": compact(owner), "team": {"gid": team["gid"], "resource_type": "team", "name": team["name"]},
        "public": True, "color": "dark-green",
        "requested_dates": [{"gid": "1", "name": START_DATE, "description": "Choose a start date for your project."}],
        "requested_roles": [{"gid": "1", "name": "Chef de projet"}],
    }]


class AsanaTemplateRoutes:
    """``on_*`` handlers for templates and jobs; the app supplies stores and helpers."""

    lock: Any
    config: dict[str, Any]
    workspace: Record
    teams: dict[str, Record]
    users: Collection
    projects: Collection
    sections: Collection
    tasks: Collection
    templates: dict[str, Record]
    jobs: dict[str, Record]
    field_settings: FieldSettings
    _next_gid: Callable[[], str]
    _emit: Callable[..., None]
    _page: Callable[..., Response]
    _one: Callable[..., Response]
    _require_workspace: Callable[[str | None], None]
    _throttled: Callable[[int | None], VendorError]
    _me: Callable[[], Record]
    now_text: Callable[[], str]

    def on_project_templates(self, call: Call) -> Response:
        workspace, team = call.request.args.get("workspace"), call.request.args.get("team")
        if workspace is None and team is None:
            raise bad_request("Must specify exactly one of workspace or team")
        self._require_workspace(workspace)
        with self.lock:
            return self._page(call, [t for t in self.templates.values() if team is None or t["team"]["gid"] == team])

    def on_team_project_templates(self, call: Call, gid: str) -> Response:
        with self.lock:
            if gid not in self.teams:
                raise not_found("team", gid)
            return self._page(call, [t for t in self.templates.values() if t["team"]["gid"] == gid])

    def on_project_template(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.templates.get(gid), "project_template", gid)

    def on_instantiate_project(self, call: Call, gid: str) -> Response:
        data = request_data(call)
        token = str((call.principal or {}).get("token", ""))
        with self.lock:
            template = self.templates.get(gid)
            if template is None:
                raise not_found("project_template", gid)
            name = data.get("name")
            if not isinstance(name, str) or not name.strip():
                raise bad_request("name: Missing input")
            team = self.teams.get(str(data.get("team") or template["team"]["gid"]))
            if team is None:
                raise bad_request(f"team: Not a recognized ID: {data.get('team')}")
            dates = self._requested_dates(template, data)
            if data.get("is_strict") and any(value is None for value in dates.values()):
                missing = next(g for g, value in dates.items() if value is None)
                raise VendorError(422, error_body(f"requested_dates: Missing value for date variable {missing}"))
            running = [j for j in self.jobs.values() if j["_token"] == token and j["status"] != "succeeded"]
            if len(running) >= MAX_RUNNING_JOBS:
                raise self._throttled(int(self.config.get("retry_after_seconds") or 30))
            job: Record = {
                "gid": self._next_gid(), "resource_type": "job", "resource_subtype": "instantiate_project",
                "status": "not_started", "new_project": None, "new_task": None, "new_project_template": None,
                "_token": token, "_polls": 0, "_spec": {"name": name, "team": team, "template": template,
                                                        "start": dates.get("1"), "public": bool(data.get("public"))},
            }
            self.jobs[job["gid"]] = job
            return json_response({"data": render(job, wanted_fields(call.request.args.get("opt_fields")), True)}, 201,
                                 {"Location": created_at_url(call, "jobs", job["gid"])})

    @staticmethod
    def _requested_dates(template: Record, data: Record) -> dict[str, str | None]:
        given = {str(d.get("gid")): d.get("value") for d in data.get("requested_dates") or [] if isinstance(d, dict)}
        dates: dict[str, str | None] = {}
        for wanted in template["requested_dates"]:
            value = given.get(wanted["gid"])
            if value is not None:
                try:
                    value = date.fromisoformat(str(value)).isoformat()
                except ValueError:
                    raise bad_request(f"requested_dates: Invalid date value: {value}") from None
            dates[wanted["gid"]] = value
        return dates

    def on_job(self, call: Call, gid: str) -> Response:
        with self.lock:
            job = self.jobs.get(gid)
            if job is None:
                raise not_found("job", gid)
            self._advance(job)
            return self._one(call, job, "job", gid)

    def _advance(self, job: Record) -> None:
        """Each poll moves the job on; at the last step the project is built."""
        if job["status"] == "succeeded":
            return
        job["_polls"] += 1
        needed = max(1, int(self.config.get("job_polls", 2)))
        if job["_polls"] >= needed:
            job["new_project"] = compact(self._instantiate(job["_spec"]))
            job["status"] = "succeeded"
        else:
            job["status"] = "in_progress"

    def _instantiate(self, spec: Record) -> Record:
        now = self.now_text()
        start = spec["start"] or now[:10]
        team, template = spec["team"], spec["template"]
        project: Record = {
            "gid": self._next_gid(), "resource_type": "project", "name": spec["name"], "archived": False,
            "completed": False, "completed_at": None, "color": template["color"], "created_at": now,
            "modified_at": now, "start_on": start, "due_on": _shift(start, TEMPLATE_TASKS[-1][1]),
            "owner": self._me(), "team": {"gid": team["gid"], "resource_type": "team", "name": team["name"]},
            "workspace": {"gid": self.workspace["gid"], "resource_type": "workspace", "name": self.workspace["name"]},
            "public": spec["public"], "custom_fields": [],
        }
        self.projects.insert(project, at=now)
        self.field_settings.attach(project, [])
        project["custom_fields"] = [dict(s["custom_field"], text_value=None, display_value=None)
                                    if s["custom_field"].get("type") == "text"
                                    else dict(s["custom_field"], enum_value=None, display_value=None)
                                    for s in self.field_settings.for_project(project)]
        self._emit("added", project, [])
        link = {"gid": project["gid"], "resource_type": "project", "name": project["name"]}
        sections = []
        for offset, name in enumerate(TEMPLATE_SECTIONS):
            section = {"gid": self._next_gid(), "resource_type": "section", "name": name, "created_at": now,
                       "project": dict(link)}
            self.sections.insert(section, at=now)
            sections.append(section)
        for name, days in TEMPLATE_TASKS:
            task: Record = {
                "gid": self._next_gid(), "resource_type": "task", "resource_subtype": "default_task", "name": name,
                "completed": False, "completed_at": None, "completed_by": None, "assignee": None, "start_on": None,
                "due_on": _shift(start, days), "due_at": None, "created_at": now, "modified_at": now, "notes": "",
                "parent": None, "num_subtasks": 0,
                "memberships": [{"project": dict(link), "section": {"gid": sections[0]["gid"],
                                                                     "resource_type": "section",
                                                                     "name": sections[0]["name"]}}],
                "workspace": dict(project["workspace"]), "custom_fields": [],
            }
            self.field_settings.attach(task, [project])
            self.tasks.insert(task, at=now)
            self._emit("added", task, [project["gid"]], parent={"gid": project["gid"], "resource_type": "project"})
        return project


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
