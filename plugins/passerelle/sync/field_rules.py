"""Which side wins a mapped field of a link, for every two-way flow.

Each field has an owner: ``crm`` (one-way CRM → project tool), ``pm`` (one-way project tool → CRM) or
``both``. A side has changed when the hash of its value differs from the hash both sides agreed on at the
last sync (``sync.link_fields``): a value read back that equals what the sync wrote is therefore not a
change, whatever the vendor's modification time says, and nothing echoes back. When both sides changed, a
one-way field's owner wins; a two-way field goes to the later vendor modification time (never the
scheduler's clock), a tie to the CRM. An empty value never overwrites a filled one unless the field may be
cleared, and a value a vendor or a rule refused (parked) is not written again until it changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from passerelle.exact_json import dumps

Owner = Literal["crm", "pm", "both"]
Action = Literal["none", "record", "write_crm", "write_pm", "kept", "parked"]
OWNERS: tuple[Owner, ...] = ("crm", "pm", "both")


@dataclass(frozen=True)
class Side:
    """One side's current value of a field (in the flow's common form) and its record's stamps."""

    value: Any
    modified_at: datetime | None = None
    modified_by: str | None = None


@dataclass(frozen=True)
class Ledger:
    """What the last sync left for a field: the agreed value's hash and a refused value's hash."""

    synced_hash: str | None = None
    parked_hash: str | None = None


@dataclass(frozen=True)
class Decision:
    field: str
    action: Action
    value: Any = None
    rule: str = ""
    reason: str = ""
    conflict: bool = False
    winner: str | None = None

    @property
    def target(self) -> str | None:
        """The side written: ``crm``, ``pm`` or none."""
        return {"write_crm": "crm", "write_pm": "pm"}.get(self.action)


def value_hash(value: Any) -> str:
    """A stable hash of a common-form value (empty values all hash alike)."""
    return hashlib.sha256(dumps(None if is_empty(value) else value).encode()).hexdigest()


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _winner(owner: Owner, crm: Side, pm: Side, crm_changed: bool, pm_changed: bool) -> tuple[str, str]:
    if owner != "both":
        return owner, "owner"
    if crm_changed and not pm_changed:
        return "crm", "changed_side"
    if pm_changed and not crm_changed:
        return "pm", "changed_side"
    if crm.modified_at is not None and pm.modified_at is not None and pm.modified_at > crm.modified_at:
        return "pm", "last_writer"
    if crm.modified_at is not None and pm.modified_at is not None and crm.modified_at > pm.modified_at:
        return "crm", "last_writer"
    return "crm", "tie_crm_wins"


def decide(field: str, owner: Owner, crm: Side, pm: Side, ledger: Ledger | None = None,
           clear: bool = False) -> Decision:
    """The action for one field of one link (see the module's docstring)."""
    ledger = ledger or Ledger()
    crm_hash, pm_hash = value_hash(crm.value), value_hash(pm.value)
    if crm_hash == pm_hash:
        if ledger.synced_hash == crm_hash:
            return Decision(field, "none")
        return Decision(field, "record", crm.value, reason="both sides hold the same value")
    first = ledger.synced_hash is None
    crm_changed = first or crm_hash != ledger.synced_hash
    pm_changed = first or pm_hash != ledger.synced_hash
    winner, rule = _winner(owner, crm, pm, crm_changed, pm_changed)
    if first and rule in ("last_writer", "tie_crm_wins"):
        rule = "first_sync_" + rule
    conflict = not first and crm_changed and pm_changed
    value, other = (crm.value, pm.value) if winner == "crm" else (pm.value, crm.value)
    target = "pm" if winner == "crm" else "crm"
    if is_empty(value) and not is_empty(other) and not clear:
        return Decision(field, "kept", value, rule, f"{winner} is empty: an empty value never overwrites a filled one",
                        conflict, winner)
    if ledger.parked_hash is not None and ledger.parked_hash == value_hash(value):
        return Decision(field, "parked", value, rule, "refused before: not written again until it changes",
                        conflict, winner)
    reason = {"owner": f"owned by {winner}", "changed_side": f"changed in {winner} only",
              "last_writer": f"both changed, {winner} changed last"}.get(
        rule, f"{winner} wins ({rule.replace('_', ' ')})")
    return Decision(field, "write_crm" if target == "crm" else "write_pm", value, rule, reason, conflict, winner)
