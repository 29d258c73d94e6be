"""Pages read ahead in a thread: same pages, same order, same errors, bounded, closed when the load stops."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from passerelle.connectors.prefetch import Prefetched
from passerelle.errors import BadRecordError


def test_every_page_arrives_in_order() -> None:
    assert list(Prefetched(iter(range(1000)), depth=3)) == list(range(1000))


def test_the_reader_stays_at_most_depth_pages_ahead() -> None:
    produced: list[int] = []

    def pages() -> Iterator[int]:
        for number in range(50):
            produced.append(number)
            yield number

    iterator = iter(Prefetched(pages(), depth=2))
    assert next(iterator) == 0
    time.sleep(0.5)  # ample time for the reader to run ahead if it could
    # page 0 handed over, pages 1-2 queued, page 3 read and waiting for a free slot
    assert len(produced) <= 4, produced
    assert list(iterator) == list(range(1, 50))


def test_an_error_while_reading_comes_after_the_pages_before_it_with_its_own_type() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise BadRecordError("crm", "deals", "42", "missing primary key field 'id'")

    received: list[int] = []
    with pytest.raises(BadRecordError, match="missing primary key field 'id'"):
        for page in Prefetched(pages()):
            received.append(page)
    assert received == [1, 2]


def test_a_load_that_stops_early_closes_the_pages_in_the_reader_thread() -> None:
    closed_in: list[str] = []

    def pages() -> Iterator[int]:
        try:
            for number in range(10_000):
                yield number
        finally:
            closed_in.append(threading.current_thread().name)

    with pytest.raises(RuntimeError, match="COPY failed"):
        for page in Prefetched(pages(), name="crm.deals reader"):
            if page == 3:
                raise RuntimeError("COPY failed")
    assert closed_in == ["crm.deals reader"]
    assert not any(t.name == "crm.deals reader" for t in threading.enumerate())


def test_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        Prefetched(iter(()), depth=0)
