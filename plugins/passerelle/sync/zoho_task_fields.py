"""The six task fields in a common form, read from a Zoho CRM task or a Zoho Projects task and written back.

Common form: ``title`` and ``description`` text (the project-tool description without the sync's key line),
``end_date`` ``YYYY-MM-DD``, ``priority`` ``High|Medium|Low`` (Zoho Projects' words; the CRM's Highest and
Lowest fold into High and Low, its Normal is Medium), ``status`` ``open|closed``, ``owner`` the owner's
e-mail address in lower case (users are the same people in both products, not the same ids).
"""

from __future__ import annotations

from typing import Any

from passerelle.sync.keys import KEY_PREFIX, key_line

CRM_FIELDS = ("Subject", "Description", "Due_Date", "Priority", "Status", "Owner", "What_Id",
              "Modified_Time", "Modified_By")
CRM_PRIORITY_IN = {"Highest": "High", "High": "High", "Normal": "Medium", "Low": "Low", "Lowest": "Low"}
CRM_PRIORITY_OUT = {"High": "High", "Medium": "Normal", "Low": "Low"}
CRM_CLOSED = "Completed"
CRM_REOPENED = "Not Started"


def _text(value: Any) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    return text or None


def without_key(description: str | None) -> str | None:
    """The description a person wrote: the sync's key line (and the blank line before it) left out."""
    lines = [line for line in (description or "").splitlines() if not line.startswith(KEY_PREFIX)]
    return _text("\n".join(lines))


def key_of(description: str | None) -> str | None:
    return next((line[len(KEY_PREFIX):] for line in (description or "").splitlines()
                 if line.startswith(KEY_PREFIX)), None)


def from_crm(task: dict[str, Any], emails: dict[str, str]) -> dict[str, Any]:
    """A Zoho CRM task's six fields; ``emails`` maps CRM user ids to addresses."""
    owner = task.get("Owner") if isinstance(task.get("Owner"), dict) else {}
    email = owner.get("email") or emails.get(str(owner.get("id")))
    return {"title": _text(task.get("Subject")), "description": _text(task.get("Description")),
            "end_date": task.get("Due_Date") or None, "priority": CRM_PRIORITY_IN.get(task.get("Priority") or ""),
            "status": "closed" if task.get("Status") == CRM_CLOSED else "open",
            "owner": email.lower() if isinstance(email, str) else None}


def from_pm(task: dict[str, Any]) -> dict[str, Any]:
    """A Zoho Projects task's six fields (its first owner is the owner)."""
    owners = [o for o in task.get("owners") or [] if isinstance(o, dict) and o.get("email")]
    priority = task.get("priority")
    return {"title": _text(task.get("name")), "description": without_key(task.get("description")),
            "end_date": task.get("end_date") or None, "priority": priority if priority in CRM_PRIORITY_OUT else None,
            "status": "closed" if (task.get("status") or {}).get("is_closed") else "open",
            "owner": owners[0]["email"].lower() if owners else None}


class Unmappable(ValueError):
    """A value the other product cannot hold (an owner who is no user there)."""


def to_crm(values: dict[str, Any], crm_users: dict[str, str]) -> dict[str, Any]:
    """CRM field values for common ``values``; ``crm_users`` maps addresses to CRM user ids."""
    out: dict[str, Any] = {}
    for field, value in values.items():
        if field == "title":
            out["Subject"] = value
        elif field == "description":
            out["Description"] = value
        elif field == "end_date":
            out["Due_Date"] = value
        elif field == "priority":
            out["Priority"] = CRM_PRIORITY_OUT.get(value) if value else None
        elif field == "status":
            out["Status"] = CRM_CLOSED if value == "closed" else CRM_REOPENED
        elif field == "owner":
            if value not in crm_users:
                raise Unmappable(f"no Zoho CRM user has the address {value}")
            out["Owner"] = {"id": crm_users[value]}
    return out


def to_pm(values: dict[str, Any], pm_users: dict[str, str], idem_key: str | None) -> dict[str, Any]:
    """Zoho Projects task values for common ``values``; ``pm_users`` maps addresses to zpuids; the key line is
    kept under a description the sync stamped."""
    out: dict[str, Any] = {}
    for field, value in values.items():
        if field == "title":
            out["name"] = value
        elif field == "description":
            lines = [value] if value else []
            if idem_key:
                lines += ["", key_line(idem_key)] if value else [key_line(idem_key)]
            out["description"] = "\n".join(lines) or None
        elif field == "end_date":
            out["end_date"] = value
        elif field == "priority":
            out["priority"] = value or "None"
        elif field == "status":
            out["status"] = {"name": "Closed" if value == "closed" else "Open"}
        elif field == "owner":
            if value not in pm_users:
                raise Unmappable(f"no Zoho Projects user has the address {value}")
            out["owners"] = [{"zpuid": pm_users[value]}]
    return out
