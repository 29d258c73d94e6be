"""Pipedrive record rendering (API v2 and v1), timestamps, list cursors and error bodies.

The store keeps v2-shaped records with canonical timestamps; v2 renders them as RFC 3339 with
seconds (``2026-03-01T10:00:00Z``), v1 as ``2026-03-01 10:00:00`` (UTC, no zone), with the custom
fields spread at the top level under their hash keys and ``active_flag`` instead of ``is_deleted``.
"""

from __future__ import annotations

from typing import Any

from passerelle_sandbox.core import VendorError
from passerelle_sandbox.paging import pack, unpack

Record = dict[str, Any]
OBJECTS = ("organizations", "persons", "deals", "products", "deal_products", "users")
ENTITY = {"organizations": "organization", "persons": "person", "deals": "deal", "products": "product"}
TIME_FIELDS = ("add_time", "update_time", "stage_change_time", "close_time", "won_time", "lost_time", "delete_time",
               "created", "modified", "last_login")


def pd_error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> VendorError:
    """Pipedrive's error body: ``{"success": false, "error": ..., "errorCode": ..., "error_info": ...}``."""
    body = {"success": False, "error": message, "errorCode": status,
            "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
            "data": None, "additional_data": None, **extra}
    return VendorError(status, body, headers)


def v2_time(value: Any) -> Any:
    """Canonical ``2026-03-01T10:00:00.000Z`` → ``2026-03-01T10:00:00Z``."""
    return value[:19] + "Z" if isinstance(value, str) and len(value) == 24 else value


def v1_time(value: Any) -> Any:
    """Canonical → ``2026-03-01 10:00:00``."""
    return value[:10] + " " + value[11:19] if isinstance(value, str) and len(value) == 24 else value


def render_v2(record: Record) -> Record:
    out = dict(record)
    for name in TIME_FIELDS:
        if name in out:
            out[name] = v2_time(out[name])
    if "custom_fields" in out:
        out["custom_fields"] = dict(out["custom_fields"])
    if "prices" in out:
        out["prices"] = [dict(price) for price in out["prices"]]
    return out


def render_v1(obj: str, record: Record) -> Record:
    """The v1 shape: timestamps as ``YYYY-MM-DD HH:MM:SS``, custom fields at the top level,
    ``active_flag`` for liveness, person e-mails and phones under ``email``/``phone``."""
    out = {k: v for k, v in record.items() if k not in ("custom_fields", "is_deleted", "emails", "phones")}
    for name in TIME_FIELDS:
        if name in out:
            out[name] = v1_time(out[name])
    out.update(record.get("custom_fields") or {})
    if obj != "users":
        out["active_flag"] = not record.get("is_deleted", False)
    if obj == "persons":
        out["email"] = [dict(e) for e in record.get("emails") or []]
        out["phone"] = [dict(p) for p in record.get("phones") or []]
    if obj == "organizations":
        address = record.get("address") or {}
        out["address"] = address.get("value")
        for part in ("route", "locality", "postal_code", "country", "formatted_address"):
            out[f"address_{part}"] = address.get(part)
    if obj == "deals":
        out["deleted"] = bool(record.get("is_deleted"))
        out["active"] = record.get("status") == "open"
        out["user_id"] = record.get("owner_id")
    return out


def encode_cursor(sort_value: Any, record_id: int) -> str:
    """An opaque cursor, as Pipedrive's base64 JSON ones: the last (sort value, id) of the page."""
    return pack([sort_value, record_id])


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        value, record_id = unpack(cursor)
        return value, int(record_id)
    except (ValueError, TypeError) as exc:
        raise pd_error(400, "Invalid cursor") from exc


def int_list(text: str | None, name: str, at_most: int = 100) -> list[int] | None:
    if text is None or text == "":
        return None
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise pd_error(400, f"{name} must be a comma-separated list of integers") from exc
    if len(values) > at_most:
        raise pd_error(400, f"{name} accepts at most {at_most} values")
    return values
