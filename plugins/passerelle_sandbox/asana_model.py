"""Asana response shapes for the emulator: compact vs ``opt_fields`` rendering, offset tokens, events.

- Lists return compact records (``gid``, ``resource_type`` and a few identifying fields) unless
  ``opt_fields`` names the fields wanted (dotted names select their top-level field).
- ``offset`` tokens are opaque, signed, and bound to the query that produced them: a token that was
  not handed out, or is replayed on another query, is a 400, and one older than the configured
  lifetime has expired (also a 400), as Asana documents ("an offset token will expire after some time").
- The events log is a single sequence; a sync token remembers the resource it watches and the
  sequence number it has seen, so re-asking with the same token is safe and returns the same events.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Iterable

from passerelle_sandbox.core import VendorError
from passerelle_sandbox.paging import BadToken, TokenSigner

Record = dict[str, Any]

COMPACT_FIELDS: dict[str, tuple[str, ...]] = {
    "workspace": ("name",),
    "team": ("name",),
    "user": ("name",),
    "project": ("name",),
    "section": ("name",),
    "task": ("name", "resource_subtype"),
    "time_tracking_entry": ("duration_minutes", "entered_on", "attributable_to", "created_by"),
    "custom_field": ("name", "resource_subtype", "type"),
    "custom_field_setting": ("custom_field", "is_important", "parent", "project"),
    "story": ("created_at", "created_by", "resource_subtype", "text"),
    "project_template": ("name",),
    "job": ("resource_subtype", "status", "new_project", "new_task", "new_project_template"),
}
HELP = ("For more information on API status codes and how to handle them, read the docs on errors: "
        "https://developers.asana.com/docs/errors")


def error_body(message: str, **extra: Any) -> Record:
    return {"errors": [{"message": message, "help": HELP, **extra}]}


def bad_request(message: str) -> VendorError:
    return VendorError(400, error_body(message))


def not_found(what: str, gid: str) -> VendorError:
    return VendorError(404, error_body(f"{what}: Unknown object: {gid}"))


def wanted_fields(opt_fields: str | None) -> list[str] | None:
    """Top-level fields named by ``opt_fields`` (``memberships.project.name`` selects ``memberships``)."""
    if not opt_fields:
        return None
    names = [part.strip().split(".", 1)[0] for part in opt_fields.split(",") if part.strip()]
    return list(dict.fromkeys(names))


def render(record: Record, fields: list[str] | None, full: bool = False) -> Record:
    """The record as Asana returns it: compact, full (single-object reads), or the ``opt_fields`` asked."""
    if full and fields is None:
        return {k: v for k, v in record.items() if not k.startswith("_")}
    kind = record.get("resource_type", "")
    names = fields if fields is not None else list(COMPACT_FIELDS.get(kind, ("name",)))
    out: Record = {"gid": record["gid"], "resource_type": kind}
    for name in names:
        if name in record and not name.startswith("_"):
            out[name] = record[name]
    return out


class OffsetError(ValueError):
    """The offset token is unknown, tampered with, replayed on another query, or expired."""


@dataclass
class OffsetCodec:
    """Signed keyset offsets: ``{"k": last key, "q": query hash, "t": issue time}``."""

    signer: TokenSigner

    @classmethod
    def fresh(cls) -> "OffsetCodec":
        return cls(TokenSigner(secrets.token_bytes(16)))

    def encode(self, key: Any, query: str, issued: float) -> str:
        return "eyJ" + self.signer.seal({"k": key, "q": query, "t": issued})

    def decode(self, token: str, query: str, now: float, ttl: float | None) -> Any:
        if not token.startswith("eyJ"):
            raise OffsetError("offset: Invalid offset")
        try:
            payload = self.signer.open(token[3:])
        except BadToken:
            raise OffsetError("offset: Invalid offset") from None
        if payload.get("q") != query:
            raise OffsetError("offset: Your pagination token does not match this request")
        if ttl is not None and now - float(payload.get("t", 0)) > ttl:
            raise OffsetError("offset: Your pagination token has expired")
        return payload.get("k")


def query_key(path: str, args: Iterable[tuple[str, str]]) -> str:
    """What an offset is bound to: the path and every argument except paging ones."""
    kept = sorted((k, v) for k, v in args if k not in ("offset", "limit", "opt_fields", "opt_pretty"))
    return hashlib.sha256(json.dumps([path, kept]).encode()).hexdigest()[:24]


@dataclass
class SyncToken:
    resource: str
    seen: int
    issued: float


class EventLog:
    """Every change the sandbox makes, in order; read per watched resource through sync tokens."""

    def __init__(self) -> None:
        self.events: list[Record] = []
        self.tokens: dict[str, SyncToken] = {}

    def append(self, event: Record, watchers: Iterable[str]) -> None:
        self.events.append({**event, "_watchers": sorted(set(watchers))})

    def issue(self, resource: str, now: float) -> str:
        token = secrets.token_hex(16)
        self.tokens[token] = SyncToken(resource, len(self.events), now)
        return token

    def check(self, token: str, resource: str, now: float, ttl: float) -> SyncToken | None:
        """The token if it is known, watches ``resource`` and has not outlived ``ttl`` seconds."""
        found = self.tokens.get(token)
        if found is None or found.resource != resource or now - found.issued > ttl:
            return None
        return found

    def read(self, token: SyncToken, limit: int) -> tuple[list[Record], int, bool]:
        """Up to ``limit`` events for the token's resource after what it has seen: (events, seen, more)."""
        picked: list[Record] = []
        position = token.seen
        for index in range(token.seen, len(self.events)):
            event = self.events[index]
            if token.resource not in event["_watchers"]:
                position = index + 1
                continue
            if len(picked) == limit:
                return picked, position, True
            picked.append({k: v for k, v in event.items() if not k.startswith("_")})
            position = index + 1
        return picked, position, False

    def expire_all(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count
