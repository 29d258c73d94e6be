"""Zoho Projects day-by-day changes for the demo and the raw-vs-source check (see :mod:`passerelle_sandbox.scenario`).

Each day adds a subtask under a main task, closes a task, deletes another main task (its subtasks
go with it), completes a milestone, logs time on the day, approves a pending time log and deletes a
recent one: the changes the connector must see without any modification filter or deletion feed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from passerelle_sandbox.scenario import raw_id_differences

VENDOR = "zoho_projects"
STREAMS = ("projects", "tasklists", "tasks", "milestones", "users", "timelogs")


def _live(control: Any, obj: str) -> list[dict[str, Any]]:
    return sorted(control.records(obj), key=lambda r: int(r["id"]))


def apply_zoho_projects_day_changes(sandbox: Any, day: int, at: datetime) -> dict[str, int]:
    """Day ``day``'s changes at time ``at``; nothing when the emulator is not served."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    if VENDOR not in sandbox.vendors:
        return counts
    control = sandbox.vendors[VENDOR].control
    control.set_clock(at)
    mains = [t for t in _live(control, "tasks") if not t.get("parent_task")]
    parent = mains[day % len(mains)]
    control.create("tasks", {"name": f"Correctifs de recette {day + 1}", "parent_task": {"id": parent["id"],
                                                                                      "name": parent["name"]},
                             "tasklist": parent["tasklist"], "status": {"id": "2298000000000040", "name": "Open",
                                                                        "is_closed": False},
                             "priority": "High", "owners": parent["owners"], "percent_complete": 0,
                             "start_date": at.date().isoformat(), "end_date": at.date().isoformat(),
                             "billing_type": "Billable", "has_subtasks": False, "completed_time": None})
    open_task = next(t for t in mains[day + 1:] if not t["status"]["is_closed"])
    control.update("tasks", open_task["id"], {"status": {"id": "2298000000000042", "name": "Closed", "is_closed": True},
                                              "percent_complete": 100, "completed_time": at.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    control.delete("tasks", mains[-1 - day]["id"])
    milestone = next(m for m in _live(control, "milestones") if m["status"] == "notcompleted")
    control.update("milestones", milestone["id"], {"status": "completed",
                                                   "completed_time": at.strftime("%Y-%m-%dT%H:%M:%S.000Z")})
    logs = sorted(control.records("timelogs"), key=lambda t: (t["date"], int(t["id"])), reverse=True)
    template = next(t for t in logs if t["bill_status"] == "Billable")
    control.create("timelogs", {**{k: v for k, v in template.items() if k not in ("id", "created_time", "last_modified_time")},
                                "date": at.date().isoformat(), "hours": "03:30", "total_minutes": 210,
                                "approval_status": "Pending", "notes": f"Atelier du jour {day + 1}"})
    pending = next(t for t in logs if t["approval_status"] == "Pending")
    control.update("timelogs", pending["id"], {"approval_status": "Approved"})
    control.delete("timelogs", next(t for t in logs[3:] if t["id"] != pending["id"])["id"])
    counts["created"] += 2
    counts["updated"] += 3
    counts["deleted"] += 2
    return counts


def compare_zoho_projects_raw_with_source(conn: Any, sandbox: Any) -> list[str]:
    """Differences between the portal's live records and the latest non-deleted raw versions."""
    if VENDOR not in sandbox.vendors:
        return []
    control = sandbox.vendors[VENDOR].control
    problems = [line for stream in STREAMS
                for line in raw_id_differences(conn, VENDOR, stream, {r["id"] for r in control.records(stream)})]
    conn.rollback()
    return problems
