"""Microsoft Graph shapes the Planner emulator shares: error bodies, ETags, ``$skiptoken`` cookies.

Graph errors are ``{"error": {"code", "message", "innerError": {"date", "request-id",
"client-request-id"}}}``. Planner objects carry ``@odata.etag`` (``W/"JzEtVGFzayAgQEBAQEBAQEBAQEBAQEBAWCc="``,
an opaque base64 value that changes with every write): a PATCH or DELETE must send it back in
``If-Match`` and a stale one is refused with 412.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from passerelle_sandbox.core import VendorError
from passerelle_sandbox.paging import BadToken, TokenSigner

Record = dict[str, Any]


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                client_request_id: str | None = None) -> VendorError:
    request_id = str(uuid.uuid4())
    inner = {"date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "request-id": request_id,
             "client-request-id": client_request_id or request_id}
    return VendorError(status, {"error": {"code": code, "message": message, "innerError": inner}},
                       {**(headers or {}), "request-id": request_id})


def etag(kind: str, version: int) -> str:
    """Planner's weak ETag: base64 of a quoted ``<n>-<Kind>`` with Planner's ``@`` padding and the version."""
    text = f"'{version}-{kind}  {'@' * max(1, 16 - len(str(version)))}{version}'"
    return f'W/"{base64.b64encode(text.encode()).decode()}"'


class SkipTokens:
    """Opaque, signed ``$skiptoken`` values: the offset reached in one query (a token from another
    query, or forged, is refused)."""

    def __init__(self, key: bytes) -> None:
        self.signer = TokenSigner(key)

    def issue(self, query: str, offset: int) -> str:
        return f"X%27{self.signer.seal({'q': query, 'o': offset})}%27"

    def read(self, query: str, token: str) -> int:
        token = token.removeprefix("X%27").removeprefix("X'").removesuffix("%27").removesuffix("'")
        try:
            data = self.signer.open(token)
        except BadToken:
            data = None
        if not isinstance(data, dict) or data.get("q") != query:
            raise graph_error(400, "Request_BadRequest", "Invalid $skiptoken value: it does not belong to this query.")
        return int(data["o"])
