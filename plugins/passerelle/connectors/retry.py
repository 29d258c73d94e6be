"""One retry policy for every source: exponential backoff with jitter, honouring Retry-After.

Connectors translate vendor responses into :class:`Retryable` (throttling, 5xx, timeouts) or
:class:`NeedsReauth` (expired token); connection errors and timeouts raised by ``requests`` are
retried as they are. This module decides how long to wait and when to give up, and turns the last
failure into one line that says what to check (:class:`SourceUnavailableError`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TypeVar
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from passerelle.errors import AuthError, BadRecordError, SourceError, SourceUnavailableError, one_line

if TYPE_CHECKING:
    from passerelle.connectors.config import SourceConfig

T = TypeVar("T")
log = logging.getLogger(__name__)


class Retryable(Exception):
    """A transient failure; ``retry_after`` (seconds) comes from the vendor when it says so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NeedsReauth(Exception):
    """The access token was refused; refreshing it may fix the call."""


@dataclass(frozen=True)
class RetrySettings:
    attempts: int = 8
    initial_wait: float = 0.5
    max_wait: float = 60.0
    max_elapsed: float = 900.0
    max_retry_after: float = 300.0


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: vendor-flagged transient answers, lost connections and timeouts.

    A certificate that does not verify is a ``ConnectionError`` for requests, but waiting will not
    make it verify.
    """
    if isinstance(exc, Retryable):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return "CERTIFICATE_VERIFY_FAILED" not in str(exc) and "hostname mismatch" not in str(exc).lower()
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def _where(exc: requests.RequestException) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) if request is not None else None
    if not url:
        return ""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f" at {parts.hostname}:{port}"


def transport_problem(exc: BaseException) -> tuple[str, str]:
    """``(what happened, what to check)`` for a failure below HTTP (DNS, TCP, TLS, timeouts)."""
    text = str(exc)
    if isinstance(exc, requests.RequestException):
        where = _where(exc)
    else:
        where = ""
    host_check = "the connection's host and port, and that the workers can reach it (firewall, proxy)"
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "hostname mismatch" in text.lower():
            return (f"TLS certificate not trusted{where}",
                    "the connection's host and its ca_bundle extra (the private CA that signed the certificate)")
        return f"TLS handshake failed{where}", host_check
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"host unreachable{where}: connection timed out", host_check
    if isinstance(exc, requests.Timeout):
        return (f"no answer{where} within the request timeout",
                "the source's status page; raise the connection's timeout extra if the source is just slow")
    if isinstance(exc, requests.ConnectionError):
        lowered = text.lower()
        if "name or service not known" in lowered or "nameresolution" in lowered or "getaddrinfo" in lowered \
                or "temporary failure in name resolution" in lowered or "no address associated" in lowered:
            return f"host name does not resolve{where}", "the connection's host (a typo?) and the workers' DNS"
        if "connection refused" in lowered:
            return f"host unreachable{where}: connection refused", host_check
        if "remotedisconnected" in lowered or "connection aborted" in lowered or "reset by peer" in lowered:
            return f"connection dropped by the server{where}", "the source's status page"
        return f"connection failed{where}", host_check
    return one_line(text)[:300], "the source's status page"


def _wait(settings: RetrySettings) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(initial=settings.initial_wait, max=settings.max_wait)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), settings.max_retry_after)
        return backoff(state)

    return wait


def _gave_up(what: str, exc: BaseException, attempts: int, seconds: float) -> SourceUnavailableError:
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''} over {seconds:.0f}s"
    if isinstance(exc, Retryable):
        message = one_line(str(exc))[:300]
        if "throttl" in message.lower() or "429" in message or "limit" in message.lower():
            return SourceUnavailableError(
                f"{what}: still throttled after {tries} (last: {message})",
                check="the source's API quota and the Airflow pool size for this source")
        return SourceUnavailableError(
            f"{what}: still failing after {tries} (last: {message})",
            check="the source's status page; the next run resumes from the watermark")
    problem, check = transport_problem(exc)
    return SourceUnavailableError(f"{what}: {problem} (gave up after {tries})", check=check)


def call_with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    settings: RetrySettings,
    reauthenticate: Callable[[], None] | None = None,
) -> T:
    """Run ``fn`` until it succeeds, retrying transient failures and refreshing the token once.

    A second refusal right after a refresh means the credentials are wrong: fail fast with
    :class:`AuthError` rather than burn retries (and API quota) on a call that cannot succeed.
    """
    refreshed = False

    def attempt() -> T:
        nonlocal refreshed
        try:
            result = fn()
        except NeedsReauth as exc:
            if reauthenticate is None or refreshed:
                raise AuthError(
                    f"{what}: access refused even with a fresh token ({exc})",
                    check="the integration user's permissions for this object",
                ) from exc
            log.warning("%s: access token refused, refreshing it", what)
            reauthenticate()
            refreshed = True
            raise Retryable("token refreshed", retry_after=0) from exc
        refreshed = False
        return result

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1fs",
            what, state.attempt_number, one_line(str(exc))[:300],
            state.next_action.sleep if state.next_action else 0.0,
        )

    retrying = Retrying(
        stop=stop_after_attempt(settings.attempts) | stop_after_delay(settings.max_elapsed),
        wait=_wait(settings),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    started = time.monotonic()
    try:
        return retrying(attempt)
    except (Retryable, requests.ConnectionError, requests.Timeout) as exc:
        attempts = retrying.statistics.get("attempt_number", settings.attempts)
        raise _gave_up(what, exc, attempts, time.monotonic() - started) from exc


def connection_secrets(config: "SourceConfig") -> list[str]:
    """The connection's password and secret-looking extras, to mask in any message."""
    masked = config.masked()["extra"]
    secrets = [config.password or ""]
    secrets += [str(config.extra[key]) for key, shown in masked.items() if shown == "***" and config.extra[key]]
    return secrets


@contextmanager
def failures_named(source: str, conn_id: str, config: "SourceConfig") -> Iterator[None]:
    """Make every source failure inside the block one line naming ``source`` and its Airflow
    Connection, with the connection's secrets masked. A stray transport error becomes a
    :class:`SourceUnavailableError` rather than a bare ``requests`` exception."""
    secrets = connection_secrets(config)
    try:
        yield
    except (SourceError, BadRecordError) as exc:
        raise exc.attribute(source, conn_id, secrets)
    except (requests.ConnectionError, requests.Timeout) as exc:
        problem, check = transport_problem(exc)
        raise SourceUnavailableError(problem, check=check).attribute(source, conn_id, secrets) from exc
