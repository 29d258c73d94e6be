"""The line that stamps a link's key on what a vendor without idempotency keys makes for it.

``Passerelle: <key>`` as a line of a description or notes field: a person sees where the object came from,
and the sync finds it again by that line before creating anything.
"""

from __future__ import annotations

KEY_PREFIX = "Passerelle: "


def key_line(idem_key: str) -> str:
    return f"{KEY_PREFIX}{idem_key}"


def carries_key(text: str | None, idem_key: str) -> bool:
    return key_line(idem_key) in (text or "").splitlines()


def stamped(summary: str, idem_key: str) -> str:
    """A description: the summary, a blank line, the key line."""
    return "\n".join([summary, "", key_line(idem_key)])
