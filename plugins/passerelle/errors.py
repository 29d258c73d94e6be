"""Errors that name the source, stream and record involved, so a failed task says what to fix."""

from __future__ import annotations


class PasserelleError(Exception):
    """Base class for the project's own errors."""


class BadRecordError(PasserelleError):
    """A record or page from a source cannot be loaded (malformed JSON, missing id or cursor...)."""

    def __init__(self, source: str, stream: str, record: str, problem: str) -> None:
        self.source, self.stream, self.record, self.problem = source, stream, record, problem
        super().__init__(f"{source}.{stream}: record {record}: {problem}")


class AuthError(PasserelleError):
    """Credentials were refused and could not be refreshed: retrying will not help."""


class SourceUnavailableError(PasserelleError):
    """The source kept failing (5xx, throttling, timeouts) after every retry."""
