"""Dataverse ``$batch``: ``multipart/mixed`` requests, change sets run as one transaction.

Up to 1,000 requests per batch, no nested batch. Outside a change set each request stands alone and the
batch stops at the first failure unless ``Prefer: odata.continue-on-error``. A change set is all or
nothing: on a failure the rows are restored and its answer is that one failure. Inside a change set,
``$<Content-ID>`` at the start of a URL stands for the row an earlier request of the set created.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from passerelle_sandbox.core import Call, VendorError
from passerelle_sandbox.dynamics_model import odata_error
from passerelle_sandbox.store import Saved

BATCH_REQUESTS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)


@dataclass
class Part:
    """One HTTP request of a batch."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    parts: list[Part] = field(default_factory=list)


def _split(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)[1:]
    return [c.strip(b"\r\n") for c in chunks if not c.startswith(b"--")]


def _head(chunk: bytes) -> tuple[dict[str, str], bytes]:
    text = chunk.replace(b"\r\n", b"\n")
    head, _, rest = text.partition(b"\n\n")
    headers = {}
    for line in head.decode("utf-8").split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _request(chunk: bytes) -> Part:
    mime, inner = _head(chunk)
    if not mime.get("content-type", "").lower().startswith("application/http"):
        raise odata_error(400, "0x80060888", "A batch part must be application/http or a change set.")
    lines = inner.replace(b"\r\n", b"\n")
    request_line, _, rest = lines.partition(b"\n")
    fields = request_line.decode("utf-8").split()
    if len(fields) < 2:
        raise odata_error(400, "0x80060888", "A batch part holds no request line.")
    headers, body = _head(rest) if not rest.startswith(b"\n") else ({}, rest[1:])
    return Part(fields[0].upper(), fields[1], headers, body.strip(b"\n"), mime.get("content-id"))


def parse_batch(body: bytes, content_type: str) -> list[Part | ChangeSet]:
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/mixed") or match is None:
        raise odata_error(400, "0x80060888", "A $batch request must be multipart/mixed with a boundary.")
    items: list[Part | ChangeSet] = []
    for chunk in _split(body, match.group(1)):
        mime, inner = _head(chunk)
        inner_type = mime.get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            inner_match = _BOUNDARY.search(inner_type)
            if inner_match is None:
                raise odata_error(400, "0x80060888", "A change set needs a boundary.")
            items.append(ChangeSet([_request(c) for c in _split(inner, inner_match.group(1))]))
        else:
            items.append(_request(chunk))
    return items


class DataverseBatch:
    """``POST $batch``, mixed into the Dynamics emulator."""

    lock: threading.RLock
    url_map: Map
    base_url: str
    custom: dict[str, Any]
    version: int

    if TYPE_CHECKING:
        def _now(self) -> str: ...
        def save_rows(self) -> dict[str, Saved]: ...
        def restore_rows(self, saved: dict[str, Saved]) -> None: ...

    def on_batch(self, call: Call) -> Response:
        items = parse_batch(call.request.get_data(), call.request.headers.get("Content-Type", ""))
        count = sum(len(i.parts) if isinstance(i, ChangeSet) else 1 for i in items)
        if count > BATCH_REQUESTS:
            raise odata_error(400, "0x8005f221", f"The number of requests in the batch ({count}) exceeds the "
                                                 f"limit of {BATCH_REQUESTS}.")
        keep_going = any("odata.continue-on-error" in p for p in call.request.headers.getlist("Prefer"))
        boundary = f"batchresponse_{uuid.uuid4()}"
        out: list[bytes] = []
        with self.lock:
            for item in items:
                if isinstance(item, ChangeSet):
                    text, failed = self._change_set(call, item)
                else:
                    response = self._one(call, item, {})
                    text, failed = _http_part(response, None), response.status_code >= 400
                out.append(f"--{boundary}\r\n".encode() + text)
                if failed and not keep_going:
                    break
        body = b"".join(out) + f"--{boundary}--\r\n".encode()
        return Response(body, status=200, content_type=f"multipart/mixed; boundary={boundary}")

    def _change_set(self, call: Call, change_set: ChangeSet) -> tuple[bytes, bool]:
        saved, custom, version = self.save_rows(), copy.deepcopy(self.custom), self.version
        boundary, created, parts = f"changesetresponse_{uuid.uuid4()}", {}, []
        for part in change_set.parts:
            if part.method == "GET":
                raise odata_error(400, "0x80060888", "A change set cannot hold a GET request.")
            response = self._one(call, part, created)
            if response.status_code >= 400:
                self.restore_rows(saved)
                self.custom, self.version = custom, version
                return _http_part(response, part.content_id), True
            entity = response.headers.get("OData-EntityId")
            if part.content_id and entity:
                created[part.content_id] = entity
            parts.append(f"--{boundary}\r\n".encode() + _http_part(response, part.content_id))
        head = f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n".encode()
        return head + b"".join(parts) + f"--{boundary}--\r\n".encode(), False

    def _one(self, call: Call, part: Part, created: dict[str, str]) -> Response:
        """Run one request of the batch through the Web API's handlers (authenticated by the batch)."""
        url = part.url
        if url.startswith("$"):
            reference, _, rest = url[1:].partition("/")
            if reference not in created:
                return odata_error(400, "0x80060888", f"Content-ID reference '${reference}' is unknown.").response()
            url = created[reference] + ("/" + rest if rest else "")
        split = urlsplit(url)
        if split.scheme:
            path, query = split.path, split.query
        else:
            path, _, query = url.partition("?")
            path = path if path.startswith("/") else f"/api/data/v9.2/{path}"
        if path.endswith("/$batch"):
            return odata_error(400, "0x80060888", "A batch cannot hold another batch.").response()
        headers = {k: v for k, v in part.headers.items()}
        environ = EnvironBuilder(path=path, query_string=query, method=part.method, headers=headers,
                                 data=part.body, base_url=self.base_url or None).get_environ()
        inner = Call(Request(environ), endpoint="")
        inner.principal = call.principal
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            inner.endpoint = endpoint
            return getattr(self, "on_" + endpoint)(inner, **args)
        except VendorError as exc:
            return exc.response()
        except (NotFound, MethodNotAllowed):
            segment = path.rstrip("/").rsplit("/", 1)[-1]
            return odata_error(404, "0x8006088a", f"Resource not found for the segment '{segment}'.").response()


def _http_part(response: Response, content_id: str | None) -> bytes:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        head += f"Content-ID: {content_id}\r\n"
    status = f"HTTP/1.1 {response.status_code} {HTTPStatus(response.status_code).phrase}\r\n"
    headers = "".join(f"{k}: {v}\r\n" for k, v in response.headers.items() if k.lower() != "content-length")
    body = response.get_data()
    return (head + "\r\n" + status + headers + "\r\n").encode() + body + b"\r\n"
