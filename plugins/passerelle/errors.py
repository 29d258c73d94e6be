"""Errors that name the source, stream and record involved, so a failed task says what to fix."""

from __future__ import annotations

from collections.abc import Iterable


class PasserelleError(Exception):
    """Base class for the project's own errors."""


class BadRecordError(PasserelleError):
    """A record or page from a source cannot be loaded (malformed JSON, missing id or cursor...)."""

    def __init__(self, source: str, stream: str, record: str, problem: str) -> None:
        self.source, self.stream, self.record, self.problem = source, stream, record, problem
        self.conn_id: str | None = None
        super().__init__(f"{source}.{stream}: record {record}: {problem}")

    def attribute(self, source: str, conn_id: str | None, secrets: Iterable[str | None] = ()) -> "BadRecordError":
        """Name the Airflow Connection like every fatal source error, on one line with ``secrets`` masked:
        ``jira (Airflow Connection 'passerelle_jira'): worklogs: record (response of GET ...): malformed JSON``.
        The class stays, so the retry policy still fails the task at once."""
        self.conn_id = self.conn_id or conn_id
        problem = mask(one_line(f"record {self.record}: {self.problem}"), list(secrets))
        where = f"{self.source or source} (Airflow Connection '{self.conn_id}')" if self.conn_id else self.source
        self.args = (f"{where}: {self.stream}: {problem}",)
        return self


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (vendor bodies hold newlines) collapsed to one space."""
    return " ".join(str(text).split())


def mask(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first, so none leaks partly)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class SourceError(PasserelleError):
    """A fatal failure talking to a source, rendered as one line an operator can act on::

        salesforce (Airflow Connection 'passerelle_salesforce'): authentication refused: invalid_client
        — check the client id/secret

    Connectors raise it with the problem and what to check; the run that owns the connection adds
    the source and Connection id (:meth:`attribute`) and masks the connection's secrets.
    """

    default_check = ""

    def __init__(self, problem: str, *, check: str | None = None, source: str | None = None,
                 conn_id: str | None = None) -> None:
        self.problem = one_line(problem)
        self.check = one_line(check if check is not None else self.default_check)
        self.source, self.conn_id = source, conn_id
        super().__init__(self.problem)

    def attribute(self, source: str, conn_id: str | None, secrets: Iterable[str | None] = ()) -> "SourceError":
        """Name the source and Airflow Connection (unless already named) and mask ``secrets``."""
        self.source = self.source or source
        self.conn_id = self.conn_id or conn_id
        secrets = list(secrets)
        self.problem, self.check = mask(self.problem, secrets), mask(self.check, secrets)
        self.args = (str(self),)
        return self

    def __str__(self) -> str:
        problem = self.problem
        if self.source:
            for prefix in (f"{self.source}.", f"{self.source} "):
                if problem.lower().startswith(prefix.lower()):
                    problem = problem[len(prefix):]  # "hubspot.companies GET ..." -> "companies GET ..."
                    break
        where = self.source or ""
        if self.conn_id:
            where += f" (Airflow Connection '{self.conn_id}')"
        line = f"{where}: {problem}" if where else problem
        return f"{line} — check {self.check}" if self.check else line


class AuthError(SourceError):
    """Credentials were refused and could not be refreshed: retrying will not help."""

    default_check = "the connection's credentials"


class SourceUnavailableError(SourceError):
    """The source kept failing (unreachable, 5xx, throttling, timeouts) after every retry."""

    # Set where the cause is known (unreachable host, 5xx, quota...): a vague hint helps no one.


class SourceRequestError(SourceError):
    """The source rejected a request for a reason retrying cannot fix (a 4xx other than auth/throttling)."""

    default_check = "the connection's settings and the integration user's access to this object"
