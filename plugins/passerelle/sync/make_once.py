"""Make one planned vendor object exactly once, whatever the flow: a deal's project, a request's task, a CRM task's
Zoho Projects task.

The flow has already reserved the link (``pending_create``, committed before any call). Here its key is looked up
at the vendor first; one object found is adopted, several leave the link ``unknown`` for a person, none is
created. A refusal (:class:`Rejected`) or an unknown outcome (:class:`UnknownOutcome`) is recorded on the plan
item and the next item goes on: the link stays pending, so the next run looks the key up again before any create.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from passerelle.sync import links
from passerelle.sync.links import Link
from passerelle.sync.vendor_calls import Rejected, UnknownOutcome

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Tally:
    """What making once counts, the base of each flow's apply outcome: objects created, objects adopted (found by
    their key), items whose outcome is unknown."""

    created: int = 0
    adopted: int = 0
    unknown: list[str] = field(default_factory=list)


def make_once(conn: Any, item: dict[str, Any], link: Link, *, label: str, noun: str, tally: Tally,
              refused: list[str], find: Callable[[], list[T]], create: Callable[[], T],
              address: Callable[[T], tuple[str, str | None]], furnish: Callable[[T], None] | None = None,
              settled: Callable[[T], None] | None = None, warn: bool = True) -> T | None:
    """Adopt or create the object of plan ``item`` on its reserved ``link``; returns it, or None when nothing was made.

    ``find`` lists the vendor's objects carrying the link's key, ``create`` makes one (stamping the key),
    ``furnish`` completes it (a refusal there counts like one at create), ``address`` gives its id and URL for
    the link and ``settled`` records what goes with an active link. ``label`` names the item in ``tally``'s and
    ``refused``'s messages, ``noun`` the kind of object several of which may carry the key.
    """
    if link.state == "active":
        links.mark_outcome(conn, item["plan_item_id"], "done")  # another run finished it meanwhile
        return None
    try:
        found = find()
        if len(found) > 1:
            links.settle(conn, link.link_id, state="unknown")
            links.mark_outcome(conn, item["plan_item_id"], "unknown")
            tally.unknown.append(f"{label}: {len(found)} {noun}s carry its key")
            return None
        made = found[0] if found else create()
        if furnish is not None:
            furnish(made)
    except Rejected as exc:
        links.mark_outcome(conn, item["plan_item_id"], "rejected")
        refused.append(f"{label}: {exc}")
        if warn:
            log.warning("%s: the project tool refused: %s", label, exc)
        return None
    except UnknownOutcome as exc:
        links.mark_outcome(conn, item["plan_item_id"], "unknown")
        tally.unknown.append(f"{label}: {exc}")
        if warn:
            log.warning("%s: outcome unknown, the next run looks its key up first: %s", label, exc)
        return None
    pm_id, pm_url = address(made)
    links.settle(conn, link.link_id, state="active", pm_id=pm_id, pm_url=pm_url)
    if settled is not None:
        settled(made)
    links.mark_outcome(conn, item["plan_item_id"], "adopted" if found else "done")
    if found:
        tally.adopted += 1
    else:
        tally.created += 1
    return made
