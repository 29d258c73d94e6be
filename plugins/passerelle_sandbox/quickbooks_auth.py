"""Intuit's rotating refresh tokens, on the sandbox clock.

Every refresh answers a new refresh token. The one it replaces keeps working for a grace period
(24 hours) after its successor was issued, then the token endpoint answers ``invalid_grant``; a
token nobody uses expires after ``x_refresh_token_expires_in`` seconds. The chain outlives a
sandbox reset (it is the authorisation server's, not the company's), and the first token, the one
the sandbox publishes, is good again after a reset.
"""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

ALPHABET = string.ascii_letters + string.digits


@dataclass
class RefreshToken:
    issued: datetime
    superseded: datetime | None = None


class RefreshTokens:
    def __init__(self, initial: str, issued: datetime) -> None:
        self._lock = threading.Lock()
        self.initial = initial
        self._tokens: dict[str, RefreshToken] = {}
        self.renew_initial(issued)

    def renew_initial(self, issued: datetime) -> None:
        with self._lock:
            self._tokens[self.initial] = RefreshToken(issued)

    def redeem(self, value: str, now: datetime, grace: timedelta, lifetime: timedelta) -> str | None:
        """A new refresh token for ``value``, or None when ``value`` is unknown, expired or past its grace."""
        with self._lock:
            token = self._tokens.get(value)
            if token is None or now >= token.issued + lifetime:
                return None
            if token.superseded is not None and now >= token.superseded + grace:
                return None
            if token.superseded is None:
                token.superseded = now
            successor = "AB11" + "".join(secrets.choice(ALPHABET) for _ in range(46))
            self._tokens[successor] = RefreshToken(now)
            return successor
