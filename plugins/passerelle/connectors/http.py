"""A JSON-over-HTTP client shared by REST sources: bearer auth, retries, vendor error mapping.

Sources plug in a ``throttle_delay`` function that recognises their rate-limit answer and says how
long the vendor asks to wait; everything else (5xx, timeouts, expired tokens) is handled the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from passerelle import exact_json
from passerelle.connectors.auth import TokenProvider
from passerelle.connectors.paging import DEFAULT_MAX_RESPONSE_MB, body_hint, read_capped, same_origin
from passerelle.connectors.retry import NeedsReauth, Retryable, RetrySettings, call_with_retries
from passerelle.errors import AuthError, BadRecordError, SourceRequestError, one_line

log = logging.getLogger(__name__)

class PinnedCASession(requests.Session):
    """A session whose ``verify`` setting wins over ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``.

    requests lets those environment variables override ``Session.verify``, so a connection's own
    ``ca_bundle`` (a private CA) would silently be ignored on machines that set them. Requests
    without a timeout (simple-salesforce sends none) get ``timeout``: a silent server must fail
    the attempt, not hang the task.
    """

    def __init__(self, verify: str | bool = True, timeout: float = 60.0,
                 max_response_mb: float = DEFAULT_MAX_RESPONSE_MB) -> None:
        super().__init__()
        self.verify = verify
        self.timeout = timeout
        self.max_response_bytes = int(max_response_mb * (1 << 20))
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        """What requests takes from the environment (``HTTPS_PROXY``, ``NO_PROXY``, CA bundle variables), read
        once per origin for the session's life (one run) instead of on every request, where scanning
        ``os.environ`` cost about a sixth of reading a 100-record page. Explicit proxies are not cached."""
        if proxies:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert, self.trust_env)
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Bodies are streamed and read up to ``max_response_bytes``: a runaway page fails clearly
        instead of growing memory without bound."""
        kwargs.setdefault("verify", self.verify)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if kwargs.get("stream"):
            return super().request(method, url, *args, **kwargs)
        response = super().request(method, url, *args, stream=True, **{k: v for k, v in kwargs.items() if k != "stream"})
        response._content = read_capped(response, self.max_response_bytes)
        response._content_consumed = True
        return response


ThrottleDelay = Callable[[requests.Response], "float | None | bool"]


class ApiRequestError(SourceRequestError):
    """A request the vendor rejected for a reason retrying cannot fix (4xx other than auth/throttle)."""

    def __init__(self, what: str, response: requests.Response) -> None:
        self.status = response.status_code
        check = "the object or field it names: deleted, renamed or not visible to the integration user?" \
            if response.status_code == 404 else None
        super().__init__(f"{what}: HTTP {response.status_code}: {one_line(response.text)[:500]}", check=check)


def retry_after_header(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def http_429_delay(response: requests.Response) -> float | None | bool:
    """The common convention: 429 means throttled, ``Retry-After`` (if any) says how long to wait."""
    return retry_after_header(response) if response.status_code == 429 else False


def raise_for_status(response: requests.Response, *, what: str, throttle_delay: ThrottleDelay = http_429_delay) -> None:
    """Map an HTTP status to the retry vocabulary: throttled or transient (retry), expired token
    (refresh), forbidden (fail fast), anything else 4xx (fail with the vendor's message)."""
    status = response.status_code
    if status < 300:
        return
    delay = throttle_delay(response)
    if delay is not False:
        raise Retryable(f"throttled (HTTP {status})", retry_after=delay if isinstance(delay, (int, float)) else None)
    if status == 401:
        raise NeedsReauth(f"HTTP 401: {response.text[:200]}")
    if status == 403:
        raise AuthError(f"{what}: access forbidden (HTTP 403): {one_line(response.text)[:300]}",
                        check="the scopes or permissions granted to the connection's credentials")
    if status in (408, 409, 423, 425) or status >= 500:
        raise Retryable(f"HTTP {status}", retry_after=retry_after_header(response))
    raise ApiRequestError(f"{what} {response.request.method} {response.url}", response)


@dataclass(frozen=True)
class JsonResponse:
    """A decoded JSON body with the headers and final URL it came with."""

    body: Any
    headers: Mapping[str, str]
    url: str


@dataclass
class JsonApi:
    """Authenticated JSON requests against one base URL with the shared retry policy."""

    source: str
    base_url: str
    tokens: TokenProvider
    retry: RetrySettings
    verify: str | bool = True
    timeout: float = 60.0
    throttle_delay: ThrottleDelay = http_429_delay
    max_response_mb: float = DEFAULT_MAX_RESPONSE_MB
    http: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.http = PinnedCASession(self.verify, self.timeout, self.max_response_mb)

    def request(self, method: str, path: str, *, stream: str, **kwargs: Any) -> Any:
        """Send a request and return its decoded JSON body, retrying what can be retried."""
        return self.fetch(method, path, stream=stream, **kwargs).body

    def fetch(self, method: str, path: str, *, stream: str, headers: dict[str, str] | None = None,
              **kwargs: Any) -> JsonResponse:
        """:meth:`request`, keeping the response headers (``Link`` paging) next to the body; ``headers``
        are added to this request only."""
        url = same_origin(path, self.base_url) if "//" in path else f"{self.base_url}{path}"
        extra = dict(headers or {})

        def once() -> JsonResponse:
            headers = {"Authorization": self.authorization(), "Accept": "application/json", **extra}
            response = self.http.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            self.check_response(response, stream)
            try:
                body = exact_json.loads(response.content)
            except ValueError as exc:
                raise BadRecordError(self.source, stream, f"(response of {method} {path})",
                                     f"malformed JSON: {exc}{body_hint(response)}") from exc
            return JsonResponse(body, response.headers, response.url)

        return call_with_retries(
            once, what=f"{self.source}.{stream} {method} {path}", settings=self.retry, reauthenticate=self.tokens.refresh
        )

    def authorization(self) -> str:
        """The ``Authorization`` header value; sources with another scheme override this."""
        return f"Bearer {self.tokens.token().access_token}"

    def check_response(self, response: requests.Response, stream: str) -> None:
        raise_for_status(response, what=f"{self.source}.{stream}", throttle_delay=self.throttle_delay)
