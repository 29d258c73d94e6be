"""Rotating OAuth refresh tokens, kept in the warehouse (``audit.oauth_refresh_tokens``).

QuickBooks Online answers every refresh with a new refresh token and retires the previous one 24 hours
later: a token kept only in the Airflow Connection would fail a day after its first use. The Connection's
``refresh_token`` extra therefore only seeds a chain whose latest link lives in the warehouse, Fernet-encrypted
with ``PASSERELLE_TOKEN_KEY`` (else Airflow's ``[core] fernet_key``).

A refresh holds a per-Connection advisory lock, so parallel stream tasks rotate one after the other, each
from the latest link; the answer is stored and COMMITTED in the store's own connection before its access
token is used. A run that dies between the two leaves the previous link stored, which the vendor still
honours for 24 hours: the next run refreshes from it and the chain goes on. The token that obtained the
latest one is kept beside it until the latest has been used once, and tried when the latest is refused;
the seed is tried last (an app re-authorised by hand). No token ever reaches a log line or an error.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg2
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from passerelle import exact_json
from passerelle.connectors.auth import Token, refused, transient_token_answer
from passerelle.connectors.http import PinnedCASession
from passerelle.errors import AuthError, SourceUnavailableError, one_line

log = logging.getLogger(__name__)

TABLE = "audit.oauth_refresh_tokens"
KEY_VARIABLE = "PASSERELLE_TOKEN_KEY"  # declared with the other settings in passerelle.settings
KEY_CHECK = "PASSERELLE_TOKEN_KEY (or Airflow's [core] fernet_key): the key the stored tokens were written with"


def second_connection(conn: Any) -> Any:
    """A new connection with the parameters (and password) of ``conn``: the store commits on its own."""
    return psycopg2.connect(**conn.info.dsn_parameters, password=conn.info.password or None)


def token_cipher() -> MultiFernet:
    """The Fernet keys of ``PASSERELLE_TOKEN_KEY``, else of Airflow's ``[core] fernet_key`` (comma-separated,
    newest first: older keys still decrypt)."""
    keys = os.environ.get(KEY_VARIABLE, "").strip()
    if not keys:
        from airflow.configuration import conf

        keys = conf.get("core", "fernet_key", fallback="") or ""
    try:
        ciphers = [Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()]
    except ValueError:
        raise AuthError("the key encrypting refresh tokens is not a Fernet key (32 url-safe base64-encoded bytes)",
                        check=KEY_CHECK) from None
    if not ciphers:
        raise AuthError("no key to encrypt refresh tokens", check="set PASSERELLE_TOKEN_KEY (`python -c \"from "
                        "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`) or Airflow's "
                        "[core] fernet_key")
    return MultiFernet(ciphers)


@dataclass(frozen=True)
class StoredTokens:
    latest: str | None
    previous: str | None


@dataclass
class TokenStore:
    """The refresh-token chain of one Airflow Connection; ``connect`` opens a warehouse connection
    (:attr:`~passerelle.connectors.config.SourceConfig.warehouse`)."""

    conn_id: str
    connect: Callable[[], Any] | None

    @contextmanager
    def rotation(self) -> Iterator[tuple[StoredTokens, Callable[[str, str], None]]]:
        """The stored tokens under the Connection's lock, and ``save(new, used)`` which commits the new link."""
        cipher = token_cipher()
        if self.connect is None:
            raise AuthError(f"no warehouse to keep the rotating refresh tokens of {self.conn_id} in",
                            check="that the extract runs through passerelle.connectors.run")
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(f"{TABLE}:{self.conn_id}".encode()),))
                cur.execute(f"SELECT refresh_token, previous_token FROM {TABLE} WHERE conn_id = %s", (self.conn_id,))
                row = cur.fetchone()
            try:
                stored = StoredTokens(*(cipher.decrypt(v.encode()).decode() if v else None for v in (row or (None, None))))
            except InvalidToken:
                raise AuthError(f"the refresh token stored for {self.conn_id} cannot be decrypted",
                                check=KEY_CHECK) from None

            def save(new: str, used: str) -> None:
                try:
                    with conn.cursor() as cur:
                        cur.execute(
                            f"INSERT INTO {TABLE} (conn_id, refresh_token, previous_token, rotated_at) "
                            "VALUES (%s, %s, %s, now()) ON CONFLICT (conn_id) DO UPDATE SET refresh_token = "
                            "EXCLUDED.refresh_token, previous_token = EXCLUDED.previous_token, rotated_at = now()",
                            (self.conn_id, cipher.encrypt(new.encode()).decode(), cipher.encrypt(used.encode()).decode()))
                    conn.commit()
                except psycopg2.Error as exc:
                    raise SourceUnavailableError(
                        f"the new refresh token could not be stored in {TABLE} ({type(exc).__name__}: "
                        f"{one_line(exc.pgerror or str(exc))[:200]}); the next run refreshes from the stored one, "
                        "which the vendor honours for 24 hours", check="the warehouse") from None

            yield stored, save
        finally:
            conn.rollback()
            conn.close()

    def load(self) -> StoredTokens:
        with self.rotation() as (stored, _):
            return stored


class InvalidGrant(AuthError):
    """The token endpoint refused this refresh token (revoked, expired or retired by rotation)."""


@dataclass
class StoredRefreshTokenGrant:
    """OAuth2 refresh-token grant (HTTP Basic client authentication) for vendors that rotate refresh tokens:
    tries the stored latest link, the one before it, then the Connection's seed (see the module doc)."""

    store: TokenStore
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    seed: str | None = field(default=None, repr=False)
    verify: str | bool = True
    timeout: float = 30.0
    _current: Token | None = field(default=None, init=False, repr=False)

    def token(self) -> Token:
        return self._current or self.refresh()

    def refresh(self) -> Token:
        with self.store.rotation() as (stored, save):
            candidates = {"the stored refresh token": stored.latest, "the one before it": stored.previous,
                          "the Connection's refresh_token": self.seed}
            tries = [(name, token) for name, token in candidates.items() if token]
            tries = [(name, token) for i, (name, token) in enumerate(tries) if token not in {t for _, t in tries[:i]}]
            if not tries:
                raise AuthError(f"no refresh token for {self.store.conn_id}",
                                check="the Connection's refresh_token extra (the first token of the app's chain)")
            for number, (name, token) in enumerate(tries):
                try:
                    data = self._exchange(token)
                except InvalidGrant:
                    if number == len(tries) - 1:
                        raise
                    log.warning("%s: %s was refused (invalid_grant); trying %s", self.store.conn_id, name,
                                tries[number + 1][0])
                    continue
                save(str(data["refresh_token"]), token)
                log.info("%s: refresh token rotated from %s; the new one is stored in %s", self.store.conn_id, name, TABLE)
                break
        self._current = Token(str(data["access_token"]), raw={k: v for k, v in data.items() if "refresh" not in k})
        return self._current

    def _exchange(self, refresh_token: str) -> dict[str, Any]:
        with PinnedCASession(self.verify, self.timeout) as http:
            response = http.post(self.token_url, auth=(self.client_id, self.client_secret), timeout=self.timeout,
                                 data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                                 headers={"Accept": "application/json"})
        transient_token_answer(response)
        try:
            body = exact_json.loads(response.content)
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            if error == "invalid_grant":
                description = one_line(str(body.get("error_description") or ""))[:300]
                raise InvalidGrant(f"authentication refused: invalid_grant{': ' + description if description else ''}",
                                   check="the refresh token: reconnect the app and put the new token in the "
                                         "Connection's refresh_token extra")
            if error:
                raise refused(str(error), str(body.get("error_description") or ""))
            raise AuthError(f"token refresh at {self.token_url} failed: HTTP {response.status_code} "
                            f"{one_line(response.text)[:200]}", check="the Connection's token_url extra")
        if not body.get("access_token") or not body.get("refresh_token"):
            raise AuthError(f"the token answer of {self.token_url} lacks an access or refresh token",
                            check="the Connection's token_url extra")
        return body
