"""The paging every emulator shares: slicing a list into pages, and opaque paging tokens.

Vendors page by offset and limit, by page number, or with an opaque token (cursor, skip token,
page token) that a client must send back unchanged. The JSON keys around a page and the error a bad
token earns stay with each vendor: :func:`unpack` and :meth:`TokenSigner.open` raise
:class:`BadToken`, which the vendor turns into its own 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, where it starts and how long the whole list is."""

    items: list[T]
    offset: int
    total: int

    @property
    def end(self) -> int:
        """The offset of the next page."""
        return self.offset + len(self.items)

    @property
    def has_more(self) -> bool:
        return self.end < self.total


def offset_page(rows: Sequence[T], offset: int, limit: int) -> Page[T]:
    """``limit`` rows from ``offset`` (0-based)."""
    return Page(list(rows[offset:offset + limit]), offset, len(rows))


def numbered_page(rows: Sequence[T], page: int, size: int) -> Page[T]:
    """Page ``page`` (1-based; below 1 reads as 1) of ``size`` rows."""
    size = max(size, 0)
    return offset_page(rows, (max(page, 1) - 1) * size, size)


class BadToken(ValueError):
    """A paging token that was not issued here, was altered, or does not decode."""


def pack(data: Any) -> str:
    """Compact JSON in URL-safe base64 without padding: an opaque token a client sends back as is."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unpack(token: str) -> Any:
    """What :func:`pack` packed; :class:`BadToken` for anything else."""
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise BadToken(str(exc)) from None


class TokenSigner:
    """HMAC-signed tokens: one issued here comes back unaltered, or is refused."""

    def __init__(self, secret: bytes | None = None, length: int = 16) -> None:
        self.secret = secret if secret is not None else secrets.token_bytes(32)
        self.length = length

    def sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:self.length]

    def valid(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(signature.encode("utf-8", "replace"), self.sign(text).encode())

    def seal(self, data: Any) -> str:
        """``<packed data>.<signature>``."""
        body = pack(data)
        return f"{body}.{self.sign(body)}"

    def open(self, token: str) -> Any:
        """The data a :meth:`seal` token carries; :class:`BadToken` when it was not sealed here."""
        body, _, signature = token.rpartition(".")
        if not self.valid(body, signature):
            raise BadToken("signature mismatch")
        return unpack(body)
