"""Trello credentials and rate limits as the sandbox enforces them.

Trello authenticates every call with an API key plus a user token, sent as ``key``/``token`` query
parameters or as ``Authorization: OAuth oauth_consumer_key="…", oauth_token="…"``; failures are
401s with a short plain-text body (``invalid key``, ``invalid token``, ``unauthorized permission
requested``). Limits are rolling windows: 100 requests / 10 s per token, 300 / 10 s per key, and
100 / 900 s on ``/1/members/``; a refusal is a 429 with a JSON error code and no ``Retry-After``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from passerelle_sandbox.core import VendorError

_OAUTH_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


@dataclass(frozen=True)
class TrelloCredentials:
    key: str
    token: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "token": self.token}


def presented_credentials(request: Request) -> tuple[str | None, str | None]:
    """The (key, token) a request carries, from the OAuth header or the query string."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "oauth ":
        params = dict(_OAUTH_PARAM.findall(header[6:]))
        return params.get("oauth_consumer_key"), params.get("oauth_token")
    return request.args.get("key"), request.args.get("token")


def text_error(status: int, message: str, headers: dict[str, str] | None = None) -> VendorError:
    """Trello answers most client errors with a short ``text/plain`` body."""
    return _TextError(status, message, headers)


class _TextError(VendorError):
    def response(self) -> Response:
        return Response(str(self.body), status=self.status, headers=self.headers, content_type="text/plain; charset=utf-8")


LIMIT_ERRORS: dict[str, dict[str, Any]] = {
    "token": {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
    "key": {"error": "API_KEY_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
    "members": {"error": "RATE_LIMIT_EXCEEDED", "message": "Exceeded rate limit to /1/member"},
}
