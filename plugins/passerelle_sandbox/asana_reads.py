"""Asana reads beyond the core lists, mixed into the Asana emulator.

Teams of a workspace and their projects, a project's custom field settings, a task's subtasks,
stories, dependencies and dependents, and the workspace task search
(``GET /workspaces/{gid}/tasks/search``). Search takes Asana's dotted filters (``modified_at.after``,
``projects.any``, ``assignee.any``, ``completed``, ``is_subtask``, ``text`` …), sorts by
``modified_at`` descending unless told otherwise, answers at most ``limit`` (default 20, max 100)
results and never pages: Asana documents paging search by re-querying with ``created_at.before``.
"""

from __future__ import annotations

from typing import Any, Callable

from werkzeug.wrappers import Response

from passerelle_sandbox.asana_fields import FieldSettings
from passerelle_sandbox.asana_model import Record, bad_request, not_found, render, wanted_fields
from passerelle_sandbox.clock import canonicalize
from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.store import Collection

SEARCH_DEFAULT_LIMIT = 20
SEARCH_SORTS = {"modified_at": "modified_at", "created_at": "created_at", "completed_at": "completed_at",
                "due_date": "due_on", "likes": "modified_at", "relevance": "modified_at"}
TIME_FILTERS = ("created_at", "completed_at", "modified_at")
DATE_FILTERS = ("created_on", "completed_on", "modified_on", "due_on", "start_on")


class AsanaReadRoutes:
    """``on_*`` read handlers over the app's stores (``tasks``, ``projects``, ``stories`` …)."""

    lock: Any
    workspace: Record
    teams: dict[str, Record]
    projects: Collection
    tasks: Collection
    stories: Collection
    field_settings: FieldSettings
    _page: Callable[..., Response]
    _one: Callable[..., Response]
    _require_workspace: Callable[[str | None], None]
    _with_actual_time: Callable[[Record], Record]

    # ------------------------------------------------------------------------------ teams

    def on_workspace_teams(self, call: Call, gid: str) -> Response:
        self._require_workspace(gid)
        with self.lock:
            return self._page(call, list(self.teams.values()))

    def on_team(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.teams.get(gid), "team", gid)

    def on_team_projects(self, call: Call, gid: str) -> Response:
        archived = call.request.args.get("archived")
        with self.lock:
            if gid not in self.teams:
                raise not_found("team", gid)
            return self._page(call, [p for p in self.projects.values() if (p.get("team") or {}).get("gid") == gid
                                     and (archived is None or bool(p.get("archived")) == (archived.lower() == "true"))])

    # ----------------------------------------------------------------------- custom fields

    def on_project_field_settings(self, call: Call, gid: str) -> Response:
        with self.lock:
            project = self.projects.get(gid)
            if project is None:
                raise not_found("project", gid)
            return self._page(call, self.field_settings.for_project(project))

    def on_workspace_custom_fields(self, call: Call, gid: str) -> Response:
        self._require_workspace(gid)
        with self.lock:
            return self._page(call, list(self.field_settings.fields.values()))

    def on_custom_field(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.field_settings.fields.get(gid), "custom_field", gid)

    # ------------------------------------------------------------------ task relationships

    def _task_or_404(self, gid: str) -> Record:
        task = self.tasks.get(gid)
        if task is None:
            raise not_found("task", gid)
        return task

    def on_task_subtasks(self, call: Call, gid: str) -> Response:
        with self.lock:
            self._task_or_404(gid)
            children = [t for t in self.tasks.values() if (t.get("parent") or {}).get("gid") == gid]
            return self._page(call, children, decorate=self._with_actual_time)

    def on_task_stories(self, call: Call, gid: str) -> Response:
        with self.lock:
            self._task_or_404(gid)
            return self._page(call, [s for s in self.stories.values() if s["target"]["gid"] == gid])

    def on_story(self, call: Call, gid: str) -> Response:
        with self.lock:
            return self._one(call, self.stories.get(gid), "story", gid)

    def on_task_dependencies(self, call: Call, gid: str) -> Response:
        with self.lock:
            task = self._task_or_404(gid)
            wanted = set(task.get("_dependencies", []))
            return self._page(call, [t for g, t in self.tasks.items() if g in wanted])

    def on_task_dependents(self, call: Call, gid: str) -> Response:
        with self.lock:
            self._task_or_404(gid)
            return self._page(call, [t for t in self.tasks.values() if gid in t.get("_dependencies", [])])

    # ------------------------------------------------------------------------------ search

    def on_task_search(self, call: Call, gid: str) -> Response:
        self._require_workspace(gid)
        args = call.request.args
        limit = args.get("limit", str(SEARCH_DEFAULT_LIMIT))
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise bad_request(f"limit: Must be between 1 and 100, got: {limit}")
        sort_by = args.get("sort_by", "modified_at")
        if sort_by not in SEARCH_SORTS:
            raise bad_request(f"sort_by: Not a valid enum value: {sort_by}")
        tests = _search_tests(args)
        with self.lock:
            found = [t for t in self.tasks.values() if all(test(t) for test in tests)]
            key = SEARCH_SORTS[sort_by]
            found.sort(key=lambda t: (t.get(key) or "", t["gid"]), reverse=args.get("sort_ascending", "").lower() != "true")
            fields = wanted_fields(args.get("opt_fields"))
            data = [render(self._with_actual_time(t), fields) for t in found[:int(limit)]]
        return json_response({"data": data})


def _search_tests(args: Any) -> list[Callable[[Record], bool]]:
    """One predicate per search parameter given; a malformed value is Asana's 400."""
    tests: list[Callable[[Record], bool]] = []
    text = args.get("text")
    if text:
        needle = text.lower()
        tests.append(lambda t: needle in t.get("name", "").lower() or needle in (t.get("notes") or "").lower())
    if args.get("resource_subtype"):
        tests.append(lambda t, kind=args["resource_subtype"]: t.get("resource_subtype") == kind)
    for name, pick in (("projects", _project_gids), ("sections", _section_gids), ("assignee", _assignee_gid)):
        for mode in ("any", "not", "all"):
            raw = args.get(f"{name}.{mode}")
            if raw:
                tests.append(_membership_test(set(raw.split(",")), mode, pick))
    for name in ("completed", "is_subtask", "is_blocked", "is_blocking"):
        raw = args.get(name)
        if raw is None:
            continue
        if raw.lower() not in ("true", "false"):  # Python SDKs send ``True``/``False``
            raise bad_request(f"{name}: Not a boolean: {raw}")
        tests.append(_flag_test(name, raw.lower() == "true"))
    for name in TIME_FILTERS + DATE_FILTERS:
        for bound in ("after", "before"):
            raw = args.get(f"{name}.{bound}")
            if raw is not None:
                tests.append(_bound_test(name, bound, raw))
    return tests


def _project_gids(task: Record) -> set[str]:
    return {m["project"]["gid"] for m in task.get("memberships", [])}


def _section_gids(task: Record) -> set[str]:
    return {m["section"]["gid"] for m in task.get("memberships", []) if m.get("section")}


def _assignee_gid(task: Record) -> set[str]:
    return {task["assignee"]["gid"]} if task.get("assignee") else set()


def _membership_test(wanted: set[str], mode: str, pick: Callable[[Record], set[str]]) -> Callable[[Record], bool]:
    if mode == "any":
        return lambda t: bool(pick(t) & wanted)
    if mode == "not":
        return lambda t: not pick(t) & wanted
    return lambda t: wanted <= pick(t)


def _flag_test(name: str, wanted: bool) -> Callable[[Record], bool]:
    if name == "completed":
        return lambda t: bool(t.get("completed")) == wanted
    if name == "is_subtask":
        return lambda t: (t.get("parent") is not None) == wanted
    if name == "is_blocked":
        return lambda t: bool(t.get("_dependencies")) == wanted
    return lambda t: True


def _bound_test(name: str, bound: str, raw: str) -> Callable[[Record], bool]:
    """``<field>.after`` / ``.before`` on timestamps, ``<field>_on.after`` on calendar days."""
    day_field = name in DATE_FILTERS
    field = {"created_on": "created_at", "completed_on": "completed_at", "modified_on": "modified_at"}.get(name, name)
    try:
        limit = raw[:10] if day_field and len(raw) >= 10 and raw[4] == "-" else canonicalize(raw)
        if day_field:
            canonicalize(limit)
    except (ValueError, IndexError):
        kind = "date" if day_field else "date/time"
        raise bad_request(f"{name}.{bound}: Invalid {kind} value: {raw}") from None

    def test(task: Record) -> bool:
        value = task.get(field)
        if not value:
            return False
        value = value[:10] if day_field else value
        return value > limit if bound == "after" else value < limit
    return test
