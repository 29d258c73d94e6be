"""Python client for a sandbox's control API (``/__sandbox/``), used by tests, scenarios and the CLI.

It talks HTTPS with the sandbox CA like any other client; nothing here is needed by connectors.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from passerelle_sandbox.clock import canonical, parse_instant


class SandboxControlError(RuntimeError):
    """The control API refused a call (unknown object or record, invalid fault spec...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"sandbox control API answered {status}: {message}")
        self.status, self.message = status, message


class SandboxClient:
    """Control one vendor emulator: clock, records, mass updates, faults, counters and knobs."""

    def __init__(self, base_url: str, ca_path: str | Path, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.ca_path = Path(ca_path)
        self.timeout = timeout
        self.session = requests.Session()

    def __repr__(self) -> str:
        return f"SandboxClient({self.base_url!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/__sandbox/{path}", json=body, params=params or None, timeout=self.timeout,
            verify=str(self.ca_path),  # per request: REQUESTS_CA_BUNDLE would override Session.verify
        )
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": response.text}
        if response.status_code >= 400:
            raise SandboxControlError(response.status_code, str(payload.get("error", payload)))
        return payload

    # clock
    def now(self) -> datetime:
        return parse_instant(self._call("GET", "clock")["now"])

    def set_clock(self, moment: datetime | str) -> datetime:
        text = moment if isinstance(moment, str) else canonical(moment)
        return parse_instant(self._call("POST", "clock", {"now": text})["now"])

    def advance(self, seconds: float) -> datetime:
        return parse_instant(self._call("POST", "clock", {"advance_seconds": seconds})["now"])

    def set_ticking(self, ticking: bool) -> datetime:
        return parse_instant(self._call("POST", "clock", {"ticking": ticking})["now"])

    # records
    def records(self, obj: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        params = {"include_deleted": "1"} if include_deleted else {}
        return list(self._call("GET", f"records/{obj}", **params)["records"])

    def record(self, obj: str, record_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"records/{obj}/{record_id}")["record"])

    def create(self, obj: str, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """Create a record stamped with the sandbox's now; returns ``{"id", "record"}``.

        ``extra`` passes vendor options, e.g. HubSpot ``associations=[{"to_type", "to_id"}]``.
        """
        return dict(self._call("POST", f"records/{obj}", {"fields": fields or {}, **extra}))

    def update(self, obj: str, record_id: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Update and stamp as modified now (Salesforce ``system_only=True`` moves only SystemModstamp)."""
        return dict(self._call("PATCH", f"records/{obj}/{record_id}", {"fields": fields, **extra}))

    def delete(self, obj: str, record_id: str) -> dict[str, Any]:
        """Delete as the vendor does: Salesforce soft delete, HubSpot archive."""
        return dict(self._call("DELETE", f"records/{obj}/{record_id}"))

    def bulk(self, obj: str, create: int = 0, touch: int = 0, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create ``create`` and touch ``touch`` records, all with one identical modification stamp."""
        return dict(self._call("POST", f"bulk/{obj}", {"create": create, "touch": touch, "fields": fields or {}}))

    # faults
    def add_fault(self, kind: str, **spec: Any) -> dict[str, Any]:
        """Inject a fault: ``kind`` plus ``times``, ``after``, ``status``, ``delay``, ``path``, ``retry_after``..."""
        return dict(self._call("POST", "faults", {"kind": kind, **spec}))

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # state
    def reset(self) -> None:
        self._call("POST", "reset")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "stats"))

    def clear_stats(self) -> None:
        self._call("DELETE", "stats")

    def config(self, **knobs: Any) -> dict[str, Any]:
        """Read the knobs, or change some (``config(search_lag_seconds=30)``) and get them all back."""
        if knobs:
            return dict(self._call("POST", "config", knobs))
        return dict(self._call("GET", "config"))

    def info(self) -> dict[str, Any]:
        return dict(self._call("GET", ""))

    def command(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A vendor's own control command, e.g. Dynamics' ``delta_tokens/expire``."""
        return dict(self._call("POST", path, body))
