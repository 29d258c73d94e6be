"""One write to a vendor, made at most once and kept in the audit (``sync.writes``).

A read can be retried blindly; a create cannot: a timeout or a 5xx after the vendor committed would make a
second object. So a write is retried only when the vendor says it did nothing (429 throttling, 401 before a
token refresh); any other failure to get an answer is an :class:`UnknownOutcome`, which the caller resolves by
looking the object up by its key, never by sending the write again. A refusal (4xx) is :class:`Rejected`,
with the vendor's own message, and is the caller's to record and move past.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import requests

from passerelle import exact_json
from passerelle.connectors.http import JsonApi, retry_after_header
from passerelle.connectors.retry import NeedsReauth, Retryable, call_with_retries
from passerelle.errors import PasserelleError, one_line
from passerelle.sync import links


class Rejected(PasserelleError):
    """The vendor refused the write (its status and message are kept)."""

    def __init__(self, what: str, status: int, body: Any) -> None:
        super().__init__(f"{what}: refused with HTTP {status}: {one_line(str(body))[:300]}")
        self.status = status
        self.body = body


class UnknownOutcome(PasserelleError):
    """No answer says whether the write happened: look the object up before doing anything else."""


@dataclass
class VendorWriter:
    """Writes through a connector's API object (its base URL, TLS and credentials), audited per call."""

    api: JsonApi
    conn: Any
    run_id: str
    vendor: str

    def read(self, path: str, *, operation: str = "lookup", link_id: int | None = None, **params: Any) -> Any:
        """A GET, retried like any read; audited with the size of what came back."""
        body = self.api.request("GET", path, stream=f"sync {operation}", params=params or None)
        links.audit(self.conn, run_id=self.run_id, link_id=link_id, vendor=self.vendor, operation=operation,
                    method="GET", path=path, request=params or None, status=200, outcome="succeeded",
                    response={"items": len(body)} if isinstance(body, list) else None, object_id=None)
        return body

    def write(self, method: str, path: str, *, operation: str, link_id: int | None = None,
              params: dict[str, Any] | None = None, json: Any = None,
              object_id: Callable[[Any], str | None] = lambda body: body.get("id") if isinstance(body, dict) else None,
              headers: dict[str, str] | None = None, data: str | None = None) -> Any:
        """Send one write; return the vendor's decoded answer. Raises :class:`Rejected` or :class:`UnknownOutcome`.

        ``json`` is sent exactly (Decimals digit for digit); ``data`` is a body already encoded (its
        ``Content-Type`` in ``headers``), kept whole in the audit."""
        what = f"{self.vendor} {method} {path}"
        sent = {"params": params, "json": json} if params and json is not None else (json if json is not None else params)
        if data is not None:
            sent = {"params": params, "body": data} if params else data
        body_text = exact_json.dumps(json) if json is not None else data

        def once(answer: dict[str, Any]) -> Any:
            sent_headers = {"Authorization": self.api.authorization(), "Accept": "application/json",
                            **({"Content-Type": "application/json"} if json is not None else {}), **(headers or {})}
            try:
                response = self.api.http.request(method, f"{self.api.base_url}{path}", headers=sent_headers,
                                                 params=params, data=None if body_text is None else body_text.encode(),
                                                 timeout=self.api.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise UnknownOutcome(f"{what}: no answer ({type(exc).__name__})") from exc
            answer["status"] = response.status_code
            if response.status_code == 429:
                raise Retryable(f"{what}: throttled (HTTP 429)", retry_after=retry_after_header(response))
            if response.status_code == 401:
                raise NeedsReauth(f"{what}: HTTP 401")
            body = decoded_body(response)
            answer["body"] = body
            if response.status_code >= 500:
                raise UnknownOutcome(f"{what}: HTTP {response.status_code} (the write may have been made)")
            if response.status_code >= 400:
                raise Rejected(what, response.status_code, body)
            return body

        def record(status: int | None, outcome: str, response: Any, made: str | None) -> None:
            links.audit(self.conn, run_id=self.run_id, link_id=link_id, vendor=self.vendor, operation=operation,
                        method=method, path=path, request=sent, status=status, outcome=outcome, response=response,
                        object_id=made)

        return audited(once, what=what, api=self.api, record=record, object_id=object_id)


Record = Callable[[int | None, str, Any, str | None], None]
"""Keeps one call in the audit: its status, outcome (succeeded, rejected, unknown), answer and object id."""


def audited(once: Callable[[dict[str, Any]], Any], *, what: str, api: Any, record: Record,
            object_id: Callable[[Any], str | None]) -> Any:
    """Run one write (``once`` notes the status and body it got in the dict it is given) under the write rules:
    retried only when the vendor did nothing (429, 401 then a token refresh), a refusal kept as
    :class:`Rejected`, anything else that fails as :class:`UnknownOutcome`; every outcome is recorded."""
    answer: dict[str, Any] = {}
    try:
        result = call_with_retries(lambda: once(answer), what=what, settings=api.retry,
                                   reauthenticate=api.tokens.refresh)
    except Rejected as exc:
        record(exc.status, "rejected", exc.body, None)
        raise
    except (UnknownOutcome, PasserelleError) as exc:
        record(answer.get("status"), "unknown", answer.get("body", str(exc)), None)
        raise UnknownOutcome(str(exc)) from exc
    record(answer["status"], "succeeded", result, object_id(result))
    return result


def decoded_body(response: requests.Response) -> Any:
    """A write's answer: JSON parsed exactly, a batch (multipart) answer as text, else the text's start."""
    if not response.content:
        return None
    if response.headers.get("Content-Type", "").lower().startswith("multipart/"):
        return response.text  # a batch answer: its parts are read by the caller
    try:
        return exact_json.loads(response.content)
    except ValueError:
        return response.text[:2000]
