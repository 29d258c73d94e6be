"""What the emulators' OAuth token endpoints share: reading a token request and choosing its grant.

A client authenticates at a token endpoint with HTTP Basic (``client_secret_basic``) or with
``client_id``/``client_secret`` form fields (``client_secret_post``); Basic wins when both are sent.
Each vendor keeps its own order of checks, its error bodies and its token answer; tokens are issued
(with their lifetime) by the app's :class:`~passerelle_sandbox.core.TokenStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class TokenRequest:
    """A POST to a token endpoint: its grant, the client's credentials and every other parameter."""

    grant_type: str | None
    client_id: str | None
    client_secret: str | None
    params: Mapping[str, str]
    basic: bool
    """True when the client authenticated with HTTP Basic."""

    @classmethod
    def read(cls, request: Request, *, basic: bool = True, query: bool = False) -> TokenRequest:
        """The request's parameters from the form (and the query string first, where a vendor reads it);
        the client from HTTP Basic when ``basic`` and present, else from the parameters."""
        params = {**(request.args.to_dict() if query else {}), **request.form.to_dict()}
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        auth = request.authorization
        via_basic = basic and auth is not None and auth.type == "basic"
        if via_basic:
            client_id, client_secret = auth.username, auth.password
        return cls(params.get("grant_type"), client_id, client_secret, params, via_basic)

    def get(self, name: str) -> str:
        """A parameter, or "" when absent."""
        return self.params.get(name, "")

    def client_is(self, client_id: str, client_secret: str) -> bool:
        return (self.client_id, self.client_secret) == (client_id, client_secret)

    def dispatch(self, grants: Mapping[str, Callable[[TokenRequest], Response]],
                 unsupported: Callable[[str | None], Exception]) -> Response:
        """Answer with the handler of the request's grant; raise the vendor's error for any other grant."""
        handler = grants.get(self.grant_type or "")
        if handler is None:
            raise unsupported(self.grant_type)
        return handler(self)
