"""A project's owner in its project tool: the CRM deal owner's email matched to one of the tool's users.

A tool's users are asked once per run and email (the makers live for one run), a miss included. No match
never fails the project: it is made without an owner, its description names the deal owner, and both the
audit (``sync.writes``) and the deal's plan item say ``owner <email> not found in <tool>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from passerelle.sync import links

Lookup = Callable[[str, int], "str | None"]
"""The tool's user id of an email (lower case), or None; given the link the lookup is made for."""


@dataclass
class OwnerMatch:
    """The tool's user of each deal owner, looked up once per email through ``lookup``."""

    writer: Any
    """The maker's writer (its ``conn``, ``run_id`` and ``vendor``)."""
    where: str
    """What is asked, as the audit row names it (the path or query of the lookup)."""
    lookup: Lookup
    found: dict[str, str | None] = field(default_factory=dict)

    def user(self, owner: dict[str, Any] | None, link_id: int) -> str | None:
        """The tool's user id of the project's ``owner`` (``{"name", "email"}``), None when it has none there."""
        email = ((owner or {}).get("email") or "").lower()
        if not email:
            return None
        if email not in self.found:
            self.found[email] = self.lookup(email, link_id)
        if self.found[email] is None:
            note = f"owner {email} not found in {self.writer.vendor}"
            links.audit(self.writer.conn, run_id=self.writer.run_id, link_id=link_id, vendor=self.writer.vendor,
                        operation="match_owner", method="GET", path=self.where, request={"email": email},
                        status=200, outcome="succeeded", response={"found": False, "message": note}, object_id=None)
            links.note_on_plan(self.writer.conn, self.writer.run_id, link_id, note)
        return self.found[email]
