"""HubSpot's error body: ``{status, message, correlationId, category, …}`` with optional ``errors``/``context``."""

from __future__ import annotations

import json
from typing import Any

from passerelle_sandbox.core import VendorError, correlation_id


def hs_error(status: int, category: str, message: str, headers: dict[str, str] | None = None,
             **extra: Any) -> VendorError:
    body = {"status": "error", "message": message, "correlationId": correlation_id(), "category": category, **extra}
    return VendorError(status, body, headers)


def property_errors(problems: list[tuple[str, str, str]]) -> VendorError:
    """400 ``VALIDATION_ERROR`` for invalid property values, one ``(name, code, message)`` per problem.

    HubSpot embeds the per-property details as JSON text in ``message`` and lists them again in
    ``errors`` with the property name in ``context.propertyName``.
    """
    details = [{"isValid": False, "message": message, "error": code, "name": name, "localizedErrorMessage": message}
               for name, code, message in problems]
    errors = [{"message": message, "code": code, "context": {"propertyName": [name]}}
              for name, code, message in problems]
    return hs_error(400, "VALIDATION_ERROR", f"Property values were not valid: {json.dumps(details)}", errors=errors)
