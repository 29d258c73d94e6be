"""Zoho Projects v3's error body, shared by its reads and writes."""

from __future__ import annotations

from passerelle_sandbox.core import VendorError


def projects_error(status: int, title: str, message: str, headers: dict[str, str] | None = None) -> VendorError:
    """Zoho Projects v3's error body (UNCONFIRMED wording): ``{"error": {"status_code", "title", "details"}}``."""
    return VendorError(status, {"error": {"status_code": str(status), "title": title,
                                          "details": [{"message": message}]}}, headers)
