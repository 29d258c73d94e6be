"""Read the next pages while the current one is being loaded.

A window load alternates two waits: the vendor's answer (network, the vendor's own work, JSON
parsing) and Postgres (COPY). Reading pages in a background thread, at most ``depth`` pages ahead,
overlaps the two, so a load costs about the longer of them instead of their sum; memory stays
bounded by ``depth`` pages.

The reader thread is the only one that touches the page iterator (the HTTP session, the readers'
state): it also closes it, so a load that stops early (a database error, an interrupt) ends the
reading cleanly. An exception raised while reading is re-raised in the loading thread, as it was
raised, at the point of the page that failed: pages read before it are loaded first, exactly as
without prefetching.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_PAGE, _END, _ERROR = "page", "end", "error"
_POLL_SECONDS = 0.2
_JOIN_SECONDS = 30.0
"""How long a load that stopped early waits for the reader to notice (a request in flight finishes first)."""


class Prefetched(Generic[T]):
    """Iterate ``pages`` through a reader thread that stays at most ``depth`` items ahead."""

    def __init__(self, pages: Iterator[T], *, depth: int = 1, name: str = "page-reader") -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._pages, self._depth, self._name = pages, depth, name

    def __iter__(self) -> Iterator[T]:
        slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=self._depth)
        stop = threading.Event()

        def offer(kind: str, value: object) -> bool:
            """Queue one item, giving up when the loading side has stopped."""
            while not stop.is_set():
                try:
                    slots.put((kind, value), timeout=_POLL_SECONDS)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for page in self._pages:
                    if not offer(_PAGE, page):
                        return
                offer(_END, None)
            except BaseException as error:  # handed to the loading thread, which raises it
                offer(_ERROR, error)
            finally:
                close = getattr(self._pages, "close", None)
                if close is not None:
                    close()

        reader = threading.Thread(target=read, name=self._name, daemon=True)
        reader.start()
        try:
            while True:
                kind, value = slots.get()
                if kind == _PAGE:
                    yield value  # type: ignore[misc]
                elif kind == _END:
                    return
                else:
                    assert isinstance(value, BaseException)
                    raise value
        finally:
            stop.set()
            reader.join(_JOIN_SECONDS)
