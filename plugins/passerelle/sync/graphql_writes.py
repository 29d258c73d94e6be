"""One GraphQL mutation, made at most once and kept in the audit, with :mod:`vendor_calls`' outcomes.

A GraphQL server answers most refusals with HTTP 200 and an ``errors`` array (monday: a column value it
cannot read, an unknown board, a missing argument), and such a mutation wrote nothing: it is
:class:`Rejected` with the server's errors. Throttling and expired tokens, which the source's error
classifier recognises, mean nothing was done either and are retried. No answer, a 5xx or an internal error
(which the classifier may call transient, but the mutation may have run) is an :class:`UnknownOutcome`:
the caller looks the object up by its key, it never sends the mutation again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from passerelle.connectors.graphql_api import GraphQLApi, error_code
from passerelle.connectors.http import retry_after_header
from passerelle.connectors.retry import NeedsReauth, Retryable
from passerelle.errors import one_line
from passerelle.sync import links
from passerelle.sync.vendor_calls import Rejected, UnknownOutcome, audited, decoded_body


@dataclass
class GraphQLWriter:
    """Queries and mutations through a connector's :class:`GraphQLApi`, audited per call in ``sync.writes``."""

    api: GraphQLApi
    conn: Any
    run_id: str
    vendor: str

    def read(self, query: str, variables: dict[str, Any], *, operation: str = "lookup",
             link_id: int | None = None) -> dict[str, Any]:
        """A query, retried like any read; audited with the variables sent."""
        data = self.api.query(query, variables, stream=f"sync {operation}")
        self._audit(operation, "query", link_id, variables, 200, "succeeded", None, None)
        return data

    def write(self, mutation: str, variables: dict[str, Any], *, operation: str, link_id: int | None = None,
              object_id: Callable[[dict[str, Any]], str | None] = lambda data: None) -> dict[str, Any]:
        """Send one mutation; return its ``data``. Raises :class:`Rejected` or :class:`UnknownOutcome`."""
        what = f"{self.vendor} mutation {operation}"

        def once(answer: dict[str, Any]) -> dict[str, Any]:
            token = self.api.tokens.token().access_token
            headers = {"Authorization": f"{self.api.auth_scheme} {token}".strip(), "Content-Type": "application/json",
                       "Accept": "application/json", **self.api.headers}
            try:
                response = self.api.http.post(self.api.url, json={"query": mutation, "variables": variables},
                                              headers=headers, timeout=self.api.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise UnknownOutcome(f"{what}: no answer ({type(exc).__name__})") from exc
            answer["status"] = response.status_code
            body = decoded_body(response)
            answer["body"] = body
            errors = body.get("errors") if isinstance(body, dict) else None
            if response.status_code >= 500 or any("internal" in error_code(e).lower() for e in errors or ()):
                raise UnknownOutcome(f"{what}: HTTP {response.status_code}, {one_line(str(errors or body))[:200]} "
                                     "(the mutation may have been made)")
            for error in errors or ():
                mapped = self.api.classify(error, response) if isinstance(error, dict) else None
                if isinstance(mapped, (Retryable, NeedsReauth)):
                    raise mapped
                if mapped is not None:
                    raise Rejected(what, response.status_code, errors)
            if response.status_code == 429:
                raise Retryable(f"{what}: throttled (HTTP 429)", retry_after=retry_after_header(response))
            if response.status_code == 401:
                raise NeedsReauth(f"{what}: HTTP 401")
            if errors or response.status_code >= 400:
                raise Rejected(what, response.status_code, errors or body)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict):
                raise UnknownOutcome(f"{what}: HTTP {response.status_code} without a data object")
            return data

        def record(status: int | None, outcome: str, response: Any, made: str | None) -> None:
            self._audit(operation, "mutation", link_id, variables, status, outcome, response, made)

        return audited(once, what=what, api=self.api, record=record, object_id=object_id)

    def _audit(self, operation: str, kind: str, link_id: int | None, variables: Any, status: int | None,
               outcome: str, response: Any, object_id: str | None) -> None:
        links.audit(self.conn, run_id=self.run_id, link_id=link_id, vendor=self.vendor, operation=operation,
                    method="POST", path=urlsplit(self.api.url).path, request={kind: variables}, status=status,
                    outcome=outcome, response=response, object_id=object_id)
