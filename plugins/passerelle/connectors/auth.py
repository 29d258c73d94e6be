"""Access-token providers: static tokens, OAuth2 refresh-token grant, the JWT bearer grant, and Entra ID
client credentials (through msal)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import jwt
import msal
import requests
from oauthlib.oauth2 import OAuth2Error
from requests_oauthlib import OAuth2Session

from passerelle.connectors.retry import Retryable
from passerelle.errors import AuthError, one_line

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
    """A long-lived token (HubSpot private app): it cannot be refreshed, only replaced by a person.

    ``name`` says what the token is for the person who must replace it (``private app token``...).
    """

    access_token: str = field(repr=False)
    name: str = "access token"

    def token(self) -> Token:
        return Token(self.access_token)

    def refresh(self) -> Token:
        raise AuthError(
            f"authentication refused: the {self.name} was rejected (HTTP 401) and cannot be refreshed",
            check=f"the connection's password (the {self.name}): revoked, expired or mistyped? Replace it",
        )


def refused(error: str, description: str = "") -> AuthError:
    """An OAuth error answer (RFC 6749 §5.2) as an :class:`AuthError` saying which setting to check."""
    checks = {
        "invalid_client": "the client id/secret",
        "invalid_client_id": "the client id",
        "unauthorized_client": "the client id and that the app may use this grant",
        "invalid_grant": "the refresh token (revoked or expired?) or, for the JWT bearer flow, the username, "
                         "audience and that the app holds the certificate of private_key_path",
        "invalid_scope": "the scopes granted to the app",
        # HubSpot answers {"status": "BAD_...", "message": ...} rather than RFC 6749 errors.
        "BAD_CLIENT_ID": "the client id",
        "BAD_CLIENT_SECRET": "the client secret",
        "BAD_REFRESH_TOKEN": "the refresh token (revoked or expired?)",
    }
    detail = f"{error}: {description}" if description else error
    return AuthError(f"authentication refused: {one_line(detail)[:300]}",
                     check=checks.get(error, "the connection's OAuth credentials"))


def transient_token_answer(response: requests.Response) -> requests.Response:
    """Throttling or a server error at the token endpoint is worth a retry, not a refused login;
    a refusal in a vendor's own format (``status``/``message``) is read as one."""
    if response.status_code == 429 or response.status_code >= 500:
        raise Retryable(f"token endpoint answered HTTP {response.status_code}",
                        retry_after=_retry_after(response))
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and not body.get("error") and body.get("status"):
            raise refused(str(body["status"]), str(body.get("message") or ""))
    return response


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def refresh_or_static(config: "SourceConfig", token_path: str, token_name: str = "access token") -> "TokenProvider":
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
    return StaticToken(config.password or "", token_name)


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
        session.register_compliance_hook("refresh_token_response", transient_token_answer)
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
        except OAuth2Error as exc:
            raise refused(exc.error, exc.description or "") from exc
        except ValueError as exc:  # a 4xx that is not an OAuth error answer (HTML, empty body...)
            raise AuthError(f"token refresh at {self.token_url} failed: {one_line(str(exc))[:200]}",
                            check="the connection's host (is it the OAuth server?) and OAuth credentials") from exc
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
        try:
            return cls(private_key=Path(path).read_text(), **kwargs)
        except (OSError, TypeError) as exc:
            raise AuthError(f"cannot read the JWT private key {path!r}: {exc}",
                            check="the private_key_path extra (a PEM file readable by the workers)") from exc

    def token(self) -> Token:
        return self._current or self.refresh()

    def refresh(self) -> Token:
        claims = {"iss": self.client_id, "sub": self.username, "aud": self.audience, "exp": int(time.time()) + 180}
        try:
            assertion = jwt.encode(claims, self.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise AuthError(f"cannot sign the JWT assertion: {exc}",
                            check="the private_key_path extra (an RSA private key in PEM)") from exc
        response = requests.post(
            self.token_url,
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            verify=self.verify,
            timeout=self.timeout,
        )
        transient_token_answer(response)
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if isinstance(body, dict) and body.get("error"):
                raise refused(str(body["error"]), str(body.get("error_description") or ""))
            raise AuthError(f"JWT bearer grant at {self.token_url} failed: HTTP {response.status_code} "
                            f"{one_line(response.text)[:200]}", check="the connection's host and JWT settings")
        data = response.json()
        self._current = Token(data["access_token"], data.get("instance_url"), data)
        return self._current


@dataclass
class EntraClientCredentials:
    """Microsoft Entra ID client-credentials grant (Dataverse, Microsoft Graph) through ``msal``.

    msal keeps the token in its cache and reuses it until close to expiry; there is no refresh token,
    so a 401 drops the cached token and asks for a new one (msal offers no forced refresh for this
    grant). ``instance_discovery=False``: the authority's own OpenID configuration is read, the same
    way for ``login.microsoftonline.com``, a sovereign cloud or an emulator. ``http`` is the session
    msal sends through (the Connection's CA bundle); the secret never leaves msal's token request.
    """

    authority: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    http: requests.Session = field(default_factory=requests.Session, repr=False)
    _app: Any = field(default=None, init=False, repr=False)

    def _client(self) -> Any:
        if self._app is None:
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self.client_secret, authority=self.authority,
                    http_client=self.http, instance_discovery=False)
            except ValueError as exc:  # msal: OpenID configuration refused (unknown tenant, not an Entra host)
                raise AuthError(f"Entra ID authority {self.authority} refused: {one_line(str(exc))[:300]}",
                                check="the tenant_id and authority_host extras") from exc
            except requests.HTTPError as exc:
                raise Retryable(f"Entra ID OpenID configuration answered {exc}") from exc
        return self._app

    def token(self) -> Token:
        try:
            result = self._client().acquire_token_for_client([self.scope])
        except msal.exceptions.MsalServiceError as exc:  # 5xx at the token endpoint
            raise Retryable(f"Entra ID token endpoint: {exc}") from exc
        if not isinstance(result, dict) or "access_token" not in result:
            error = result.get("error", "no token") if isinstance(result, dict) else "no token"
            raise refused(str(error), str(result.get("error_description") or "") if isinstance(result, dict) else "")
        return Token(result["access_token"], raw=dict(result))

    def refresh(self) -> Token:
        cache = self._client().token_cache
        for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)
        return self.token()
