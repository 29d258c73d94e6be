"""What every Jira emulator module shares: the error envelope and the REST version of the request.

Jira Cloud serves the same resources under ``/rest/api/3`` and ``/rest/api/2`` (``latest`` = 2). They
differ in rich text only: version 3 reads and writes Atlassian Document Format (ADF) documents for
``description``, comment bodies and worklog comments, version 2 plain strings. ``self`` links point
back to the version that was called.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from werkzeug.routing import Rule

from passerelle_sandbox.core import VendorError

Record = dict[str, Any]
API_VERSION: ContextVar[str] = ContextVar("jira_api_version", default="3")
ALIASES = {"/rest/api/2/": "2", "/rest/api/latest/": "2"}
ADF_REQUIRED = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
TEXT_REQUIRED = "Operation value must be a string"


def jira_error(status: int, *messages: str, headers: dict[str, str] | None = None,
               errors: dict[str, str] | None = None) -> VendorError:
    return VendorError(status, {"errorMessages": list(messages), "errors": errors or {}}, headers)


def rule(path: str, endpoint: str, methods: tuple[str, ...] = ("GET",)) -> Rule:
    return Rule(path, endpoint=endpoint, methods=list(methods))


def versioned_path(path: str) -> tuple[str, str]:
    """(REST version, the ``/rest/api/3`` path serving it) for a request path."""
    for prefix, version in ALIASES.items():
        if path.startswith(prefix):
            return version, "/rest/api/3/" + path[len(prefix):]
    return "3", path


def adf(text: str) -> Record:
    """A plain text as the one-paragraph ADF document Jira stores for it."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in text.split("\n")
    ]}


def adf_text(node: Any) -> str:
    """The plain text of an ADF document: text nodes joined, one line per block."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [adf_text(child) for child in node.get("content") or []]
    joiner = "\n" if node.get("type") == "doc" else ""
    return joiner.join(parts)


def rich_text(text: str | None) -> Any:
    """A stored plain text as the called REST version renders it (ADF for 3, string for 2)."""
    if text is None:
        return None
    return adf(text) if API_VERSION.get() == "3" else text


def read_rich_text(field: str, value: Any) -> tuple[str | None, dict[str, str]]:
    """(plain text, field errors) of a rich-text input in the called REST version."""
    if value is None:
        return None, {}
    if API_VERSION.get() == "3":
        if not isinstance(value, dict) or value.get("type") != "doc":
            return None, {field: ADF_REQUIRED}
        return adf_text(value), {}
    if not isinstance(value, str):
        return None, {field: TEXT_REQUIRED}
    return value, {}
