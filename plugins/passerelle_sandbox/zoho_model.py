"""Zoho record rendering (org time zone), page tokens and error bodies, shared by Zoho CRM and Bigin.

The store keeps canonical UTC timestamps; Zoho answers in the org's time zone
(``2026-03-01T11:00:00+01:00``), so clients must normalise. Page tokens are opaque: here a signed
base64 JSON of the next offset, the parameters they are bound to and their expiry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from passerelle_sandbox.clock import parse_instant
from passerelle_sandbox.core import VendorError
from passerelle_sandbox.paging import pack, unpack

Record = dict[str, Any]
TIME_FIELDS = ("Created_Time", "Modified_Time", "created_time", "deleted_time")


def zoho_error(status: int, code: str, message: str, details: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> VendorError:
    """Zoho's error body: ``{"code", "details", "message", "status": "error"}``."""
    return VendorError(status, {"code": code, "details": details or {}, "message": message, "status": "error"}, headers)


def org_time(value: Any, offset: str) -> Any:
    """Canonical UTC text → ISO 8601 with the org's offset, to the second."""
    if not isinstance(value, str) or len(value) != 24:
        return value
    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
    moment = parse_instant(value).astimezone(timezone(delta))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset


def render(record: Record, offset: str, fields: list[str] | None = None) -> Record:
    """The record as Zoho sends it: only ``fields`` (and ``id``), times in the org's zone."""
    out: Record = {"id": record["id"]}
    for name, value in record.items():
        if fields is not None and name not in fields:
            continue
        if name == "Quoted_Items" and isinstance(value, list):
            value = [{k: org_time(v, offset) if k in TIME_FIELDS else v for k, v in item.items()} for item in value]
        out[name] = org_time(value, offset) if name in TIME_FIELDS else value
    return out


def _signature(bound: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(bound, sort_keys=True).encode()).hexdigest()[:16]


def encode_page_token(offset: int, bound: dict[str, Any], expiry: datetime) -> str:
    return pack([offset, _signature(bound), expiry.isoformat()])


def decode_page_token(token: str, bound: dict[str, Any], now: datetime) -> int:
    """The offset a page token stands for; Zoho's errors for a malformed, altered or expired one."""
    try:
        offset, signature, expiry = unpack(token)
        offset, expires = int(offset), datetime.fromisoformat(expiry)
    except (ValueError, TypeError) as exc:
        raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "page_token",
                                                              "json_path": "$.query.page_token"}) from exc
    if signature != _signature(bound):
        raise zoho_error(400, "TOKEN_BOUND_DATA_MISMATCH", "The page_token given seems to be invalid or input param "
                         "is added or altered or deleted", {"api_name": "page_token"})
    if now >= expires:
        raise zoho_error(400, "EXPIRED_VALUE", "Page token expired",
                         {"api_name": "page_token", "json_path": "$.query.page_token"})
    return offset
