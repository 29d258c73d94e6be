"""Microsoft Planner and Project for the web day-by-day changes for the demo, and the raw-vs-source check.

Each day, in Planner: a task is created, one is completed (percent complete 100), a milestone of a
``Jalons`` bucket is reached, a task is renamed and one deleted (Planner deletes for good: only the next
listing's absence tells). In Project for the web (the Dynamics org's Dataverse): a task and a milestone
reach progress 1, two time entries are recorded and one is deleted (seen through change tracking).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from passerelle_sandbox.scenario import raw_id_differences

PLANNER_STREAMS = {"plans": "plans", "buckets": "buckets", "tasks": "tasks", "task_details": "details",
                   "users": "users"}
PROJECT_TABLES = {"msdyn_projects": "msdyn_projectid", "msdyn_projecttasks": "msdyn_projecttaskid",
                  "msdyn_timeentries": "msdyn_timeentryid"}


def apply_planner_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s Planner changes at ``at`` (nothing when the sandbox has no Planner)."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    if "planner" not in sandbox.vendors:
        return counts
    control = sandbox.vendors["planner"].control
    control.set_clock(at)
    jalons = {b["id"] for b in control.records("buckets") if b["name"] == "Jalons"}
    tasks = sorted(control.records("tasks"), key=lambda t: t["id"])
    open_tasks = [t for t in tasks if t["percentComplete"] < 100 and t["bucketId"] not in jalons]
    open_milestones = [t for t in tasks if t["percentComplete"] < 100 and t["bucketId"] in jalons]
    for task in (open_tasks[day % len(open_tasks)] if open_tasks else None,
                 open_milestones[day % len(open_milestones)] if open_milestones else None):
        if task is not None:
            control.update("tasks", task["id"], {"percentComplete": 100})
            counts["updated"] += 1
    renamed = tasks[(3 * day + 1) % len(tasks)]
    control.update("tasks", renamed["id"], {"title": f"{renamed['title']} (revu)", "priority": 1})
    control.create("tasks", {"planId": renamed["planId"], "title": f"Point d'avancement {day + 1}",
                             "dueDateTime": f"{(at + timedelta(days=7)).date().isoformat()}T17:00:00.000Z"})
    gone = next(t for t in reversed(tasks) if t["title"] != "Fiche affaire" and t["id"] != renamed["id"])
    control.delete("tasks", gone["id"])
    counts["updated"] += 1
    counts["created"] += 1
    counts["deleted"] += 1
    return counts


def apply_project_for_the_web_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s Project for the web changes in the Dynamics org at ``at``."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    if "dynamics" not in sandbox.vendors:
        return counts
    control = sandbox.vendors["dynamics"].control
    control.set_clock(at)
    tasks = sorted(control.records("msdyn_projecttasks"), key=lambda t: t["msdyn_projecttaskid"])
    for milestone in (False, True):
        pending = [t for t in tasks if bool(t["msdyn_ismilestone"]) == milestone
                   and Decimal(str(t["msdyn_progress"])) < 1]
        if pending:
            control.update("msdyn_projecttasks", pending[day % len(pending)]["msdyn_projecttaskid"],
                           {"msdyn_progress": "1.00"})
            counts["updated"] += 1
    work = [t for t in tasks if not t["msdyn_ismilestone"]]
    owners = sorted({e["_ownerid_value"] for e in control.records("msdyn_timeentries")})
    for number in range(2):
        task = work[(2 * day + number) % len(work)]
        control.create("msdyn_timeentries", {
            "msdyn_date": f"{at.date().isoformat()}T00:00:00Z", "msdyn_duration": 60 * (number + 2) + 30,
            "msdyn_description": "Atelier client", "msdyn_type": 192350000, "msdyn_entrystatus": 192350003,
            "_msdyn_project_value": task["_msdyn_project_value"], "_msdyn_projecttask_value": task["msdyn_projecttaskid"],
            "_ownerid_value": owners[(day + number) % len(owners)]})
        counts["created"] += 1
    entries = sorted(control.records("msdyn_timeentries"), key=lambda e: e["msdyn_timeentryid"])
    control.delete("msdyn_timeentries", entries[day]["msdyn_timeentryid"])
    counts["deleted"] += 1
    return counts


def compare_planner_raw_with_source(conn: Any, sandbox: Any,
                                    sources: tuple[str, ...] = ("planner", "project_for_the_web")) -> list[str]:
    """Differences between Planner's objects and Project for the web's rows and the live raw versions."""
    problems: list[str] = []
    if "planner" in sandbox.vendors and "planner" in sources:
        control = sandbox.vendors["planner"].control
        for stream, obj in PLANNER_STREAMS.items():
            problems += raw_id_differences(conn, "planner", stream, {r["id"] for r in control.records(obj)})
    if "dynamics" in sandbox.vendors and "project_for_the_web" in sources:
        control = sandbox.vendors["dynamics"].control
        for table, key in PROJECT_TABLES.items():
            problems += raw_id_differences(conn, "project_for_the_web", table, {r[key] for r in control.records(table)})
    conn.rollback()
    return problems
