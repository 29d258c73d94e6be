"""monday.com column values and timestamps: the raw form items keep and what the API shows of it.

Items keep their column values in a compact raw form (``{"index": 2, "label": "Terminé"}`` for a
status, a list of sessions for time tracking, the digits of a number...); :func:`render_column_value`
turns one into the ``column_values`` entry monday returns (``id``, ``type``, ``text``, ``value`` as a
JSON string, and the typed fields of its ``...on StatusValue`` / ``...on TimeTrackingValue`` fragment).
Timestamps are stored as monday renders them (``2026-02-27T10:15:02Z``): fixed width, so they
compare as plain strings.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

Record = dict[str, Any]
DONE_INDEX = 2
STATUS_LABELS = {0: "À faire", 1: "En cours", 2: "Terminé", 5: ""}
TEXT_VALUE_TYPES = {
    "text": "TextValue", "long_text": "LongTextValue", "link": "LinkValue", "email": "EmailValue",
    "phone": "PhoneValue", "dropdown": "DropdownValue", "country": "CountryValue", "hour": "HourValue",
    "rating": "RatingValue", "tags": "TagsValue", "timeline": "TimelineValue", "week": "WeekValue",
    "world_clock": "WorldClockValue", "vote": "VoteValue", "location": "LocationValue", "formula": "FormulaValue",
    "color_picker": "ColorPickerValue", "button": "ButtonValue", "item_id": "ItemIdValue",
    "creation_log": "CreationLogValue", "last_updated": "LastUpdatedValue", "file": "FileValue", "doc": "DocValue",
    "direct_doc": "DocValue", "progress": "ProgressValue", "integration": "IntegrationValue", "team": "TeamValue",
    "person": "PersonValue", "group": "GroupValue",
}
"""The published value type of each column type the sandbox keeps as text (the others are rendered
field by field); a type without one of its own (``auto_number``, ``item_assignees``...) is an
``UnsupportedValue``. Their required list fields are empty: the sandbox does not model their content."""


def monday_time(canonical_text: str) -> str:
    """Canonical sandbox time (``…T10:15:02.123Z``) → monday's ``…T10:15:02Z``."""
    return canonical_text[:19] + "Z"


def epoch_seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def hms(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def session_seconds(session: Record) -> int:
    if not session.get("ended_at"):
        return 0
    return max(0, epoch_seconds(session["ended_at"]) - epoch_seconds(session["started_at"]))


def render_column_value(item: Record, column: Record, users: dict[str, Record]) -> Record:
    """One ``column_values`` entry of ``item`` for ``column``, including its fragment fields."""
    raw = item["column_values"].get(column["id"])
    ctype = column["type"]
    changed = item["updated_at"]
    out: Record = {"id": column["id"], "type": ctype, "text": "", "value": None, "column": column}
    if ctype == "status":
        out["__typename"] = "StatusValue"
        index = raw.get("index", 5) if raw else 5
        label = raw.get("label", STATUS_LABELS.get(index, "")) if raw else None
        out.update(index=index, label=label, is_done=index == DONE_INDEX, updated_at=changed if raw else None)
        if raw:
            out["text"] = label
            out["value"] = _json({"index": index, "post_id": None, "changed_at": changed})
    elif ctype == "people":
        out["__typename"] = "PeopleValue"
        persons = (raw or {}).get("personsAndTeams", [])
        out["persons_and_teams"] = [{"id": str(p["id"]), "kind": p.get("kind", "person")} for p in persons]
        out["updated_at"] = changed if raw else None
        if persons:
            out["text"] = ", ".join(users.get(str(p["id"]), {}).get("name", "") for p in persons)
            out["value"] = _json({"changed_at": changed, "personsAndTeams": persons})
    elif ctype == "date":
        out["__typename"] = "DateValue"
        day = (raw or {}).get("date")
        out.update(date=day, time=(raw or {}).get("time"))
        if day:
            out["text"] = day
            out["value"] = _json({"date": day, "changed_at": changed})
    elif ctype == "checkbox":
        out["__typename"] = "CheckboxValue"
        checked = bool(raw) and str(raw.get("checked")).lower() == "true"
        out["checked"] = checked
        if checked:
            out["text"] = "v"
            out["value"] = _json({"checked": "true", "changed_at": changed})
    elif ctype == "numbers":
        # ``value`` is the JSON text of the number as typed (a string); ``number`` is a GraphQL Float.
        out["__typename"] = "NumbersValue"
        out.update(number=Decimal(raw) if raw else None, symbol="", direction="right")
        if raw:
            out["text"] = raw
            out["value"] = _json(raw)
    elif ctype == "time_tracking":
        out["__typename"] = "TimeTrackingValue"
        sessions = (raw or {}).get("sessions", [])
        running = bool((raw or {}).get("running"))
        duration = sum(session_seconds(s) for s in sessions)
        started = sessions[-1]["started_at"] if sessions else None
        out.update(duration=duration if raw else None, running=running, started_at=started,
                   updated_at=changed if raw else None, history=sessions)
        if raw:
            out["text"] = hms(duration)
            out["value"] = _json({
                "running": str(running).lower(), "startDate": epoch_seconds(started) if started else None,
                "duration": duration, "changed_at": changed,
                "additional_value": [
                    {"id": int(s["id"]), "account_id": None, "column_id": column["id"], "pulse_id": int(item["id"]),
                     "started_user_id": int(s["started_user_id"]), "ended_user_id": int(s["ended_user_id"] or 0),
                     "started_at": s["started_at"], "ended_at": s["ended_at"],
                     "manually_entered_start_time": s.get("manually_entered_start_date", False),
                     "manually_entered_end_time": s.get("manually_entered_end_date", False), "status": s["status"]}
                    for s in sessions
                ],
            })
    else:
        out["__typename"] = TEXT_VALUE_TYPES.get(ctype, "UnsupportedValue")
        out.update(values=[], tag_ids=[], tags=[], files=[], voter_ids=[], voters=[], vote_count=0,
                   item_id=item["id"], display_value="", created_at=item["created_at"], creator_id=item["creator_id"],
                   creator=users.get(item["creator_id"]))
        if raw not in (None, ""):
            out["text"] = out["display_value"] = str(raw)
            out["value"] = _json(str(raw))
            if ctype == "link":
                text, _, url = str(raw).rpartition(" - ")
                out.update(url=url, url_text=text or url)
    return out


def parse_column_input(column: Record, value: Any, users: dict[str, Record], existing: Any) -> Any:
    """A control-API field value (``"Terminé"``, a user id, ``True``, sessions...) → raw stored form."""
    ctype = column["type"]
    if value is None:
        return None
    if ctype == "status":
        if isinstance(value, int):
            return {"index": value, "label": STATUS_LABELS.get(value, str(value))}
        index = next((i for i, label in STATUS_LABELS.items() if label == value), None)
        if index is None:
            raise ValueError(f"unknown status label {value!r}; known: {sorted(v for v in STATUS_LABELS.values() if v)}")
        return {"index": index, "label": value}
    if ctype == "people":
        ids = value if isinstance(value, list) else [value]
        for user_id in ids:
            if str(user_id) not in users:
                raise ValueError(f"no user {user_id}")
        return {"personsAndTeams": [{"id": int(u), "kind": "person"} for u in ids]}
    if ctype == "date":
        return {"date": str(value)[:10]}
    if ctype == "checkbox":
        return {"checked": "true"} if value in (True, "true", "v", 1) else None
    if ctype == "numbers":
        text = str(value).strip()
        if not text:
            return None
        try:
            number = Decimal(text)
        except ArithmeticError:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a number")
        return text
    if ctype == "time_tracking":
        sessions = list((existing or {}).get("sessions", []))
        for entry in value if isinstance(value, list) else [value]:
            user = str(entry["user_id"])
            if user not in users:
                raise ValueError(f"no user {user}")
            sessions.append({
                "id": str(entry["id"]), "started_user_id": user, "ended_user_id": user,
                "started_at": entry["started_at"], "ended_at": entry["ended_at"],
                "manually_entered_start_date": bool(entry.get("manual", False)),
                "manually_entered_end_date": bool(entry.get("manual", False)), "status": "active",
            })
        return {"running": False, "sessions": sessions}
    return str(value)


def log_stamp(canonical_text: str) -> str:
    """Activity-log ``created_at`` (100 ns units since the epoch) for a canonical sandbox time."""
    moment = datetime.fromisoformat(canonical_text.replace("Z", "+00:00"))
    return str(int(round(moment.timestamp() * 1000)) * 10_000)


def stamp_of_iso(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000)) * 10_000
