"""Zoho's accounts server (one data centre), shared by the Zoho CRM / Bigin and Zoho Projects emulators.

Zoho serves OAuth on a data-centre-specific accounts host (``accounts.zoho.eu``) and the APIs on
other hosts the token answer names (``api_domain``). Here the accounts host is ``localhost`` and the
API host ``127.0.0.1``, on the emulator's port: a token request on the API host or an API call on the
accounts host is answered 404, as at Zoho. ``POST /oauth/v2/token`` (``refresh_token`` grant, its
parameters in the query or the form) refuses with HTTP 200 ``{"error": ...}`` as Zoho does.

Optionally (``tokens_per_refresh_window`` in the app's config) a refresh token yields at most that many
access tokens per ``refresh_window_seconds`` (Zoho: 10 per 10 minutes); the next request is answered
HTTP 400 ``{"error": "Access Denied", "error_description": "You have made too many requests
continuously. Please try again after some time."}`` until the window has room again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, json_response
from passerelle_sandbox.oauth import TokenRequest
from passerelle_sandbox.rate_limits import WindowsByKey

CLIENT_ID = "1000.8Q2ZJ4VKXW7N5P3L6R9T1Y0U2I4O6E"
CLIENT_SECRET = "5b0e1c9d8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c"
REFRESH_TOKEN = "1000.3f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c.4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e"
ACCOUNTS_HOST = "localhost"
TOO_MANY = {"error": "Access Denied",
            "error_description": "You have made too many requests continuously. Please try again after some time."}


class ZohoAccounts:
    """Mixin for a :class:`~passerelle_sandbox.core.VendorApp` (``base_url``, ``tokens``, ``config``)."""

    base_url: str
    tokens: Any
    config: dict[str, Any]

    def accounts_url(self) -> str:
        """The data centre's accounts server: the API's port on another host name."""
        parts = urlsplit(self.base_url)
        if parts.hostname != "127.0.0.1":
            return self.base_url
        return f"{parts.scheme}://{ACCOUNTS_HOST}:{parts.port}"

    def host_is_accounts(self, call: Call) -> bool:
        return call.request.host.split(":")[0] == ACCOUNTS_HOST and urlsplit(self.base_url).hostname == "127.0.0.1"

    def _issued(self) -> WindowsByKey:
        """Access tokens issued per refresh token, made on first use (a mixin has no ``__init__``)."""
        windows = self.__dict__.get("_issued_windows")
        if windows is None:
            windows = self.__dict__.setdefault("_issued_windows", WindowsByKey(
                lambda: float(self.config.get("refresh_window_seconds", 600)),
                lambda: int(self.config["tokens_per_refresh_window"])))
        return windows

    def reset_token_counts(self) -> None:
        self._issued().clear()

    def _rate_refused(self, refresh_token: str) -> bool:
        """Count one access token for ``refresh_token``; True when the window is already full."""
        if not self.config.get("tokens_per_refresh_window"):
            return False
        return not self._issued()[refresh_token].take()

    def token_answer(self, call: Call, scope: str) -> Response | None:
        """The token endpoint's answer, or None when the request is not for the accounts host."""
        if not self.host_is_accounts(call) and urlsplit(self.base_url).hostname == "127.0.0.1":
            return None
        request = TokenRequest.read(call.request, basic=False, query=True)
        if not request.client_is(CLIENT_ID, CLIENT_SECRET):
            return json_response({"error": "invalid_client"})
        if request.grant_type != "refresh_token":
            return json_response({"error": "unsupported_grant_type"})
        if request.get("refresh_token") != REFRESH_TOKEN:
            return json_response({"error": "invalid_code"})
        if self._rate_refused(REFRESH_TOKEN):
            return json_response(TOO_MANY, 400)
        expires_in = int(self.config["oauth_expires_in"])
        access = self.tokens.issue("1000.", ttl=expires_in, nbytes=32)
        return json_response({"access_token": access, "scope": scope, "api_domain": self.base_url,
                              "token_type": "Bearer", "expires_in": expires_in})
