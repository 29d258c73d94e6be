"""Record stores for the vendor emulators: live records, tombstones and "changed since" in one place.

Every emulator keeps objects that carry a modification stamp, a who-modified stamp, sometimes a
version counter, and loses them to deletes that a deletes feed still reports. A :class:`Collection`
holds one object type as plain dicts (the vendor's own field names) plus metadata kept beside them:

- each write goes through the collection, which stamps the record from the sandbox clock and writes
  the stamp into the vendor's fields as declared by :class:`Stamps` (``SystemModstamp``/
  ``LastModifiedById``, ``Modified_Time``/``Modified_By``, ``updated``...);
- ``changed_since`` / ``changed_between`` read an index ordered by (modified, id), so an incremental
  read or a page costs O(log n + page) rather than a scan; a keyset ``after`` resumes a page exactly
  between records that share a stamp;
- a delete moves the record to a tombstone (deletion time, who deleted, vendor extras) indexed by
  (deleted, id) for the deletes feed, or flags it in place where the vendor keeps deleted records
  readable; ``restore`` brings it back for vendors with a recycle bin, ``purge`` deletes for good;
- a version counter, per record or drawn from a shared sequence, serves optimistic concurrency
  (``If-Match`` → 412) through :class:`VersionConflict`; ``snapshot``/``rollback`` serve all-or-none
  requests.

Stamps are canonical UTC text (see :mod:`passerelle_sandbox.clock`), so the index compares strings.
A collection is safe to use from the server's threads; emulators that change several collections in
one request pass their own re-entrant lock so the whole change is atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sortedcontainers import SortedList

from passerelle_sandbox.clock import VirtualClock, canonical, canonicalize, epoch_ms, from_epoch_ms

Record = dict[str, Any]
ABOVE = "\uffff"
"""Appended to a canonical stamp, sorts after every index entry with that stamp (stamps are fixed-width ASCII)."""


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Stamps:
    """Where a vendor shows the stamps the store keeps, and how.

    Fields are record keys, or dotted paths into nested objects (``MetaData.LastUpdatedTime``); those
    left ``None`` are not written. ``render`` turns a canonical stamp into the stored field value and
    ``parse`` reads a seeded record's field back to canonical text. ``precision_ms`` truncates the
    clock (Zoho keeps seconds). A new record's version is ``first_version`` (QuickBooks' ``SyncToken``
    starts at 0), shown through ``render_version``. ``deleted_flag`` names the field of vendors whose
    deleted records stay readable in place (Salesforce's ``IsDeleted``): a delete sets it and re-stamps
    the record, which keeps its place among the records while its tombstone feeds the deletes;
    ``deleted_at`` shows the deletion time on such a record, and ``delete_touches=False`` leaves its
    modification stamp alone (HubSpot's archive never moves ``hs_lastmodifieddate``).
    ``modified_also`` are further fields showing the modification stamp, written where the record has
    them (HubSpot's ``updatedAt`` beside the ``hs_lastmodifieddate`` property).
    """

    modified: str | None = None
    modified_by: str | None = None
    created: str | None = None
    created_by: str | None = None
    version: str | None = None
    render: Callable[[str], Any] = _same
    parse: Callable[[Any], str] = canonicalize
    precision_ms: int = 1
    first_version: int = 1
    render_version: Callable[[int], Any] = _same
    deleted_flag: str | None = None
    deleted_at: str | None = None
    delete_touches: bool = True
    modified_also: tuple[str, ...] = ()


NO_STAMPS = Stamps()
"""For objects that show no stamps: the store still keeps their versions and tombstones."""


@dataclass
class Tombstone:
    """A deleted record as the deletes feed (or recycle bin) still knows it."""

    id: str
    record: Record
    deleted_at: str
    deleted_by: Any = None
    info: Record = field(default_factory=dict)
    version: int = 0


class VersionConflict(Exception):
    """The caller's expected version is not the record's current one (HTTP 412 for most vendors)."""

    def __init__(self, record_id: str, expected: int, current: int) -> None:
        super().__init__(f"{record_id}: expected version {expected}, current {current}")
        self.record_id, self.expected, self.current = record_id, expected, current


@dataclass
class _Meta:
    modified: str
    modified_by: Any = None
    version: int = 1


@dataclass(frozen=True)
class Saved:
    """A :meth:`Collection.snapshot`."""

    records: dict[str, Record]
    meta: dict[str, _Meta]
    tombstones: dict[str, Tombstone]


class Collection:
    """One object type's records, their metadata, tombstones and modification index."""

    def __init__(
        self, stamps: Stamps, clock: VirtualClock, *, key: str = "id",
        order: Callable[[str], Any] = str, lock: threading.RLock | None = None,
        sequence: Callable[[], int] | None = None, id_of: Callable[[Any], Any] = str,
    ) -> None:
        """``order`` sorts ids within one stamp (``int`` for numeric ids); ``sequence``, when given, draws
        every new version from a counter shared with other collections (Planner's ETags, org-wide row
        versions) instead of counting per record; ``id_of`` is how records are keyed (Pipedrive: ``int``)."""
        self.stamps, self.clock, self.key, self.order, self.id_of = stamps, clock, key, order, id_of
        self.sequence = sequence
        self.lock = lock if lock is not None else threading.RLock()
        self._records: dict[str, Record] = {}
        self._meta: dict[str, _Meta] = {}
        self._index: SortedList = SortedList()
        self._tombstones: dict[str, Tombstone] = {}
        self._deleted_index: SortedList = SortedList()

    # ------------------------------------------------------------------------------ reads

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._records

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._records))

    def __getitem__(self, record_id: str) -> Record:
        return self._records[record_id]

    def get(self, record_id: str, default: Record | None = None) -> Record | None:
        return self._records.get(record_id, default)

    def keys(self) -> list[str]:
        with self.lock:
            return list(self._records)

    def values(self) -> list[Record]:
        """Live records in insertion order (a list, so callers may write while iterating)."""
        with self.lock:
            return list(self._records.values())

    def items(self) -> list[tuple[str, Record]]:
        with self.lock:
            return list(self._records.items())

    def modified(self, record_id: str) -> str:
        return self._meta[record_id].modified

    def modified_by(self, record_id: str) -> Any:
        return self._meta[record_id].modified_by

    def version(self, record_id: str) -> int:
        return self._meta[record_id].version

    def position(self, record_id: str) -> tuple[str, Any, str]:
        """The record's place in the modification index: resume a page ``after`` it."""
        return self._entry(record_id, self._meta[record_id].modified)

    # ----------------------------------------------------------------------- changed since

    def changed_between(
        self, low: str | None = None, high: str | None = None, *, low_inclusive: bool = True,
        high_inclusive: bool = False, after: tuple[str, Any, str] | None = None, limit: int | None = None,
        reverse: bool = False,
    ) -> list[Record]:
        """Live records with ``low ≤ modified < high`` (bounds as asked), by (modified, id).

        ``after`` (a :meth:`position`) starts strictly after that record, so pages split exactly even
        where many records share one stamp; ``limit`` caps the answer without reading further.
        """
        with self.lock:
            ids = _window(self._index, low, high, low_inclusive, high_inclusive, after, limit, reverse)
            return [self._records[i] for i in ids]

    def changed_since(self, moment: str | None, *, inclusive: bool = True, **paging: Any) -> list[Record]:
        return self.changed_between(moment, None, low_inclusive=inclusive, **paging)

    def count_between(self, low: str | None = None, high: str | None = None, *, low_inclusive: bool = True,
                      high_inclusive: bool = False) -> int:
        """How many live records a :meth:`changed_between` without a limit would answer, in O(log n)."""
        with self.lock:
            start, end = _bounds(self._index, low, high, low_inclusive, high_inclusive)
            return max(0, end - start)

    # ----------------------------------------------------------------------------- writes

    def load(self, records: Iterable[Record], by: Any = None) -> None:
        """Seed records as they are: their own stamps (read through ``Stamps.parse``) are kept.

        The index is sorted once for the whole batch, so seeding a million records stays quick.
        """
        stamps, flag, now = self.stamps, self.stamps.deleted_flag, self.clock.now_text()
        first, sequence, order, id_of, key = stamps.first_version, self.sequence, self.order, self.id_of, self.key
        with self.lock:
            entries, buried = [], []
            for record in records:
                record_id = id_of(record[key])
                stamp = self._seeded_stamp(record, now)
                who = _read(record, stamps.modified_by) if stamps.modified_by else by
                version = _read(record, stamps.version) if stamps.version else None
                if version is None:
                    version = sequence() if sequence else first
                meta = _Meta(stamp, who, _version(version, first))
                self._records[record_id], self._meta[record_id] = record, meta
                entries.append((stamp, order(record_id), record_id))
                if flag and record.get(flag):
                    when = _read(record, stamps.deleted_at) if stamps.deleted_at else None
                    deleted = stamp if when is None else stamps.parse(when)
                    buried.append(Tombstone(record_id, record, deleted, None, {}, meta.version))
            self._index.update(entries)
            for tombstone in buried:
                self.bury(tombstone)

    def adopt(self, record: Record) -> Record:
        """Add a new record that carries its own stamps (a control-API create may set them): none rewritten."""
        with self.lock:
            if self.id_of(record[self.key]) in self._records:
                raise KeyError(f"{record[self.key]} already exists")
            self.load([record])
            return record

    def insert(self, record: Record, *, by: Any = None, at: str | None = None) -> Record:
        """Add a new record stamped created and modified now (``at`` overrides the clock)."""
        with self.lock:
            record_id = self.id_of(record[self.key])
            if record_id in self._records:
                raise KeyError(f"{record_id} already exists")
            stamp = self._now(at)
            if self.stamps.created:
                _write(record, self.stamps.created, self.stamps.render(stamp))
            if self.stamps.created_by and by is not None:
                _write(record, self.stamps.created_by, by)
            self._records[record_id] = record
            self._meta[record_id] = _Meta(stamp, by, self.stamps.first_version - 1)
            self._index.add(self._entry(record_id, stamp))
            self._stamp(record_id, stamp, by)
            return record

    def update(
        self, record_id: str, changes: Record | None = None, *, by: Any = None, at: str | None = None,
        if_version: int | None = None,
    ) -> Record:
        """Apply ``changes`` (a shallow merge) and stamp the record modified now by ``by``.

        ``if_version`` refuses the write with :class:`VersionConflict` unless it is the current version.
        A record changed in place by the caller is re-stamped with ``changes=None``.
        """
        with self.lock:
            record = self._records[record_id]
            self.check_version(record_id, if_version)
            if changes:
                record.update(changes)
            self._stamp(record_id, self._now(at), by)
            return record

    touch = update

    def check_version(self, record_id: str, expected: int | None) -> None:
        if expected is not None and expected != self._meta[record_id].version:
            raise VersionConflict(record_id, expected, self._meta[record_id].version)

    def delete(self, record_id: str, *, by: Any = None, at: str | None = None, if_version: int | None = None,
               **info: Any) -> Tombstone:
        """Soft delete: the record leaves the live set and joins the tombstones (``info`` = vendor extras).

        With a ``deleted_flag`` the record stays where it is, flagged and (unless ``delete_touches`` is off)
        stamped modified at its deletion. Under a shared ``sequence`` the tombstone draws the next version,
        so a deletes feed following versions (Dataverse change tracking) places it among the writes.
        """
        with self.lock:
            self.check_version(record_id, if_version)
            stamps = self.stamps
            if stamps.deleted_flag:
                record, stamp = self._records[record_id], self._now(at)
                record[stamps.deleted_flag] = True
                if stamps.deleted_at:
                    _write(record, stamps.deleted_at, stamps.render(stamp))
                if stamps.delete_touches:
                    self._stamp(record_id, stamp, None)
                    version = self._meta[record_id].version
                else:
                    version = self.sequence() if self.sequence else self._meta[record_id].version
                return self.bury(Tombstone(record_id, record, stamp, by, info, version))
            record = self._records.pop(record_id)
            meta = self._meta.pop(record_id)
            self._index.remove(self._entry(record_id, meta.modified))
            version = self.sequence() if self.sequence else meta.version
            return self.bury(Tombstone(record_id, record, self._now(at), by, info, version))

    def purge(self, record_id: str) -> Record:
        """Hard delete: gone without a tombstone (vendors whose deletes leave no trace)."""
        with self.lock:
            if record_id in self._tombstones:
                self.forget(record_id)
            record = self._records.pop(record_id)
            meta = self._meta.pop(record_id)
            self._index.remove(self._entry(record_id, meta.modified))
            return record

    def bury(self, tombstone: Tombstone) -> Tombstone:
        """Keep a tombstone (also for seeded deletes whose record the dataset no longer has)."""
        with self.lock:
            previous = self._tombstones.pop(tombstone.id, None)
            if previous is not None:
                self._deleted_index.remove(self._entry(previous.id, previous.deleted_at))
            self._tombstones[tombstone.id] = tombstone
            self._deleted_index.add(self._entry(tombstone.id, tombstone.deleted_at))
            return tombstone

    def restore(self, record_id: str, *, by: Any = None, at: str | None = None) -> Record:
        """Bring a deleted record back from the recycle bin, stamped modified now."""
        with self.lock:
            tombstone = self.forget(record_id)
            record = tombstone.record
            stamp = self._now(at)
            if self.stamps.deleted_flag:
                record[self.stamps.deleted_flag] = False
                if self.stamps.deleted_at:
                    _drop(record, self.stamps.deleted_at)
                self._stamp(record_id, stamp, by)
                return record
            self._records[record_id] = record
            self._meta[record_id] = _Meta(stamp, by, tombstone.version)
            self._index.add(self._entry(record_id, stamp))
            self._stamp(record_id, stamp, by)
            return record

    def forget(self, record_id: str) -> Tombstone:
        """Drop a tombstone (the vendor's retention ran out, or the bin was emptied)."""
        with self.lock:
            tombstone = self._tombstones.pop(record_id)
            self._deleted_index.remove(self._entry(record_id, tombstone.deleted_at))
            return tombstone

    def snapshot(self) -> Saved:
        """The collection's state, for an all-or-none request to go back to (rows copied one level)."""
        with self.lock:
            return Saved({rid: dict(row) for rid, row in self._records.items()},
                         {rid: _Meta(m.modified, m.modified_by, m.version) for rid, m in self._meta.items()},
                         dict(self._tombstones))

    def rollback(self, saved: Saved) -> None:
        """Go back to ``saved``: rows keep their identity, rows created since disappear."""
        with self.lock:
            for record_id in [r for r in self._records if r not in saved.records]:
                del self._records[record_id]
            for record_id, row in saved.records.items():
                current = self._records.setdefault(record_id, {})
                current.clear()
                current.update(row)
            self._meta = {rid: _Meta(m.modified, m.modified_by, m.version) for rid, m in saved.meta.items()}
            self._index = SortedList(self._entry(rid, m.modified) for rid, m in self._meta.items())
            self._tombstones = dict(saved.tombstones)
            self._deleted_index = SortedList(self._entry(t.id, t.deleted_at) for t in self._tombstones.values())

    def clear(self) -> None:
        with self.lock:
            self._records.clear()
            self._meta.clear()
            self._index.clear()
            self._tombstones.clear()
            self._deleted_index.clear()

    # -------------------------------------------------------------------------- tombstones

    def tombstone(self, record_id: str) -> Tombstone | None:
        return self._tombstones.get(record_id)

    def tombstones(self) -> list[Tombstone]:
        with self.lock:
            return list(self._tombstones.values())

    def deleted_between(
        self, low: str | None = None, high: str | None = None, *, low_inclusive: bool = True,
        high_inclusive: bool = False, after: tuple[str, Any, str] | None = None, limit: int | None = None,
        reverse: bool = False,
    ) -> list[Tombstone]:
        """Tombstones with ``low ≤ deleted < high`` (bounds as asked), by (deleted, id)."""
        with self.lock:
            ids = _window(self._deleted_index, low, high, low_inclusive, high_inclusive, after, limit, reverse)
            return [self._tombstones[i] for i in ids]

    def deleted_since(self, moment: str | None, *, inclusive: bool = True, **paging: Any) -> list[Tombstone]:
        return self.deleted_between(moment, None, low_inclusive=inclusive, **paging)

    # ----------------------------------------------------------------------------- helpers

    def _entry(self, record_id: str, stamp: str) -> tuple[str, Any, str]:
        return (stamp, self.order(record_id), record_id)

    def _now(self, at: str | None) -> str:
        if at is not None:
            return canonicalize(at)
        moment, precision = self.clock.now(), self.stamps.precision_ms
        if precision > 1:
            millis = epoch_ms(moment)
            moment = from_epoch_ms(millis - millis % precision)
        return canonical(moment)

    def _seeded_stamp(self, record: Record, now: str) -> str:
        value = _read(record, self.stamps.modified) if self.stamps.modified else None
        if value is None and self.stamps.created:
            value = _read(record, self.stamps.created)
        return self.stamps.parse(value) if value is not None else now

    def _stamp(self, record_id: str, stamp: str, by: Any) -> None:
        """Move the record to ``stamp`` in the index, bump its version and write the vendor's fields."""
        meta, record = self._meta[record_id], self._records[record_id]
        if meta.modified != stamp:
            self._index.remove(self._entry(record_id, meta.modified))
            self._index.add(self._entry(record_id, stamp))
            meta.modified = stamp
        meta.version = self.sequence() if self.sequence else meta.version + 1
        if by is not None:
            meta.modified_by = by
        if self.stamps.modified:
            _write(record, self.stamps.modified, self.stamps.render(stamp))
        for path in self.stamps.modified_also:
            if _has(record, path):
                _write(record, path, self.stamps.render(stamp))
        if self.stamps.modified_by and by is not None:
            _write(record, self.stamps.modified_by, by)
        if self.stamps.version:
            _write(record, self.stamps.version, self.stamps.render_version(meta.version))


def _read(record: Record, path: str) -> Any:
    if "." not in path:
        return record.get(path)
    value: Any = record
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _write(record: Record, path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        record = record.setdefault(parent, {})
    record[name] = value


def _parent(record: Record, path: str) -> tuple[Record | None, str]:
    """The object holding ``path``'s last field (None where the path breaks off), and that field's name."""
    *parents, name = path.split(".")
    holder: Any = record
    for parent in parents:
        holder = holder.get(parent) if isinstance(holder, dict) else None
    return (holder if isinstance(holder, dict) else None), name


def _has(record: Record, path: str) -> bool:
    holder, name = _parent(record, path)
    return holder is not None and name in holder


def _drop(record: Record, path: str) -> None:
    holder, name = _parent(record, path)
    if holder is not None:
        holder.pop(name, None)


def _version(value: Any, default: int) -> int:
    """A seeded version counter (a number, or its digits as text like ``SyncToken``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else default


def _bounds(index: SortedList, low: str | None, high: str | None, low_inclusive: bool,
            high_inclusive: bool) -> tuple[int, int]:
    low, high = (None if b is None else canonicalize(b) for b in (low, high))
    start = 0 if low is None else index.bisect_left((low,)) if low_inclusive else index.bisect_left((low + ABOVE,))
    end = len(index) if high is None else (index.bisect_left((high + ABOVE,)) if high_inclusive
                                           else index.bisect_left((high,)))
    return start, end


def _window(index: SortedList, low: str | None, high: str | None, low_inclusive: bool, high_inclusive: bool,
            after: tuple[str, Any, str] | None, limit: int | None, reverse: bool) -> list[str]:
    start, end = _bounds(index, low, high, low_inclusive, high_inclusive)
    if after is not None:
        if reverse:
            end = min(end, index.bisect_left(after))
        else:
            start = max(start, index.bisect_right(after))
    if end <= start:
        return []
    if limit is not None:
        if reverse:
            start = max(start, end - limit)
        else:
            end = min(end, start + limit)
    entries = index.islice(start, end, reverse=reverse)
    return [entry[2] for entry in entries]

