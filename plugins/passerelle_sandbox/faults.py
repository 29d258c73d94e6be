"""Injected failures: throttling, server errors, slowness, token expiry and broken payloads.

A fault matches requests by path; it lets ``after`` matching requests through, then affects the
next ``times`` ones (``times: null`` means every later one) and is spent. Counting is exact, so a
test can say "the third page fails twice" and assert the connector retried exactly that.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from passerelle import exact_json

FAULT_KINDS = frozenset({"rate_limit", "error", "slow", "expire_tokens", "malformed_json", "missing_id",
                         "html_page", "oversize", "rewrite", "replay"})
PRE_AUTH_KINDS = frozenset({"expire_tokens"})
"""Kinds applied before the credentials are checked (expiring tokens is what makes the check fail)."""
RESPONSE_KINDS = frozenset({"rate_limit", "error", "html_page"})
"""Kinds that replace the response."""
PAYLOAD_KINDS = frozenset({"malformed_json", "missing_id", "oversize", "rewrite", "replay"})
"""Kinds that alter an otherwise normal response: ``oversize`` pads the JSON body with ``size`` bytes of
whitespace; ``rewrite`` applies ``patch``, a list of ``{"path": "records/1/Id", "value": ...}``,
``{"path": ..., "copy": "records/0/Id"}`` or ``{"path": ..., "raw": "1e309"}`` operations (``/``-separated
keys, digits index lists, ``id=42`` the element of a list whose ``id`` is ``"42"``). ``raw`` is JSON text
written on the wire as it is, including what a vendor may send but ``jsonb`` cannot hold (``NaN``,
``1e309``, ``"\\u0000"``, ``"\\ud800"``, 10,000 nested arrays). A path missing from a body leaves the body
as it was, except in an operation whose path has a selector: that names a record which may be on another
page, so only that operation is skipped. ``replay`` answers every request it fires on after the first with
the body served to that first one (a listing that goes back to a page already read)."""


class FaultSpecError(ValueError):
    """The fault description sent to the control API is invalid."""


@dataclass(frozen=True)
class FaultSpec:
    """What to inject; see the module docstring for ``after``/``times``.

    ``path`` is a substring of the request path; without it the fault applies to every vendor
    data endpoint but never to token endpoints. ``error_code``/``message`` override the vendor's
    default error body for ``error`` (e.g. Salesforce ``QUERY_TIMEOUT`` with status 400).
    """

    kind: str
    times: int | None = 1
    after: int = 0
    status: int | None = None
    delay: float = 2.0
    path: str | None = None
    retry_after: int | None = None
    error_code: str | None = None
    message: str | None = None
    size: int | None = None
    patch: tuple[dict[str, Any], ...] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultSpec:
        if not isinstance(data, dict):
            raise FaultSpecError("fault spec must be a JSON object")
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise FaultSpecError(f"unknown fault fields: {sorted(unknown)}")
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"kind must be one of {sorted(FAULT_KINDS)}, got {kind!r}")
        times = data.get("times", 1)
        if times is not None and (not isinstance(times, int) or times < 0):
            raise FaultSpecError("times must be a non-negative integer or null")
        after = data.get("after", 0)
        if not isinstance(after, int) or after < 0:
            raise FaultSpecError("after must be a non-negative integer")
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise FaultSpecError("status must be an HTTP status code")
        delay = data.get("delay", 2.0)
        if not isinstance(delay, (int, float)) or delay < 0:
            raise FaultSpecError("delay must be a non-negative number of seconds")
        retry_after = data.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise FaultSpecError("retry_after must be a non-negative integer")
        path = data.get("path")
        if path is not None and not isinstance(path, str):
            raise FaultSpecError("path must be a string")
        size = data.get("size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise FaultSpecError("size must be a non-negative number of bytes")
        patch = data.get("patch")
        if patch is not None and not (isinstance(patch, list) and all(_valid_op(op) for op in patch)):
            raise FaultSpecError('patch must be a list of {"path": ..., "value": ...}, {"path": ..., "copy": ...}'
                                 ' or {"path": ..., "raw": "<JSON text>"}')
        return cls(
            kind=kind, times=times, after=after, status=status, delay=float(delay), path=path or None,
            retry_after=retry_after, error_code=data.get("error_code"), message=data.get("message"),
            size=size, patch=tuple(patch) if patch is not None else None,
        )


OPERATIONS = ("value", "copy", "raw")


def _valid_op(op: Any) -> bool:
    if not isinstance(op, dict) or not isinstance(op.get("path"), str) or sum(k in op for k in OPERATIONS) != 1:
        return False
    if "raw" not in op:
        return True
    if not isinstance(op["raw"], str):
        return False
    try:
        exact_json.loads(op["raw"])
    except ValueError:
        return False
    return True


@dataclass
class ActiveFault:
    id: int
    spec: FaultSpec
    seen: int = 0
    fired: int = 0
    paths: list[str] = field(default_factory=list)

    def matches(self, path: str, data_endpoint: bool) -> bool:
        if self.spec.path is None:
            return data_endpoint
        return self.spec.path in path

    @property
    def spent(self) -> bool:
        return self.spec.times is not None and self.fired >= self.spec.times

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self.spec), "seen": self.seen, "fired": self.fired, "fired_on": self.paths}


class FaultInjector:
    """Thread-safe list of active faults, consulted once per vendor request and phase."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[ActiveFault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> ActiveFault:
        with self._lock:
            fault = ActiveFault(next(self._ids), spec)
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]

    def take(self, path: str, *, data_endpoint: bool, kinds: frozenset[str]) -> FaultSpec | None:
        """The fault to apply to this request, if any, counting it against every matching fault.

        At most one fault fires per request and phase (the oldest eligible one); a fault still in
        its ``after`` phase counts the request as let through.
        """
        with self._lock:
            chosen: FaultSpec | None = None
            for fault in self._faults:
                if fault.spec.kind not in kinds or fault.spent or not fault.matches(path, data_endpoint):
                    continue
                if fault.seen < fault.spec.after:
                    fault.seen += 1
                elif chosen is None:
                    fault.fired += 1
                    fault.paths.append(path)
                    chosen = fault.spec
            return chosen


def _step(node: Any, key: str) -> Any:
    if isinstance(node, list):
        field_name, selector, wanted = key.partition("=")
        if selector:
            return next(e for e in node if isinstance(e, dict) and str(e.get(field_name)) == wanted)
        return node[int(key)]
    return node[key]


def _apply(payload: Any, op: dict[str, Any]) -> None:
    """One ``rewrite`` operation; KeyError, IndexError, ValueError, TypeError or StopIteration when its
    path is not in ``payload``."""
    *parents, last = op["path"].split("/")
    node = payload
    for key in parents:
        node = _step(node, key)
    if "copy" in op:
        value = payload
        for key in op["copy"].split("/"):
            value = _step(value, key)
    elif "raw" in op:
        value = exact_json.loads(op["raw"])
    else:
        value = op["value"]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def apply_patch(payload: Any, patch: tuple[dict[str, Any], ...]) -> bool:
    """Apply ``rewrite`` operations to a decoded body; False if it was left as it was (a path without a
    selector does not exist in it, or no operation applied)."""
    applied = False
    for op in patch:
        try:
            _apply(payload, op)
            applied = True
        except (KeyError, IndexError, ValueError, TypeError, StopIteration):
            if "=" not in op["path"]:
                return False
    return applied
