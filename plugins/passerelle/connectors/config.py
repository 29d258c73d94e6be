"""Connection settings for a source, read from an Airflow Connection or built directly in tests.

The connector code never knows whether it talks to the real vendor or the sandbox: both are
just a host, credentials and (for a private CA) a certificate bundle in the connection. The extras are
checked against the source's model (:mod:`passerelle.connectors.options`) when a run starts; from then
on :meth:`SourceConfig.option` returns typed values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, SecretStr

_SECRET_HINTS = ("secret", "token", "password", "key", "assertion")


def looks_secret(name: str) -> bool:
    """Whether an extra's name says it holds a secret (``client_secret``, ``refresh_token``...)."""
    return any(hint in name.lower() for hint in _SECRET_HINTS)


@dataclass(frozen=True)
class SourceConfig:
    """Host, credentials and extras of one source connection (secrets are masked in repr)."""

    host: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    options: BaseModel | None = field(default=None, repr=False, compare=False)  # the validated extras
    warehouse: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    """Opens a connection of its own to the warehouse being loaded (what a source keeps outside the window's
    transaction, e.g. rotated refresh tokens); set by the run."""
    conn_id: str = ""
    """The Airflow Connection these settings came from (what a source keys its own state by); set by the run."""

    @property
    def base_url(self) -> str:
        return self.host.rstrip("/")

    @property
    def verify(self) -> str | bool:
        """Certificate bundle to trust (the sandbox's CA, a corporate proxy's CA...) or True."""
        return self.extra.get("ca_bundle") or True

    def option(self, name: str, default: Any = None) -> Any:
        """The extra ``name``, typed once the extras are validated, or ``default`` when it is not set."""
        if self.options is None:
            return self.extra.get(name, default)
        if name not in type(self.options).model_fields:
            raise KeyError(f"{name!r} is not an option of {type(self.options).__name__}: declare it there")
        if name not in self.options.model_fields_set:
            return default
        value = getattr(self.options, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    def masked(self) -> dict[str, Any]:
        """A loggable view: every secret-looking value replaced by ``***``."""
        extra = {k: ("***" if looks_secret(k) else v) for k, v in self.extra.items()}
        return {"host": self.host, "login": self.login, "password": "***" if self.password else None, "extra": extra}

    @classmethod
    def from_airflow(cls, conn_id: str) -> "SourceConfig":
        """Read an Airflow Connection (``AIRFLOW_CONN_<ID>`` env var, secrets backend or metadata DB)."""
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
        extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
        host = conn.host or ""
        if host and "://" not in host:
            scheme = conn.schema if conn.schema in ("http", "https") else "https"
            port = f":{conn.port}" if conn.port else ""
            host = f"{scheme}://{host}{port}"
        return cls(host=host, login=conn.login, password=conn.password, extra=dict(extra), conn_id=conn_id)
