"""Microsoft Entra ID (Azure AD) as the sandbox's Microsoft emulators serve it: the tenant's OpenID
configuration and the ``client_credentials`` token endpoint.

One tenant and one app registration answer for every Microsoft resource the sandbox emulates (the
Dataverse org of the Dynamics emulator, Microsoft Graph), as in a real directory where one app is
granted ``Dataverse`` and ``Tasks.Read.All``: each emulator mixes :class:`EntraEndpoints` in and says
which ``scope`` values name its resource (``{org}/.default``, ``https://graph.microsoft.com/.default``).
A token issued for another resource's scope is never accepted there (the emulator checks the scope
the token was issued for).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, TokenStore, VendorError, json_response
from passerelle_sandbox.oauth import TokenRequest

TENANT_ID = "7c9d2a4e-1b3f-4e6a-9d8c-5f2e1a0b3c4d"
CLIENT_ID = "3e8a1f5c-9b2d-4c7e-8a6f-1d0e9b8c7a65"
CLIENT_SECRET = "pAs8Q~Xr4tY7uI0oP2aS5dF8gH1jK4lZ6xC9vB3n"
JWT_HEADER = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9."


@dataclass(frozen=True)
class EntraCredentials:
    """The tenant and the app registration (client id and secret) the emulators accept."""

    tenant_id: str = TENANT_ID
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    def as_dict(self) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "client_id": self.client_id, "client_secret": self.client_secret}


def entra_error(status: int, error: str, code: int, description: str) -> VendorError:
    """Entra's OAuth error body (RFC 6749 fields plus the AADSTS code, trace and correlation ids)."""
    now = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return VendorError(status, {
        "error": error, "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
                                             f"{correlation} Timestamp: {now}",
        "error_codes": [code], "timestamp": now, "trace_id": trace, "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}"})


class EntraEndpoints:
    """Mixin for a :class:`~passerelle_sandbox.core.VendorApp`: routes ``openid`` and ``token``
    (``/<tenant>/v2.0/.well-known/openid-configuration``, ``POST /<tenant>/oauth2/v2.0/token``)."""

    base_url: str
    config: dict[str, Any]
    tokens: TokenStore

    def entra_credentials(self) -> EntraCredentials:
        raise NotImplementedError

    def entra_scopes(self) -> tuple[str, ...]:
        """The ``scope`` values that name this emulator's resource."""
        raise NotImplementedError

    def _tenant(self, tenant: str) -> None:
        if tenant.lower() != self.entra_credentials().tenant_id:
            raise entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure you "
                              "have the correct tenant ID and are signing into the correct cloud.")

    def on_openid(self, call: Call, tenant: str) -> Response:
        self._tenant(tenant)
        authority = f"{self.base_url}/{tenant}"
        return json_response({
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{authority}/discovery/v2.0/keys", "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{authority}/v2.0", "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{authority}/oauth2/v2.0/logout", "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com", "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        })

    def on_token(self, call: Call, tenant: str) -> Response:
        self._tenant(tenant)
        request, creds = TokenRequest.read(call.request), self.entra_credentials()
        client_id, secret = request.client_id, request.client_secret
        if request.grant_type != "client_credentials":
            raise entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type "
                              f"'{request.grant_type}'.")
        if client_id != creds.client_id:
            raise entra_error(400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was "
                              f"not found in the directory '{tenant}'.")
        if secret != creds.client_secret:
            raise entra_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                              f"being sent in the request is the client secret value, not the client secret ID, "
                              f"for a secret added to app '{client_id}'.")
        scopes = request.get("scope").split()
        if not scopes:
            raise entra_error(400, "invalid_request", 900144, "The request body must contain the following "
                              "parameter: 'scope'.")
        accepted = self.entra_scopes()
        if not any(scope in accepted for scope in scopes):
            raise entra_error(400, "invalid_scope", 1002012, f"The provided value for scope {' '.join(scopes)} is "
                              "not valid. Client credential flows must have a scope value with /.default suffixed "
                              "to the resource identifier (application ID URI).")
        expires_in = int(self.config["token_expires_in"])
        access = self.tokens.issue(JWT_HEADER, ttl=expires_in, nbytes=96)
        return json_response({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
                              "access_token": access})
