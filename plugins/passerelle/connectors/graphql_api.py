"""A GraphQL-over-HTTP client with the shared retry policy, for sources that speak GraphQL.

GraphQL servers often answer errors with HTTP 200 and an ``errors`` array (throttling, expired
cursors, bad tokens...). A source gives a ``classify`` function that turns one ``errors[]`` entry into
the retry vocabulary (:class:`Retryable`, :class:`NeedsReauth`) or its own exception; the HTTP status
is then handled exactly as for REST sources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

from passerelle import exact_json
from passerelle.connectors.auth import TokenProvider
from passerelle.connectors.paging import DEFAULT_MAX_RESPONSE_MB, body_hint
from passerelle.connectors.http import ApiRequestError, PinnedCASession, raise_for_status, retry_after_header
from passerelle.connectors.retry import Retryable, RetrySettings, call_with_retries
from passerelle.errors import BadRecordError, PasserelleError

# Statuses that say something about the call (auth, throttling, conflicts), whatever ``errors`` holds.
_NOT_A_QUERY_ERROR = frozenset({401, 403, 408, 409, 423, 425, 429})

ErrorClassifier = Callable[[dict[str, Any], requests.Response], "Exception | None"]


class GraphQLError(PasserelleError):
    """The server refused the query for a reason retrying cannot fix (validation, bad argument...)."""

    def __init__(self, what: str, errors: list[Any]) -> None:
        self.errors = errors
        super().__init__(f"{what}: {json.dumps(errors, ensure_ascii=False)[:600]}")


def error_code(error: Any) -> str:
    """The machine-readable code of an ``errors[]`` entry (``extensions.code``), or ``""``."""
    if not isinstance(error, dict):
        return ""
    extensions = error.get("extensions") or {}
    return str(extensions.get("code") or error.get("error_code") or "")


def unclassified(error: dict[str, Any], response: requests.Response) -> Exception | None:
    return None


@dataclass
class GraphQLApi:
    """GraphQL-over-HTTP with the shared retry policy, including errors sent with HTTP 200.

    ``classify`` maps one ``errors[]`` entry to Retryable / NeedsReauth / another exception (raised
    as is), or None for an error that fails the query (:class:`GraphQLError`).
    """

    source: str
    url: str
    tokens: TokenProvider
    retry: RetrySettings
    verify: str | bool = True
    timeout: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    auth_scheme: str = "Bearer"
    classify: ErrorClassifier = unclassified
    options: dict[str, Any] = field(default_factory=dict)
    """Source-specific settings readers consult (page size...)."""
    max_response_mb: float = DEFAULT_MAX_RESPONSE_MB
    http: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.http = PinnedCASession(self.verify, self.timeout, self.max_response_mb)

    def query(self, query: str, variables: dict[str, Any] | None = None, *, stream: str) -> dict[str, Any]:
        """Run a query and return its ``data``, retrying what can be retried."""

        def once() -> dict[str, Any]:
            token = self.tokens.token().access_token
            headers = {"Authorization": f"{self.auth_scheme} {token}".strip(), "Content-Type": "application/json",
                       "Accept": "application/json", **self.headers}
            response = self.http.post(self.url, json={"query": query, "variables": variables or {}},
                                      headers=headers, timeout=self.timeout)
            return self._answer(response, stream)

        return call_with_retries(once, what=f"{self.source}.{stream} POST {self.url}", settings=self.retry,
                                 reauthenticate=self.tokens.refresh)

    def _answer(self, response: requests.Response, stream: str) -> dict[str, Any]:
        what = f"{self.source}.{stream}"
        status = response.status_code
        try:
            body = exact_json.loads(response.content)
        except ValueError as exc:
            if status >= 500 or status == 429:
                raise Retryable(f"HTTP {status}", retry_after=retry_after_header(response)) from exc
            if status >= 300:
                raise ApiRequestError(f"{what} POST {self.url}", response) from exc
            raise BadRecordError(self.source, stream, f"(response of POST {self.url})",
                                 f"malformed JSON: {exc}{body_hint(response)}") from exc
        errors = body.get("errors") if isinstance(body, dict) else None
        for error in errors or ():
            mapped = self.classify(error, response) if isinstance(error, dict) else None
            if mapped is not None:
                raise mapped
        if status >= 300 and (not errors or status >= 500 or status in _NOT_A_QUERY_ERROR):
            raise_for_status(response, what=what)
        if errors:
            raise GraphQLError(what, errors)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise BadRecordError(self.source, stream, f"(response of POST {self.url})", "no 'data' object")
        return data
