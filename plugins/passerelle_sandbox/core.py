"""What every vendor emulator shares: request pipeline, tokens, statistics and the control API.

A :class:`VendorApp` is a WSGI application. Vendor paths go through one pipeline (route → fault
injection → authentication → limits → handler → payload faults) so that faults, counters and
headers behave the same way for every vendor; subclasses only supply the vendor's routes, error
bodies and data. Paths under ``/__sandbox/`` are the control API used by tests and never reach
the vendor routes (and vice versa).

What a vendor declares rather than writes: its rate limits with :mod:`passerelle_sandbox.rate_limits`
(sliding windows, weighted or not, and fixed budgets), its paging with :mod:`passerelle_sandbox.paging`
(offset and page-number slices, signed opaque tokens) and its OAuth token endpoint with
:mod:`passerelle_sandbox.oauth` (client authentication by HTTP Basic or form, grant dispatch) and its
records with :mod:`passerelle_sandbox.store` (stamps, tombstones, changed-since index); faults come from
:mod:`passerelle_sandbox.faults` and time from :mod:`passerelle_sandbox.clock`.
"""

from __future__ import annotations

import json
import logging
import secrets
import gc
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, ClassVar

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect
from werkzeug.wrappers import Request, Response

from passerelle import exact_json
from passerelle_sandbox.clock import VirtualClock, parse_instant
from passerelle_sandbox.faults import (
    FAULT_KINDS,
    PAYLOAD_KINDS,
    PRE_AUTH_KINDS,
    RESPONSE_KINDS,
    FaultInjector,
    FaultSpec,
    FaultSpecError,
    apply_patch,
)

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/__sandbox"
POST_AUTH_KINDS = FAULT_KINDS - PRE_AUTH_KINDS
HTML_ERROR_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway - maintenance</title></head>"
                   b"<body><h1>We'll be back soon</h1></body></html>")


def json_body(body: Any) -> bytes:
    """Exact JSON: Decimals as their digits, and seeded hostile values (NaN, lone surrogates...) as sent."""
    return exact_json.dumps_verbatim(body)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None,
    content_type: str = "application/json;charset=UTF-8",
) -> Response:
    return Response(json_body(body), status=status, headers=headers, content_type=content_type)


def correlation_id() -> str:
    return str(uuid.uuid4())



def settle_heap() -> None:
    """Move what a load or bulk write left in memory out of the garbage collector's sight (``gc.freeze``).

    A store of 100,000 records is millions of objects; every full collection, triggered by the objects
    a page of answers allocates, would walk them all, and paging would cost in proportion to the store's
    size instead of the page's, which no vendor's API does. Records are dropped by reference counting as before.
    """
    gc.collect()
    gc.freeze()

class VendorError(Exception):
    """Raised by handlers to answer with a vendor-shaped error instead of a normal response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> Response:
        return json_response(self.body, self.status, self.headers)


class ControlError(Exception):
    """A control-API request is invalid (bad JSON, unknown object or record...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Call:
    """One vendor request on its way through the pipeline."""

    request: Request
    endpoint: str
    principal: Any = None
    fault: FaultSpec | None = None

    @property
    def path(self) -> str:
        return self.request.path


class RequestStats:
    """Per-path and per-status request counters, so tests can assert that retries happened."""

    def __init__(self, recent: int = 2000) -> None:
        self._lock = threading.Lock()
        self._recent = recent
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._by_path: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._by_path_status: dict[str, Counter[str]] = {}
            self._log: deque[dict[str, Any]] = deque(maxlen=self._recent)

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._by_path[path] += 1
            self._by_status[str(status)] += 1
            self._by_path_status.setdefault(path, Counter())[str(status)] += 1
            self._log.append({"method": method, "path": path, "status": status})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._by_path.values()),
                "by_path": dict(self._by_path),
                "by_status": dict(self._by_status),
                "by_path_status": {path: dict(counts) for path, counts in self._by_path_status.items()},
                "recent": list(self._log),
            }


@dataclass
class IssuedToken:
    value: str
    issued: float
    ttl: float | None
    data: dict[str, Any]
    revoked: bool = False


class TokenStore:
    """Access tokens issued by the sandbox, with real-time expiry and bulk revocation.

    Token lifetimes use the wall clock (``time.monotonic``), not the virtual clock: clients track
    token age in real time, and a test moving the data clock by a month must not log them out.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, prefix: str = "", ttl: float | None = None, nbytes: int = 48, **data: Any) -> str:
        value = prefix + secrets.token_urlsafe(nbytes)
        with self._lock:
            self._tokens[value] = IssuedToken(value, time.monotonic(), ttl, data)
        return value

    def check(self, value: str) -> tuple[str, IssuedToken | None]:
        """``("valid"|"unknown"|"revoked"|"expired", token)``."""
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            return "unknown", None
        if token.revoked:
            return "revoked", token
        if token.ttl is not None and time.monotonic() - token.issued >= token.ttl:
            return "expired", token
        return "valid", token

    def revoke_all(self) -> int:
        with self._lock:
            for token in self._tokens.values():
                token.revoked = True
            return len(self._tokens)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


def bearer_token(request: Request, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in schemes and value.strip():
        return value.strip()
    return None


class VendorApp:
    """Base WSGI app for one vendor. Subclasses define ``url_map`` and ``on_<endpoint>`` handlers."""

    vendor: ClassVar[str] = ""
    url_map: ClassVar[Map]
    public_endpoints: ClassVar[frozenset[str]] = frozenset()
    """Endpoints without authentication (token endpoints, version lists): no data faults by default."""

    def __init__(self, dataset: dict[str, Any]) -> None:
        self.dataset = dataset
        self.lock = threading.RLock()
        self.faults = FaultInjector()
        self._replayed: dict[int, bytes] = {}
        self.stats = RequestStats()
        self.tokens = TokenStore()
        self.base_url = ""
        self.credentials: dict[str, str] = {}
        self.config: dict[str, Any] = self.default_config()
        self.clock = VirtualClock(parse_instant(dataset["clock"]))
        with self.lock:
            self.load()
        settle_heap()

    # ----------------------------------------------------------------- hooks for subclasses

    def default_config(self) -> dict[str, Any]:
        return {}

    def load(self) -> None:
        """(Re)build the in-memory stores from ``self.dataset``."""
        raise NotImplementedError

    def public_credentials(self) -> dict[str, str]:
        """The credentials clients configure to reach this emulator."""
        raise NotImplementedError

    def authenticate(self, call: Call) -> Any:
        """Return the caller's principal or raise the vendor's 401."""
        raise NotImplementedError

    def enforce_limits(self, call: Call) -> None:
        """Count the call against the vendor's limits; raise the vendor's throttling error."""

    def fault_response(self, call: Call, fault: FaultSpec) -> Response:
        raise NotImplementedError

    def not_found(self, call: Call) -> Response:
        raise NotImplementedError

    def method_not_allowed(self, call: Call, allowed: list[str]) -> Response:
        raise NotImplementedError

    def internal_error(self, call: Call) -> Response:
        raise NotImplementedError

    def decorate(self, call: Call, response: Response) -> None:
        """Add the headers the vendor puts on every response."""

    def expire_tokens(self) -> None:
        self.tokens.revoke_all()

    def strip_id(self, payload: Any) -> bool:
        """Remove the id of one record from a page payload; False if there was none to remove."""
        return False

    def on_reset(self) -> None:
        """Clear vendor-specific counters and caches (rate windows, query cursors...)."""

    # control-API hooks: objects and records
    def control_objects(self) -> list[str]:
        raise NotImplementedError

    def control_list(self, obj: str, include_deleted: bool) -> list[dict[str, Any]]:
        raise NotImplementedError

    def control_get(self, obj: str, record_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def control_create(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def control_update(self, obj: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def control_delete(self, obj: str, record_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def control_bulk(self, obj: str, create: int, touch: int, fields: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # ----------------------------------------------------------------------------- WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        if request.path == CONTROL_PREFIX or request.path.startswith(CONTROL_PREFIX + "/"):
            response = self._control(request)
        else:
            response = self._serve(request)
            self.stats.record(request.method, request.path, response.status_code)
        log.debug(
            "%s %s %s -> %s (%.1f ms)", self.vendor, request.method, request.full_path.rstrip("?"),
            response.status_code, (time.perf_counter() - started) * 1000,
        )
        return response(environ, start_response)

    def now_text(self) -> str:
        return self.clock.now_text()

    def _serve(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        call = Call(request, endpoint="")
        try:
            try:
                endpoint, args = adapter.match()
            except (NotFound, RequestRedirect):
                response = self.not_found(call)
                self.decorate(call, response)
                return response
            except MethodNotAllowed as exc:
                response = self.method_not_allowed(call, sorted(exc.valid_methods or []))
                self.decorate(call, response)
                return response
            call.endpoint = endpoint
            response = self._pipeline(call, args)
        except VendorError as exc:
            response = exc.response()
        except Exception:
            log.exception("%s sandbox failed on %s %s", self.vendor, request.method, request.path)
            response = self.internal_error(call)
        self.decorate(call, response)
        return response

    def _pipeline(self, call: Call, args: dict[str, Any]) -> Response:
        path = call.path
        if call.endpoint in self.public_endpoints:
            fault = self.faults.take(path, data_endpoint=False, kinds=FAULT_KINDS)
            if fault is not None and fault.kind in PRE_AUTH_KINDS:
                self.expire_tokens()
        else:
            if self.faults.take(path, data_endpoint=True, kinds=PRE_AUTH_KINDS):
                log.debug("%s: expiring every issued token", self.vendor)
                self.expire_tokens()
            call.principal = self.authenticate(call)
            fault = self.faults.take(path, data_endpoint=True, kinds=POST_AUTH_KINDS)
        call.fault = fault
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "html_page":  # a proxy or maintenance page answering 200
            return Response(HTML_ERROR_PAGE, status=fault.status or 200, content_type="text/html; charset=utf-8")
        if fault is not None and fault.kind in RESPONSE_KINDS:
            return self.fault_response(call, fault)
        if call.endpoint not in self.public_endpoints:
            self.enforce_limits(call)
        response: Response = getattr(self, "on_" + call.endpoint)(call, **args)
        if fault is not None and fault.kind in PAYLOAD_KINDS:
            response = self._corrupt(response, fault)
        return response

    def _corrupt(self, response: Response, fault: FaultSpec) -> Response:
        if response.status_code != 200:
            return response
        body = response.get_data()
        if fault.kind == "malformed_json":
            response.set_data(body[: max(1, len(body) // 2)])
            return response
        if fault.kind == "replay":
            first = self._replayed.setdefault(id(fault), body)
            response.set_data(first)
            return response
        if fault.kind == "oversize":  # valid JSON, padded to a runaway size
            response.set_data(body + b" " * (fault.size or 0))
            return response
        try:
            payload = exact_json.loads(body)
        except ValueError:
            return response
        if fault.kind == "rewrite":
            if apply_patch(payload, fault.patch or ()):
                response.set_data(json_body(payload))
        elif self.strip_id(payload):
            response.set_data(json_body(payload))
        return response

    # ------------------------------------------------------------------------- control API

    def _control(self, request: Request) -> Response:
        parts = [part for part in request.path[len(CONTROL_PREFIX):].split("/") if part]
        try:
            body = self._control_dispatch(request, parts)
            status = 201 if request.method == "POST" and parts[:1] == ["records"] else 200
            return json_response(body, status)
        except ControlError as exc:
            return json_response({"error": exc.message}, exc.status)
        except FaultSpecError as exc:
            return json_response({"error": str(exc)}, 400)
        except Exception as exc:
            log.exception("%s sandbox control call failed: %s %s", self.vendor, request.method, request.path)
            return json_response({"error": f"{type(exc).__name__}: {exc}"}, 500)

    @staticmethod
    def _json_in(request: Request) -> dict[str, Any]:
        if not request.get_data():
            return {}
        try:
            data = json.loads(request.get_data())
        except ValueError as exc:
            raise ControlError(400, f"invalid JSON body: {exc}") from exc
        if not isinstance(data, dict):
            raise ControlError(400, "the body must be a JSON object")
        return data

    def _control_dispatch(self, request: Request, parts: list[str]) -> Any:
        method = request.method
        head = parts[0] if parts else ""
        if not parts and method == "GET":
            return self.control_info()
        if head == "clock" and len(parts) == 1:
            if method == "POST":
                self._set_clock(self._json_in(request))
            elif method != "GET":
                raise ControlError(405, "use GET or POST")
            return {"now": self.now_text(), "ticking": self.clock.ticking}
        if head == "records" and len(parts) in (2, 3):
            return self._control_records(request, parts[1], parts[2] if len(parts) == 3 else None)
        if head == "bulk" and len(parts) == 2 and method == "POST":
            data = self._json_in(request)
            create, touch = data.get("create", 0), data.get("touch", 0)
            if not isinstance(create, int) or not isinstance(touch, int) or create < 0 or touch < 0:
                raise ControlError(400, "create and touch must be non-negative integers")
            fields = data.get("fields") or {}
            if not isinstance(fields, dict):
                raise ControlError(400, "fields must be an object")
            with self.lock:
                answer = self.control_bulk(self._object(parts[1]), create, touch, fields)
            settle_heap()
            return answer
        if head == "faults" and len(parts) == 1:
            if method == "POST":
                fault = self.faults.add(FaultSpec.from_json(self._json_in(request)))
                return fault.as_json()
            if method == "DELETE":
                self.faults.clear()
                self.on_faults_cleared()
                return {"faults": []}
            if method == "GET":
                return {"faults": self.faults.describe()}
        if head == "reset" and len(parts) == 1 and method == "POST":
            self.reset()
            return {"reset": True, "now": self.now_text()}
        if head == "stats" and len(parts) == 1:
            if method == "DELETE":
                self.stats.clear()
            return self.stats.snapshot()
        if head == "config" and len(parts) == 1:
            if method == "POST":
                self._update_config(self._json_in(request))
            elif method != "GET":
                raise ControlError(405, "use GET or POST")
            return dict(self.config)
        raise ControlError(404, f"no control endpoint {method} {request.path}")

    def control_info(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor, "base_url": self.base_url, "now": self.now_text(),
            "objects": self.control_objects(), "config": dict(self.config),
        }

    def _object(self, name: str) -> str:
        for obj in self.control_objects():
            if obj.lower() == name.lower():
                return obj
        raise ControlError(404, f"unknown {self.vendor} object {name!r}; known: {self.control_objects()}")

    def _control_records(self, request: Request, obj_name: str, record_id: str | None) -> Any:
        obj = self._object(obj_name)
        method = request.method
        with self.lock:
            if record_id is None:
                if method == "GET":
                    include = request.args.get("include_deleted", "").lower() in ("1", "true", "yes")
                    records = self.control_list(obj, include)
                    return {"object": obj, "count": len(records), "records": records}
                if method == "POST":
                    return self.control_create(obj, self._fields(request))
            else:
                if method == "GET":
                    return self.control_get(obj, record_id)
                if method == "PATCH":
                    return self.control_update(obj, record_id, self._fields(request))
                if method == "DELETE":
                    return self.control_delete(obj, record_id)
        raise ControlError(405, f"{method} not supported on {request.path}")

    def _fields(self, request: Request) -> dict[str, Any]:
        data = self._json_in(request)
        fields = data.get("fields", {})
        if not isinstance(fields, dict):
            raise ControlError(400, "fields must be an object")
        return data

    def _set_clock(self, data: dict[str, Any]) -> None:
        if "now" in data:
            try:
                self.clock.set(parse_instant(str(data["now"])))
            except ValueError as exc:
                raise ControlError(400, str(exc)) from exc
        if "advance_seconds" in data:
            seconds = data["advance_seconds"]
            if not isinstance(seconds, (int, float)):
                raise ControlError(400, "advance_seconds must be a number")
            self.clock.advance(float(seconds))
        if "ticking" in data:
            self.clock.set_ticking(bool(data["ticking"]))

    def _update_config(self, changes: dict[str, Any]) -> None:
        defaults = self.default_config()
        unknown = set(changes) - set(defaults)
        if unknown:
            raise ControlError(400, f"unknown config keys {sorted(unknown)}; known: {sorted(defaults)}")
        for key, value in changes.items():
            default = defaults[key]
            if value is not None and default is not None:
                if isinstance(default, bool) != isinstance(value, bool):
                    raise ControlError(400, f"{key} must be {type(default).__name__}")
                if isinstance(default, (int, float)) and not isinstance(value, (int, float)):
                    raise ControlError(400, f"{key} must be a number")
        with self.lock:
            self.config.update(changes)

    def on_faults_cleared(self) -> None:
        """Undo lasting fault effects (e.g. a revoked static token)."""

    def reset(self) -> None:
        """Back to the dataset as loaded: records, clock, config, tokens, faults and counters."""
        with self.lock:
            self.faults.clear()
            self._replayed.clear()
            self.tokens.clear()
            self.stats.clear()
            self.config = self.default_config()
            self.clock = VirtualClock(parse_instant(self.dataset["clock"]))
            self.load()
            self.on_reset()
