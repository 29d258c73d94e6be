"""One retry policy for every source: exponential backoff with jitter, honouring Retry-After.

Connectors translate vendor responses into :class:`Retryable` (throttling, 5xx, timeouts) or
:class:`NeedsReauth` (expired token); this module decides how long to wait and when to give up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from passerelle.errors import AuthError, SourceUnavailableError

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


def _wait(settings: RetrySettings) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(initial=settings.initial_wait, max=settings.max_wait)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), settings.max_retry_after)
        return backoff(state)

    return wait


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
                raise AuthError(f"{what}: credentials refused ({exc})") from exc
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
            what, state.attempt_number, exc, state.next_action.sleep if state.next_action else 0.0,
        )

    retrying = Retrying(
        stop=stop_after_attempt(settings.attempts) | stop_after_delay(settings.max_elapsed),
        wait=_wait(settings),
        retry=retry_if_exception_type((Retryable, requests.ConnectionError, requests.Timeout)),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except (Retryable, requests.ConnectionError, requests.Timeout) as exc:
        raise SourceUnavailableError(f"{what}: gave up after {settings.attempts} attempts: {exc}") from exc
