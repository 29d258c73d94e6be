"""The snapshot-diff reader: for APIs that cannot filter by modification time.

Each run lists everything and compares it with the previous listing kept in the stream state
(``state["snapshot"] = {id: [content hash, version time, *extra]}``):

- new or changed records are emitted, stamped with a version time (by default the window end, so a
  rerun of the same window yields the same version, and nothing once the state is up to date);
- unchanged records are skipped;
- records no longer listed become tombstones ``{id, "deleted": true, <version field>}``;
- a listing that misses more than ``max_missing_ratio`` of the known records is refused rather than
  read as mass deletion (a permission change or a truncated answer looks exactly like that).

The hash is SHA-256 of the record's canonical exact JSON (Decimal-safe, key-order independent).
State saved by earlier readers (``hashes`` of SHA-1 fingerprints, ``versions`` lists) is read once
and rewritten under ``snapshot``, so a warehouse with saved state neither re-emits every record nor
loses a deletion.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from passerelle import exact_json
from passerelle.connectors.spec import RawPage, StreamSpec
from passerelle.errors import SourceUnavailableError
from passerelle.records import Window

log = logging.getLogger(__name__)

STATE_KEY = "snapshot"
VERSION_FIELD = "observedAt"
HOUSEKEEPING = "_passerelle"
"""Payload key Passerelle adds to a record (version stamps): never part of its content hash."""
_LEGACY_SHA1 = "sha1:"

Entry = list[Any]
Listing = Iterable[tuple[list[Any], str]]


def content_hash(item: dict[str, Any]) -> str:
    """SHA-256 (20 hex digits) of the record's canonical exact JSON, without Passerelle's stamps."""
    text = exact_json.canonical({k: v for k, v in item.items() if k != HOUSEKEEPING})
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _legacy_sha1(item: dict[str, Any]) -> str:
    return hashlib.sha1(exact_json.canonical(item).encode()).hexdigest()[:20]


def same_content(entry: Entry | None, item: dict[str, Any], digest: str) -> bool:
    """Whether a saved entry holds this content (a migrated SHA-1 fingerprint is compared as such)."""
    if not entry:
        return False
    saved = str(entry[0])
    if saved.startswith(_LEGACY_SHA1):
        return saved[len(_LEGACY_SHA1):] == _legacy_sha1(item)
    return saved == digest


def load_state(state: dict[str, Any]) -> dict[str, Entry]:
    """The saved snapshot, migrating the earlier layouts (read once: the old key is removed)."""
    entries: dict[str, Entry] = {str(k): list(v) for k, v in (state.get(STATE_KEY) or {}).items()}
    for key, digest in (state.pop("hashes", None) or {}).items():  # {id: sha1 fingerprint}
        entries.setdefault(str(key), [_LEGACY_SHA1 + str(digest), None])
    for key, entry in (state.pop("versions", None) or {}).items():  # {id: [sha256, version_at, extra]}
        entries.setdefault(str(key), [entry[0], *entry[1:2], *[e for e in entry[2:] if e is not None]])
    return entries


MIN_KNOWN = 20
"""Below this many known records, any share may go missing: a small stream really can lose most of them."""


def refuse_mass_deletion(what: str, missing: int, known: int, ratio: float, *, noun: str = "records",
                         min_known: int = MIN_KNOWN, hint: str = "partial answer or lost permission?",
                         setting: str = "the missing ratio") -> None:
    """Raise when ``what`` lacks more than ``ratio`` of the ``known`` records: a truncated answer or a lost
    permission looks exactly like a mass deletion, so the window fails instead of deleting them."""
    if known >= min_known and missing > ratio * known:
        raise SourceUnavailableError(f"{what} misses {missing} of {known} known {noun}; refusing to delete them "
                                     f"({hint}). Raise {setting} if they were really deleted")


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def window_end(window: Window, item: dict[str, Any], previous: Entry | None) -> str:
    """Default version time: the window end."""
    return iso(window.end)


def observed_at(item: dict[str, Any], version: str, digest: str) -> dict[str, Any]:
    """Default stamp: a copy of the record with ``observedAt`` = its version time."""
    return {**item, VERSION_FIELD: version}


@dataclass(frozen=True)
class SnapshotDiff:
    """How a stream without modification times is versioned (see the module doc).

    ``version_time(window, item, previous entry)`` and ``stamp(item, version, digest)`` let a source
    keep its own payload shape; ``min_known`` spares tiny listings from the missing-ratio guard.
    """

    id_field: str = "id"
    version_time: Callable[[Window, dict[str, Any], Entry | None], str] = window_end
    stamp: Callable[[dict[str, Any], str, str], dict[str, Any]] = observed_at
    max_missing_ratio: float = 0.5
    min_known: int = MIN_KNOWN
    tombstones: bool = True
    """False for streams whose absences are not deletions (a listing scoped to what is visible now)."""

    def tombstone(self, key: str, window: Window) -> dict[str, Any]:
        return {self.id_field: key, "deleted": True, VERSION_FIELD: iso(window.end)}

    def diff(self, listing: Listing, stream: str, window: Window, state: dict[str, Any],
             max_missing_ratio: float | None = None) -> Iterator[RawPage]:
        """Pages of changed records, then tombstones; ``state`` is rewritten only once the listing
        is complete (a failed run leaves the saved snapshot as it was)."""
        previous = load_state(state)
        current: dict[str, Entry] = {}
        for items, location in listing:
            changed = []
            for item in items:
                key = item.get(self.id_field) if isinstance(item, dict) else None
                if key is None or key == "" or not isinstance(key, (str, int)) or isinstance(key, bool):
                    changed.append(item)  # the engine names it as a bad record
                    continue
                digest = content_hash(item)
                before = current.get(str(key)) or previous.get(str(key))  # listed twice: compared with the first
                if same_content(before, item, digest):
                    assert before is not None
                    current[str(key)] = [digest, *before[1:]]
                    continue
                version = self.version_time(window, item, before)
                current[str(key)] = [digest, version]
                changed.append(self.stamp(item, version, digest))
            if changed:
                yield RawPage(changed, location)
        gone = sorted(set(previous) - set(current), key=lambda k: (len(k), k)) if self.tombstones else []
        ratio = self.max_missing_ratio if max_missing_ratio is None else max_missing_ratio
        refuse_mass_deletion(f"{stream}: the listing", len(gone), len(previous), ratio, min_known=self.min_known)
        if gone:
            log.info("%s: %d records no longer listed become tombstones", stream, len(gone))
            yield RawPage([self.tombstone(key, window) for key in gone], f"{stream} no longer listed")
        state[STATE_KEY] = current


@dataclass(frozen=True)
class SnapshotReader:
    """A stream reader diffing a full listing: ``listing(session, stream name)`` yields ``(items, location)``."""

    listing: Callable[[Any, str], Listing]
    diff: SnapshotDiff = SnapshotDiff()
    ratio_option: str | None = None
    """Connection extra overriding ``max_missing_ratio`` (read through ``session.option``)."""

    def pages(self, session: Any, stream: StreamSpec, window: Window, state: dict[str, Any]) -> Iterator[RawPage]:
        ratio = None
        if self.ratio_option is not None:
            value = session.option(self.ratio_option, None)
            ratio = None if value is None else float(value)
        yield from self.diff.diff(self.listing(session, stream.name), stream.name, window, state, ratio)
