"""Access tokens reused across the connections of one process until shortly before they expire.

Zoho lets a refresh token yield at most 10 access tokens in 10 minutes (then refuses it for a while),
and every stream of every window opens its own connection: refreshing per connection would run into
that limit within one ``make demo``. Tokens stay in memory only (never written anywhere); a 401 drops
the cached token and asks for a new one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

from passerelle.connectors.auth import RefreshTokenGrant, Token

_CACHE: dict[tuple[str, str, str], tuple[Token, float]] = {}
_LOCK = threading.Lock()
DEFAULT_LIFETIME = 3600.0


@dataclass
class CachedAccessTokens:
    """A :class:`~passerelle.connectors.auth.TokenProvider` over a refresh-token grant, sharing tokens."""

    grant: RefreshTokenGrant
    margin: float = 300.0
    clock: object = field(default=time.monotonic, repr=False)

    def _key(self) -> tuple[str, str, str]:
        digest = hashlib.sha256(self.grant.refresh_token.encode()).hexdigest()
        return self.grant.token_url, self.grant.client_id, digest

    def token(self) -> Token:
        with _LOCK:
            cached = _CACHE.get(self._key())
            if cached is not None and self.clock() < cached[1]:  # type: ignore[operator]
                return cached[0]
            return self._refresh()

    def refresh(self) -> Token:
        with _LOCK:
            return self._refresh()

    def _refresh(self) -> Token:
        key = self._key()
        _CACHE.pop(key, None)
        token = self.grant.refresh()
        try:
            lifetime = float(token.raw.get("expires_in") or DEFAULT_LIFETIME)
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        _CACHE[self._key()] = (token, self.clock() + max(lifetime - self.margin, 0.0))  # type: ignore[operator]
        return token


def forget_all() -> None:
    """Drop every cached token (tests starting from a fresh vendor state)."""
    with _LOCK:
        _CACHE.clear()
