"""The emulators' shared record store: stamps, tombstones, the modification index, versions, threads."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timezone
from typing import Any

import pytest
from sortedcontainers import SortedList

from passerelle_sandbox.clock import VirtualClock, epoch_ms, parse_instant
from passerelle_sandbox.store import NO_STAMPS, Collection, Stamps, VersionConflict

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SF = Stamps(modified="SystemModstamp", modified_by="LastModifiedById", created="CreatedDate",
            created_by="CreatedById", version="Version")


def store(stamps: Stamps = SF, **options: object) -> tuple[Collection, VirtualClock]:
    clock = VirtualClock(T0)
    return Collection(stamps, clock, **options), clock  # type: ignore[arg-type]


def ids(records: list[dict]) -> list[str]:
    return [r["id"] for r in records]


def test_writes_stamp_the_vendor_fields_from_the_sandbox_clock() -> None:
    accounts, clock = store()
    record = accounts.insert({"id": "001A", "Name": "Acme"}, by="005U1")
    assert record == {"id": "001A", "Name": "Acme", "CreatedDate": "2026-03-02T09:00:00.000Z", "CreatedById": "005U1",
                      "SystemModstamp": "2026-03-02T09:00:00.000Z", "LastModifiedById": "005U1", "Version": 1}
    clock.advance(90.5)
    same = accounts.update("001A", {"Name": "Acme SA"}, by="005U2")
    assert same is record and record["Name"] == "Acme SA"
    assert record["SystemModstamp"] == "2026-03-02T09:01:30.500Z" and record["LastModifiedById"] == "005U2"
    assert record["CreatedDate"] == "2026-03-02T09:00:00.000Z" and record["CreatedById"] == "005U1"
    assert accounts.modified("001A") == "2026-03-02T09:01:30.500Z" and accounts.modified_by("001A") == "005U2"
    assert accounts.version("001A") == record["Version"] == 2


def test_a_vendor_renders_stamps_its_own_way_and_truncates_to_its_precision() -> None:
    as_ms = Stamps(modified="updated", render=lambda s: epoch_ms(parse_instant(s)), precision_ms=1000,
                   parse=lambda ms: "2026-03-01T00:00:00.000Z" if ms == 0 else "2026-03-01T00:00:01.000Z")
    cards, clock = store(as_ms)
    cards.load([{"id": "a", "updated": 0}, {"id": "b", "updated": 1}])
    assert ids(cards.changed_since("2026-03-01T00:00:00.500Z")) == ["b"]
    clock.advance(1.75)
    card = cards.update("a")
    assert card["updated"] == epoch_ms(datetime(2026, 3, 2, 9, 0, 1, tzinfo=timezone.utc))
    assert cards.modified("a") == "2026-03-02T09:00:01.000Z"


def test_nested_stamps_and_a_text_version_counter_starting_at_zero() -> None:
    qbo = Stamps(modified="MetaData.LastUpdatedTime", modified_by="MetaData.LastModifiedByRef", version="SyncToken",
                 first_version=0, render_version=str)
    invoices, clock = store(qbo, key="Id", order=int)
    invoices.load([{"Id": "7", "SyncToken": "3", "MetaData": {"LastUpdatedTime": "2026-03-01T08:00:00.000Z"}}])
    created = invoices.insert({"Id": "8", "MetaData": {"CreateTime": "2026-03-02T09:00:00.000Z"}}, by={"value": "u"})
    assert created == {"Id": "8", "SyncToken": "0", "MetaData": {
        "CreateTime": "2026-03-02T09:00:00.000Z", "LastUpdatedTime": "2026-03-02T09:00:00.000Z",
        "LastModifiedByRef": {"value": "u"}}}
    clock.advance(5)
    seeded = invoices.update("7", if_version=3)
    assert seeded["SyncToken"] == "4" and seeded["MetaData"]["LastUpdatedTime"] == "2026-03-02T09:00:05.000Z"
    assert [r["Id"] for r in invoices.changed_since("2026-03-02T09:00:00.000Z")] == ["8", "7"]


def test_changed_since_answers_by_modification_time_then_id_with_the_bounds_asked() -> None:
    deals, clock = store(order=int)
    for n in (10, 9, 100):
        deals.insert({"id": str(n)})
    clock.advance(60)
    deals.insert({"id": "2"})
    deals.update("100")
    first, second = "2026-03-02T09:00:00.000Z", "2026-03-02T09:01:00.000Z"
    assert ids(deals.changed_since(None)) == ["9", "10", "2", "100"]  # numeric ids order numerically
    assert ids(deals.changed_since(first)) == ["9", "10", "2", "100"]
    assert ids(deals.changed_since(first, inclusive=False)) == ["2", "100"]
    assert ids(deals.changed_between(first, second)) == ["9", "10"]
    assert ids(deals.changed_between(first, second, high_inclusive=True, low_inclusive=False)) == ["2", "100"]
    assert ids(deals.changed_since(first, reverse=True)) == ["100", "2", "10", "9"]
    assert deals.count_between(first, second) == 2 and deals.count_between(second) == 2
    assert ids(deals.values()) == ["10", "9", "100", "2"]  # insertion order for plain listings


def test_pages_split_exactly_between_records_sharing_one_stamp() -> None:
    leads, clock = store()
    for n in range(7):
        leads.insert({"id": f"L{n}"})  # a frozen clock: all seven share one stamp
    clock.advance(1)
    leads.insert({"id": "L7"})
    pages, after = [], None
    while True:
        page = leads.changed_since("2026-03-02T09:00:00.000Z", after=after, limit=3)
        if not page:
            break
        pages.append(ids(page))
        after = leads.position(page[-1]["id"])
    assert pages == [["L0", "L1", "L2"], ["L3", "L4", "L5"], ["L6", "L7"]]
    leads.update("L1")  # a record changed mid-scan moves behind the cursor, to be read again later
    assert ids(leads.changed_since(None, after=leads.position("L5"))) == ["L6", "L1", "L7"]
    backwards = leads.changed_since(None, reverse=True, after=leads.position("L4"), limit=2)
    assert ids(backwards) == ["L3", "L2"]


def test_a_delete_leaves_a_tombstone_for_the_deletes_feed_and_restore_brings_it_back() -> None:
    tasks, clock = store()
    for n in range(3):
        tasks.insert({"id": f"t{n}", "name": f"task {n}"})
    clock.advance(30)
    gone = tasks.delete("t1", by="u9", type="recycle")
    assert "t1" not in tasks and tasks.get("t1") is None and len(tasks) == 2
    assert (gone.id, gone.deleted_at, gone.deleted_by, gone.info) == ("t1", "2026-03-02T09:00:30.000Z", "u9",
                                                                      {"type": "recycle"})
    assert gone.record["name"] == "task 1" and tasks.tombstone("t1") is gone
    assert ids(tasks.changed_since(None)) == ["t0", "t2"]  # a deleted record is no longer a change
    assert [t.id for t in tasks.deleted_since("2026-03-02T09:00:30.000Z")] == ["t1"]
    assert tasks.deleted_since("2026-03-02T09:00:30.000Z", inclusive=False) == []
    assert tasks.deleted_between(None, "2026-03-02T09:00:30.000Z") == []
    clock.advance(30)
    back = tasks.restore("t1", by="u1")
    assert back["SystemModstamp"] == "2026-03-02T09:01:00.000Z" and back["LastModifiedById"] == "u1"
    assert tasks.tombstone("t1") is None and tasks.deleted_since(None) == []
    assert ids(tasks.changed_since("2026-03-02T09:01:00.000Z")) == ["t1"] and back["Version"] == 2
    with pytest.raises(KeyError):
        tasks.restore("t1")
    assert tasks.purge("t0")["id"] == "t0" and "t0" not in tasks and tasks.tombstone("t0") is None


def test_versions_refuse_a_stale_write() -> None:
    items, _ = store()
    items.insert({"id": "i1", "qty": 1})
    seen = items.version("i1")
    items.update("i1", {"qty": 2}, if_version=seen)
    with pytest.raises(VersionConflict) as conflict:
        items.update("i1", {"qty": 3}, if_version=seen)
    assert (conflict.value.expected, conflict.value.current) == (1, 2) and items["i1"]["qty"] == 2
    with pytest.raises(VersionConflict):
        items.delete("i1", if_version=seen)
    assert "i1" in items
    items.delete("i1", if_version=2)
    assert items.tombstone("i1") is not None


def test_seeded_records_keep_their_stamps_and_inserting_twice_is_refused() -> None:
    zoho = Stamps(modified="Modified_Time", modified_by="Modified_By")
    contacts, _ = store(zoho, order=int)
    contacts.load([{"id": "5", "Modified_Time": "2026-01-05T10:00:00+01:00", "Modified_By": {"id": "1"}},
                   {"id": "40", "Modified_Time": "2026-01-05T08:59:59Z"}])
    assert contacts.modified("5") == "2026-01-05T09:00:00.000Z" and contacts.modified_by("5") == {"id": "1"}
    assert ids(contacts.changed_since("2026-01-05T09:00:00Z")) == ["5"]
    with pytest.raises(KeyError):
        contacts.insert({"id": "5"})


def test_eight_threads_writing_at_once_leave_index_and_records_consistent() -> None:
    issues, clock = store()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        rng = random.Random(worker)
        try:
            mine = [f"w{worker}-{n}" for n in range(150)]
            for record_id in mine:
                issues.insert({"id": record_id})
            for _ in range(300):
                record_id = rng.choice(mine)
                if record_id in issues:
                    issues.update(record_id, {"worker": worker}, by=worker)
                if rng.random() < 0.1:
                    clock.advance(0.001)
            for record_id in mine[:50]:
                issues.delete(record_id, by=worker)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(issues) == 8 * 100 and len(issues.tombstones()) == 8 * 50
    changed = issues.changed_since(None)
    assert sorted(ids(changed)) == sorted(r["id"] for r in issues.values())
    stamps = [(issues.modified(r["id"]), r["id"]) for r in changed]
    assert stamps == sorted(stamps) and all(r["SystemModstamp"] == s for r, (s, _) in zip(changed, stamps))
    assert all(r["Version"] == issues.version(r["id"]) for r in changed)
    assert len(issues.deleted_since(None)) == 400


class _CountedIndex(SortedList):
    """The store's index, counting the entries a query reads and whole walks over it."""

    read = walks = 0

    def islice(self, *args: Any, **kwargs: Any) -> Any:
        entries = list(super().islice(*args, **kwargs))
        self.read += len(entries)
        return iter(entries)

    def __iter__(self) -> Any:
        self.walks += 1
        return super().__iter__()


class _CountedRecords(dict):
    """The store's records, counting lookups."""

    lookups = 0

    def __getitem__(self, key: Any) -> Any:
        self.lookups += 1
        return super().__getitem__(key)


def test_a_page_costs_log_n_plus_page_not_a_scan() -> None:
    big, clock = store(Stamps(modified="m"))
    big.load({"id": f"r{n:06d}", "m": f"2026-03-02T09:{n // 6000 % 60:02d}:{n // 100 % 60:02d}.{n % 100:03d}Z"}
             for n in range(200_000))
    big._index, big._records = _CountedIndex(big._index), _CountedRecords(big._records)
    page = big.changed_since("2026-03-02T09:20:00.000Z", limit=100)
    assert len(page) == 100 and page[0]["m"] >= "2026-03-02T09:20:00.000Z"
    assert sorted(r["m"] for r in big.values() if r["m"] >= "2026-03-02T09:20:00.000Z")[:100] == [r["m"] for r in page]
    # the page read 100 index entries (found by bisection) and 100 records, never walking the 200,000
    assert (big._index.read, big._index.walks, big._records.lookups) == (100, 0, 100)
    assert big.count_between("2026-03-02T09:20:00.000Z") == sum(
        1 for r in big.values() if r["m"] >= "2026-03-02T09:20:00.000Z")
    assert big._index.read == 100 and big._index.walks == 0


def test_collections_sharing_a_sequence_never_hand_out_the_same_version_twice() -> None:
    clock, counter = VirtualClock(T0), iter(range(1, 1000))
    plans = Collection(NO_STAMPS, clock, sequence=counter.__next__)
    tasks = Collection(NO_STAMPS, clock, sequence=counter.__next__)
    plans.load([{"id": "p1"}, {"id": "p2"}])
    tasks.insert({"id": "t1"})
    plans.update("p1")
    assert [plans.version("p1"), plans.version("p2"), tasks.version("t1")] == [4, 2, 3]
    with pytest.raises(VersionConflict):
        tasks.update("t1", if_version=1)
    assert tasks.update("t1", if_version=3) is tasks["t1"] and tasks.version("t1") == 5
    assert tasks["t1"] == {"id": "t1"}  # no stamps declared: the record itself is left alone


def test_an_in_place_delete_keeps_the_row_readable_and_feeds_the_deletes() -> None:
    sf = Stamps(modified="SystemModstamp", deleted_flag="IsDeleted")
    contacts, clock = store(sf)
    contacts.load([{"id": "003A", "SystemModstamp": "2026-03-01T00:00:00.000Z", "IsDeleted": True},
                   {"id": "003B", "SystemModstamp": "2026-03-01T00:00:00.000Z", "IsDeleted": False}])
    assert [t.id for t in contacts.deleted_since(None)] == ["003A"]  # a seeded deleted row is a tombstone too
    clock.advance(60)
    gone = contacts.delete("003B")
    row = contacts["003B"]
    assert gone.record is row and row["IsDeleted"] is True and row["SystemModstamp"] == "2026-03-02T09:01:00.000Z"
    assert [r["id"] for r in contacts.values()] == ["003A", "003B"]  # queryAll still reads both
    assert [t.id for t in contacts.deleted_between("2026-03-02T09:00:00.000Z", "2026-03-02T09:02:00.000Z")] == ["003B"]
    contacts.restore("003B")
    assert row["IsDeleted"] is False and contacts.tombstone("003B") is None
    contacts.purge("003A")
    assert "003A" not in contacts and contacts.deleted_since(None) == []


def test_rollback_puts_rows_stamps_and_tombstones_back_keeping_row_identity() -> None:
    deals, clock = store()
    first = deals.insert({"id": "d1", "Amount": 10})
    deals.insert({"id": "d2"})
    saved = deals.snapshot()
    clock.advance(5)
    deals.update("d1", {"Amount": 99})
    deals.delete("d2")
    deals.insert({"id": "d3"})
    deals.rollback(saved)
    assert deals["d1"] is first and first["Amount"] == 10 and first["SystemModstamp"] == "2026-03-02T09:00:00.000Z"
    assert sorted(deals.keys()) == ["d1", "d2"] and deals.tombstones() == [] and deals.version("d1") == 1
    assert [r["id"] for r in deals.changed_since("2026-03-02T09:00:00.000Z")] == ["d1", "d2"]


def test_an_archive_in_place_can_leave_the_modification_stamp_alone_and_show_its_time() -> None:
    hubspot = Stamps(modified="properties.hs_lastmodifieddate",
                     modified_also=("updatedAt", "properties.lastmodifieddate"),
                     deleted_flag="archived", deleted_at="archivedAt", delete_touches=False)
    companies, clock = store(hubspot, order=int)
    companies.load([
        {"id": "7", "properties": {"hs_lastmodifieddate": "2026-03-01T00:00:00.000Z"}, "updatedAt": None},
        {"id": "9", "properties": {"hs_lastmodifieddate": "2026-03-01T00:00:00.000Z"}, "archived": True,
         "archivedAt": "2026-03-01T12:00:00.000Z"},
    ])
    assert [(t.id, t.deleted_at) for t in companies.deleted_since(None)] == [("9", "2026-03-01T12:00:00.000Z")]
    clock.advance(30)
    touched = companies.update("7")
    assert touched["updatedAt"] == touched["properties"]["hs_lastmodifieddate"] == "2026-03-02T09:00:30.000Z"
    assert "lastmodifieddate" not in touched["properties"]  # written only where the record shows it
    clock.advance(30)
    version = companies.version("7")
    companies.delete("7")
    assert touched["archived"] is True and touched["archivedAt"] == "2026-03-02T09:01:00.000Z"
    assert touched["updatedAt"] == "2026-03-02T09:00:30.000Z" and companies.version("7") == version
    assert ids(companies.changed_since("2026-03-02T09:00:00.000Z")) == ["7"]  # kept its place in the index
    companies.restore("7")
    assert touched["archived"] is False and "archivedAt" not in touched


def test_a_delete_under_a_shared_sequence_draws_the_next_version_for_its_tombstone() -> None:
    clock, counter = VirtualClock(T0), iter(range(1, 1000))
    accounts = Collection(Stamps(version="versionnumber"), clock, sequence=counter.__next__)
    contacts = Collection(Stamps(version="versionnumber"), clock, sequence=counter.__next__)
    accounts.load([{"id": "a1", "versionnumber": 40}])
    contacts.insert({"id": "c1"})
    gone = accounts.delete("a1")
    contacts.update("c1")
    assert (gone.version, contacts.version("c1")) == (2, 3)
