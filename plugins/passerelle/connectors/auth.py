"""Access-token providers: static tokens, OAuth2 refresh-token grant, and the JWT bearer grant."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jwt
import requests
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from passerelle.errors import AuthError

if TYPE_CHECKING:
    from passerelle.connectors.config import SourceConfig


@dataclass
class Token:
    access_token: str
    instance_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class TokenProvider(Protocol):
    def token(self) -> Token: ...

    def refresh(self) -> Token: ...


@dataclass
class StaticToken:
    """A long-lived token (HubSpot private app): it cannot be refreshed, only replaced by a person."""

    access_token: str

    def token(self) -> Token:
        return Token(self.access_token)

    def refresh(self) -> Token:
        raise AuthError("the static access token was refused and cannot be refreshed; rotate it in the connection")


def refresh_or_static(config: "SourceConfig", token_path: str) -> "TokenProvider":
    """An OAuth app (extra ``client_id``/``client_secret``/``refresh_token``, refreshed at
    ``{host}{token_path}``) when the connection has a refresh token, else the static token in its password."""
    if config.option("refresh_token"):
        return RefreshTokenGrant(
            token_url=f"{config.base_url}{token_path}",
            client_id=config.option("client_id", config.login or ""),
            client_secret=config.option("client_secret", ""),
            refresh_token=config.option("refresh_token"),
            verify=config.verify,
        )
    return StaticToken(config.password or "")


@dataclass
class RefreshTokenGrant:
    """OAuth2 ``refresh_token`` grant (RFC 6749 §6) through requests-oauthlib."""

    token_url: str
    client_id: str
    client_secret: str
    refresh_token: str
    verify: str | bool = True
    timeout: float = 30.0
    _current: Token | None = field(default=None, repr=False)

    def token(self) -> Token:
        return self._current or self.refresh()

    def refresh(self) -> Token:
        session = OAuth2Session(self.client_id, token={"refresh_token": self.refresh_token, "token_type": "Bearer"})
        try:
            data = session.refresh_token(
                self.token_url,
                refresh_token=self.refresh_token,
                client_id=self.client_id,
                client_secret=self.client_secret,
                include_client_id=True,
                verify=self.verify,
                timeout=self.timeout,
            )
        except (OAuth2Error, requests.HTTPError) as exc:
            raise AuthError(f"token refresh at {self.token_url} refused: {exc}") from exc
        if data.get("refresh_token"):
            self.refresh_token = data["refresh_token"]
        self._current = Token(data["access_token"], data.get("instance_url"), dict(data))
        return self._current


@dataclass
class JwtBearerGrant:
    """OAuth2 JWT bearer grant (RFC 7523), as Salesforce server-to-server integrations use."""

    token_url: str
    client_id: str
    username: str
    audience: str
    private_key: str = field(repr=False)
    verify: str | bool = True
    timeout: float = 30.0
    _current: Token | None = field(default=None, repr=False)

    @classmethod
    def from_key_file(cls, path: str, **kwargs: Any) -> "JwtBearerGrant":
        return cls(private_key=Path(path).read_text(), **kwargs)

    def token(self) -> Token:
        return self._current or self.refresh()

    def refresh(self) -> Token:
        claims = {"iss": self.client_id, "sub": self.username, "aud": self.audience, "exp": int(time.time()) + 180}
        assertion = jwt.encode(claims, self.private_key, algorithm="RS256")
        response = requests.post(
            self.token_url,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            verify=self.verify,
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise AuthError(f"JWT bearer grant at {self.token_url} refused: {response.status_code} {response.text[:300]}")
        data = response.json()
        self._current = Token(data["access_token"], data.get("instance_url"), data)
        return self._current
