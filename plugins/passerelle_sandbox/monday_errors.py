"""monday.com application errors: HTTP 200 with ``errors[].extensions.code`` (API 2024-10 and later)."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]


class MondayError(Exception):
    """An application error, rendered as an ``errors[]`` entry with ``extensions.code``."""

    def __init__(self, code: str, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.code, self.extensions = code, extensions


def error_entry(code: str, message: str, **extensions: Any) -> Record:
    return {"message": message, "extensions": {"code": code, **extensions}}
