"""Zoho Projects v3 writes, mixed into the Zoho Projects emulator (``two-way-sync.md`` §1.11, §4, §5.14).

- ``POST …/projects`` creates a project (``name``; ``start_date``/``end_date`` ``YYYY-MM-DD``; ``is_strict``;
  ``template_id`` copies a template's task lists and tasks, dated from the project start and kept inside
  a strict project's end; ``owner_zpuid``; ``client_company``). A strict project needs both dates.
- ``POST …/projects/{p}/tasklists`` creates a task list (``name``, ``flag`` internal|external): a project
  made without a template has none, and a task needs one.
- ``POST …/projects/{p}/tasks`` and ``…/tasks/{t}/subtasks`` create a task or a subtask; ``PATCH
  …/tasks/{t}`` changes only the fields sent (``name, description, start_date, end_date, priority
  None|Low|Medium|High, status {id|name}, owners [{zpuid}], tasklist {id}``); ``DELETE`` deletes the task
  and its subtasks (204). ``GET …/projects/{p}`` and ``…/tasks/{t}`` read one record back.
- ``POST …/projects/{p}/log`` logs time on a task (``date``, ``hours`` ``HH:MM`` or ``HH.MM``,
  ``bill_status``, ``owner_zpuid``, ``module {id, type: task}``, ``notes``); at most 24 hours per user and
  day. ``DELETE …/projects/{p}/timelogs/{id}`` removes one (204).
- Zoho's own rules hold for API writes: a date outside a strict project's start/end is refused, and a
  subtask cannot be reopened while its parent task is closed (both 400, wording UNCONFIRMED).
- Every write stamps ``last_modified_time`` (strictly increasing per record, to the second as rendered)
  and ``last_modified_by`` with the API user (the portal user who authorised the OAuth client); creates
  also ``created_by``. Writes count against the same request budget as reads (100 per 2 minutes, then
  a 30-minute lock). Answers wrap the record as the legacy API does, ``{"tasks": [task]}``,
  ``{"projects": [...]}``, ``{"timelogs": [...]}`` (the v3 envelope is UNCONFIRMED); creates are 201.
- No idempotency key: a repeated create makes a second record. `refuse_equal_project_dates` (config, off)
  refuses a project whose start and end dates are equal, as reported by users (UNCONFIRMED).
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from passerelle_sandbox.zoho_projects_errors import projects_error
from passerelle_sandbox.clock import parse_instant
from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.store import Collection, Stamps

Record = dict[str, Any]
PRIORITIES = ("None", "Low", "Medium", "High")
BILL_STATUSES = ("Billable", "Non Billable")
TASK_STATUSES = ({"id": "2298000000000040", "name": "Open", "is_closed": False},
                 {"id": "2298000000000041", "name": "In Progress", "is_closed": False},
                 {"id": "2298000000000042", "name": "Closed", "is_closed": True})
PROJECT_ACTIVE = {"id": "2298000000000031", "name": "Active", "is_closed": False}
STRICT_MESSAGE = "Task dates must lie within the project's start and end dates, as the project is strict"
REOPEN_MESSAGE = "A subtask cannot be reopened while its parent task is closed. Reopen the parent task first"
MINUTES_PER_DAY = 24 * 60
TEMPLATES: dict[str, Record] = {
    "2298000000000601": {
        "name": "Projet d'intégration CRM",
        "tasklists": ("Cadrage", "Réalisation"),
        # (name, tasklist index, first day after the project start, length in days, priority)
        "tasks": (("Atelier de lancement", 0, 0, 2, "High"), ("Spécifications", 0, 2, 8, "Medium"),
                  ("Paramétrage", 1, 10, 15, "Medium"), ("Recette", 1, 25, 5, "High")),
    },
}
"""The portal's project templates, by id (``GET`` of templates is not emulated)."""
STAMPS = Stamps(modified="last_modified_time", modified_by="last_modified_by", precision_ms=1000)
"""Zoho Projects keeps seconds; ``created_time``/``created_by`` are written with the record."""


def write_rules(base: str) -> list[Rule]:
    """The write routes, and the one-record reads they answer alongside."""
    task = f"{base}/projects/<project>/tasks/<task>"
    return [
        Rule(f"{base}/projects", endpoint="create_project", methods=["POST"]),
        Rule(f"{base}/projects/<project>", endpoint="project", methods=["GET"]),
        Rule(f"{base}/projects/<project>/tasklists", endpoint="create_tasklist", methods=["POST"]),
        Rule(f"{base}/projects/<project>/tasks", endpoint="create_task", methods=["POST"]),
        Rule(task, endpoint="task", methods=["GET"]),
        Rule(task, endpoint="update_task", methods=["PATCH"]),
        Rule(task, endpoint="delete_task", methods=["DELETE"]),
        Rule(f"{task}/subtasks", endpoint="create_subtask", methods=["POST"]),
        Rule(f"{base}/projects/<project>/log", endpoint="create_timelog", methods=["POST"]),
        Rule(f"{base}/projects/<project>/timelogs/<log>", endpoint="delete_timelog", methods=["DELETE"]),
    ]


def _invalid(message: str) -> VendorError:
    return projects_error(400, "INVALID_INPUT", message)


def _not_found(what: str, record_id: str) -> VendorError:
    return projects_error(404, "RESOURCE_NOT_FOUND", f"No {what} with id {record_id}")


def _body(call: Call) -> Record:
    raw = call.request.get_data(cache=True)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise _invalid("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object")
    return body


def _date(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    for pattern in ("%Y-%m-%d", "%m-%d-%Y"):
        try:
            return datetime.strptime(str(value), pattern).date().isoformat()
        except ValueError:
            continue
    raise _invalid(f"{name} must be a date as YYYY-MM-DD")


def _text(body: Record, name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _invalid(f"{name} is mandatory")
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string")
    return value


def _minutes(value: Any) -> int:
    """``HH:MM`` or ``HH.MM`` (hours and minutes, as the v3 example ``"01.00"``) → minutes."""
    text = str(value or "").replace(".", ":")
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and (minutes or "0").isdigit()) or int(minutes or 0) >= 60:
        raise _invalid("hours must be given as HH:MM")
    total = int(hours) * 60 + int(minutes or 0)
    if not 0 < total <= MINUTES_PER_DAY:
        raise _invalid("hours must be more than 00:00 and at most 24:00")
    return total


class ZohoProjectsWriteRoutes:
    """``on_*`` write handlers; the host app provides ``records``, ``lock``, ``_project`` and the id/clock helpers."""

    records: dict[str, Collection]
    lock: Any
    config: dict[str, Any]
    portal: Record
    clock: Any
    _portal: Any
    _project: Any
    _render: Any
    _now: Any
    _new_id: Any

    # ------------------------------------------------------------------------- stamps

    def api_user(self) -> Record:
        """The portal user the OAuth client acts as: the first user of the portal."""
        first = min(self.records["users"].values(), key=lambda u: int(u["id"]))
        return {"zpuid": first["zpuid"], "name": first["name"], "email": first["email"]}

    def _stamp(self, obj: str, record: Record, created: bool = False) -> None:
        """A new ``last_modified_time``, later than the record's previous one, and the API user as modifier;
        a created record joins the store with those stamps."""
        now = self._now()
        previous = record.get("last_modified_time")
        if previous and parse_instant(now) <= parse_instant(previous):
            now = (parse_instant(previous) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if not created:
            self.records[obj].update(record["id"], by=self.api_user(), at=now)
            return
        record["last_modified_time"] = now
        record["last_modified_by"] = self.api_user()
        record["created_time"] = now
        record["created_by"] = self.api_user()
        self.records[obj].adopt(record)

    def _one(self, key: str, record: Record, status: int = 200) -> Response:
        return json_response({key: [self._render(record)]}, status)

    # ------------------------------------------------------------------------- lookups

    def _user(self, zpuid: Any) -> Record:
        user = next((u for u in self.records["users"].values() if u["zpuid"] == str(zpuid)), None)
        if user is None:
            raise _invalid(f"No portal user with zpuid {zpuid}")
        return {"zpuid": user["zpuid"], "name": user["name"], "email": user["email"]}

    def _task_in(self, portal: str, project: str, task: str) -> Record:
        self._project(portal, project)
        record = self.records["tasks"].get(task)
        if record is None or record["project"]["id"] != project:
            raise _not_found("task", task)
        return record

    def _status(self, value: Any) -> Record:
        wanted = value if isinstance(value, dict) else {"name": value}
        name = str(wanted.get("name") or "").casefold()
        for status in TASK_STATUSES:
            if str(wanted.get("id")) == status["id"] or name == status["name"].casefold():
                return dict(status)
        raise _invalid(f"No task status {json.dumps(value, ensure_ascii=False)}")

    def _tasklist(self, project: str, value: Any) -> Record:
        lists = sorted((t for t in self.records["tasklists"].values() if t["project"]["id"] == project),
                       key=lambda t: int(t["id"]))
        if value is None:
            if not lists:
                raise _invalid("tasklist is mandatory: the project has no task list")
            return {"id": lists[0]["id"], "name": lists[0]["name"]}
        wanted = str(value.get("id") if isinstance(value, dict) else value)
        found = next((t for t in lists if t["id"] == wanted), None)
        if found is None:
            raise _invalid(f"No task list with id {wanted} in this project")
        return {"id": found["id"], "name": found["name"]}

    # ------------------------------------------------------------------------- task rules

    def _task_fields(self, project: Record, body: Record, current: Record) -> Record:
        """The validated changes ``body`` asks for, against ``current`` (empty for a create)."""
        changes: Record = {}
        if "name" in body or not current:
            changes["name"] = _text(body, "name", required=True)
        if "description" in body:
            changes["description"] = _text(body, "description")
        for name in ("start_date", "end_date"):
            if name in body:
                changes[name] = _date(name, body[name])
        if "priority" in body:
            priority = next((p for p in PRIORITIES if p.casefold() == str(body["priority"]).casefold()), None)
            if priority is None:
                raise _invalid("priority must be one of None, Low, Medium, High")
            changes["priority"] = priority
        if "owners" in body:
            owners = body["owners"]
            if not isinstance(owners, list):
                raise _invalid("owners must be a list of users")
            changes["owners"] = [self._user(o.get("zpuid") if isinstance(o, dict) else o) for o in owners]
        if "status" in body:
            changes["status"] = self._status(body["status"])
        if "tasklist" in body or not current:
            changes["tasklist"] = self._tasklist(project["id"], body.get("tasklist"))
        start = changes.get("start_date", current.get("start_date"))
        end = changes.get("end_date", current.get("end_date"))
        if start and end and end < start:
            raise _invalid("end_date cannot be earlier than start_date")
        if project.get("is_strict"):
            for name in ("start_date", "end_date"):
                value = changes.get(name)
                if value and not project["start_date"] <= value <= project["end_date"]:
                    raise _invalid(STRICT_MESSAGE)
        return changes

    def _apply_status(self, task: Record, status: Record) -> None:
        was_closed = bool(task.get("status", {}).get("is_closed"))
        if was_closed and not status["is_closed"]:
            parent = self.records["tasks"].get((task.get("parent_task") or {}).get("id") or "")
            if parent is not None and parent["status"]["is_closed"]:
                raise _invalid(REOPEN_MESSAGE)
            task.update({"completed_time": None, "percent_complete": 0})
        elif status["is_closed"] and not was_closed:
            task.update({"completed_time": self._now(), "percent_complete": 100})
        elif not status["is_closed"] and status["name"] == "Open":
            task["percent_complete"] = 0
        task["status"] = status

    def _new_task(self, portal: str, project_id: str, body: Record, parent: Record | None) -> Record:
        project = self._project(portal, project_id)
        changes = self._task_fields(project, body, {})
        if parent is not None and "tasklist" not in body:
            changes["tasklist"] = parent["tasklist"]
        siblings = sum(1 for t in self.records["tasks"].values() if t["project"]["id"] == project_id)
        task: Record = {
            "id": self._new_id(), "key": f"{project.get('key', 'P')}-T{siblings + 1}", "description": None,
            "status": dict(TASK_STATUSES[0]), "priority": "None", "owners": [], "start_date": None,
            "end_date": None, "percent_complete": 0, "completed_time": None,
            "project": {"id": project["id"], "name": project["name"]},
            "parent_task": {"id": parent["id"], "name": parent["name"]} if parent else None,
            "depth": int(parent.get("depth") or 0) + 1 if parent else 0, "has_subtasks": False,
            "billing_type": "Billable" if project.get("billing_status") == "Billable" else "Non Billable",
        }
        status = changes.pop("status", None)
        task.update(changes)
        if status is not None:
            if parent is not None and parent["status"]["is_closed"] and not status["is_closed"]:
                raise _invalid(REOPEN_MESSAGE)
            self._apply_status(task, status)
        self._stamp("tasks", task, created=True)
        if parent is not None and not parent.get("has_subtasks"):
            parent["has_subtasks"] = True
            self._stamp("tasks", parent)
        return task

    # ------------------------------------------------------------------------- handlers: tasks

    def on_project(self, call: Call, portal: str, project: str) -> Response:
        with self.lock:
            return self._one("projects", self._project(portal, project))

    def on_task(self, call: Call, portal: str, project: str, task: str) -> Response:
        with self.lock:
            return self._one("tasks", self._task_in(portal, project, task))

    def on_create_tasklist(self, call: Call, portal: str, project: str) -> Response:
        body = _body(call)
        with self.lock:
            record = self._project(portal, project)
            name = _text(body, "name", required=True)
            if body.get("flag", "internal") not in ("internal", "external"):
                raise _invalid("flag must be internal or external")
            siblings = [t for t in self.records["tasklists"].values() if t["project"]["id"] == project]
            tasklist: Record = {"id": self._new_id(), "name": name,
                                "project": {"id": record["id"], "name": record["name"]}, "milestone": None,
                                "status": "active", "flag": body.get("flag", "internal"),
                                "sequence": len(siblings) + 1}
            self._stamp("tasklists", tasklist, created=True)
            return self._one("tasklists", tasklist, 201)

    def on_create_task(self, call: Call, portal: str, project: str) -> Response:
        body = _body(call)
        with self.lock:
            return self._one("tasks", self._new_task(portal, project, body, None), 201)

    def on_create_subtask(self, call: Call, portal: str, project: str, task: str) -> Response:
        body = _body(call)
        with self.lock:
            parent = self._task_in(portal, project, task)
            return self._one("tasks", self._new_task(portal, project, body, parent), 201)

    def on_update_task(self, call: Call, portal: str, project: str, task: str) -> Response:
        body = _body(call)
        with self.lock:
            record = self._task_in(portal, project, task)
            changes = self._task_fields(self._project(portal, project), body, record)
            if not changes:
                raise _invalid("Nothing to update")
            status = changes.pop("status", None)
            if status is not None:
                self._apply_status(record, status)
            record.update(changes)
            self._stamp("tasks", record)
            for child in self.records["tasks"].values():
                if (child.get("parent_task") or {}).get("id") == record["id"] and "name" in changes:
                    child["parent_task"] = {"id": record["id"], "name": record["name"]}
            return self._one("tasks", record)

    def on_delete_task(self, call: Call, portal: str, project: str, task: str) -> Response:
        with self.lock:
            record = self._task_in(portal, project, task)
            doomed, frontier = [record["id"]], [record["id"]]
            while frontier:
                frontier = [t["id"] for t in self.records["tasks"].values()
                            if (t.get("parent_task") or {}).get("id") in frontier]
                doomed += frontier
            for task_id in doomed:
                self.records["tasks"].purge(task_id)
            return Response(status=204)

    # ------------------------------------------------------------------------- handlers: projects

    def on_create_project(self, call: Call, portal: str) -> Response:
        body = _body(call)
        with self.lock:
            self._portal(portal)
            name = _text(body, "name", required=True)
            start, end = _date("start_date", body.get("start_date")), _date("end_date", body.get("end_date"))
            strict = body.get("is_strict", False)
            if not isinstance(strict, bool):
                raise _invalid("is_strict must be true or false")
            if strict and not (start and end):
                raise _invalid("A strict project needs a start_date and an end_date")
            if start and end and (end < start or (end == start and self.config["refuse_equal_project_dates"])):
                raise _invalid("End date cannot be greater than Start date" if end == start
                               else "end_date cannot be earlier than start_date")
            template = None
            if body.get("template_id") is not None:
                template = TEMPLATES.get(str(body["template_id"]))
                if template is None:
                    raise _invalid(f"No project template with id {body['template_id']}")
            owner = self._user(body["owner_zpuid"]) if body.get("owner_zpuid") is not None else self.api_user()
            client = body.get("client_company")
            if client is not None and not (isinstance(client, dict) and client.get("id") and client.get("name")):
                raise _invalid("client_company must carry an id and a name")
            number = len(self.records["projects"]) + 1
            billable = client is not None
            project: Record = {
                "id": self._new_id(), "key": f"MS{number}", "name": name, "description": _text(body, "description"),
                "status": dict(PROJECT_ACTIVE), "owner": owner, "start_date": start, "end_date": end,
                "billing_status": "Billable" if billable else "Non Billable",
                "billing_method": "Based on Project Hours" if billable else "None", "currency": "EUR",
                "client_company": {"id": str(client["id"]), "name": client["name"]} if client else None,
                "crm": None, "is_strict": strict,
                "template": {"id": str(body["template_id"]), "name": template["name"]} if template else None,
            }
            self._stamp("projects", project, created=True)
            if template is not None:
                self._from_template(project, template)
            return self._one("projects", project, 201)

    def _from_template(self, project: Record, template: Record) -> None:
        """The template's task lists and tasks, dated from the project start (kept inside a strict end)."""
        ref = {"id": project["id"], "name": project["name"]}
        origin = date.fromisoformat(project["start_date"] or self.clock.now().date().isoformat())
        lists = []
        for sequence, name in enumerate(template["tasklists"], start=1):
            tasklist: Record = {"id": self._new_id(), "name": name, "project": ref, "milestone": None,
                                "status": "active", "sequence": sequence}
            self._stamp("tasklists", tasklist, created=True)
            lists.append(tasklist)
        last = date.fromisoformat(project["end_date"]) if project["is_strict"] else None
        for name, index, offset, length, priority in template["tasks"]:
            begins, ends = origin + timedelta(days=offset), origin + timedelta(days=offset + length)
            if last is not None:
                begins, ends = min(begins, last), min(ends, last)
            body = {"name": name, "tasklist": {"id": lists[index]["id"]}, "priority": priority,
                    "start_date": begins.isoformat(), "end_date": ends.isoformat()}
            self._new_task(self.portal["id"], project["id"], body, None)

    # ------------------------------------------------------------------------- handlers: time logs

    def on_create_timelog(self, call: Call, portal: str, project: str) -> Response:
        body = _body(call)
        with self.lock:
            record = self._project(portal, project)
            module = body.get("module")
            if not isinstance(module, dict) or module.get("type", "task") != "task" or not module.get("id"):
                raise _invalid("module must name a task: {\"id\": ..., \"type\": \"task\"}")
            task = self._task_in(portal, project, str(module["id"]))
            day = _date("date", body.get("date"))
            if day is None:
                raise _invalid("date is mandatory")
            minutes = _minutes(body.get("hours"))
            bill_status = body.get("bill_status", "Billable")
            if bill_status not in BILL_STATUSES:
                raise _invalid("bill_status must be Billable or Non Billable")
            owner = self._user(body["owner_zpuid"]) if body.get("owner_zpuid") is not None else self.api_user()
            logged = sum(int(t["total_minutes"]) for t in self.records["timelogs"].values()
                         if t["date"] == day and t["owner"]["zpuid"] == owner["zpuid"])
            if logged + minutes > MINUTES_PER_DAY:
                raise _invalid("A user cannot log more than 24 hours in a day")
            log: Record = {
                "id": self._new_id(), "project": {"id": record["id"], "name": record["name"]},
                "module": {"type": "task", "id": task["id"], "name": task["name"]}, "owner": owner, "date": day,
                "hours": f"{minutes // 60:02d}:{minutes % 60:02d}", "total_minutes": minutes,
                "bill_status": bill_status, "approval_status": "Pending",
                "notes": _text(body, "notes") or "", "log_name": _text(body, "log_name"),
            }
            self._stamp("timelogs", log, created=True)
            return self._one("timelogs", log, 201)

    def on_delete_timelog(self, call: Call, portal: str, project: str, log: str) -> Response:
        with self.lock:
            self._project(portal, project)
            record = self.records["timelogs"].get(log)
            if record is None or record["project"]["id"] != project:
                raise _not_found("time log", log)
            self.records["timelogs"].purge(log)
            return Response(status=204)
