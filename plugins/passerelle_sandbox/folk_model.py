"""folk's error envelope and offset cursors.

Errors: ``{"error": {"code", "message", "documentationUrl", "requestId", "timestamp", "details"}}``.
Cursors are base64 JSON ``{"offset": N}`` (at most 128 characters): offset-based, so inserts and
deletes during a scan shift the pages, as with the real API.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone
from typing import Any

from passerelle_sandbox.core import VendorError

DOCS = "https://developer.folk.app/api-reference"
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         429: "rate_limit_exceeded", 500: "internal_server_error", 502: "bad_gateway", 503: "service_unavailable",
         504: "gateway_timeout"}


def folk_error(status: int, message: str, headers: dict[str, str] | None = None,
               details: dict[str, Any] | None = None) -> VendorError:
    body = {"error": {
        "code": CODES.get(status, "error"), "message": message, "documentationUrl": f"{DOCS}/errors",
        "requestId": str(uuid.uuid4()), "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        **({"details": details} if details else {}),
    }}
    return VendorError(status, body, headers)


def encode_cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        if len(cursor) > 128:
            raise ValueError("too long")
        offset = json.loads(base64.b64decode(cursor.encode(), validate=True))["offset"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError("bad offset")
        return offset
    except (ValueError, KeyError, TypeError) as exc:
        raise folk_error(400, "Invalid cursor") from exc
