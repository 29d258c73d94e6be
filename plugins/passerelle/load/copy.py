"""Stream pages of records into Postgres with COPY, one page in memory at a time.

COPY text format is the fastest way in and needs no client-side row objects, but its escaping
must be exact: a stray backslash or tab in a payload would shift or corrupt columns silently.
Records are validated here too, while each one is touched anyway, so that a bad record fails
with its source, stream and id rather than with a Postgres parse error.

A record whose *content* ``jsonb`` cannot store (NUL, lone surrogate, NaN, a number beyond numeric,
over-deep nesting) raises :class:`UnloadableRecordError`; given a ``quarantine`` callback, the page
encoder hands such records to it and loads the others, so one record never blocks its stream.
Payloads are written with :mod:`passerelle.exact_json`: Decimals keep the digits they came with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import IO, Any

from passerelle import exact_json
from passerelle.errors import BadRecordError
from passerelle.records import Page, Record

COLUMNS = ("record_id", "cursor_value", "is_deleted", "payload")

# jsonb cannot store U+0000; json.dumps writes it as \u0000 (not preceded by another backslash).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


PageCallback = Callable[[int, Page, int, int], None]
"""Called after each page is copied with (page number, page, records in page, records so far)."""


def escape(value: str) -> str:
    """Escape a value for a COPY text-format column (backslash first, so added ones are not doubled).

    Chained ``str.replace`` is several times faster than ``str.translate`` with multi-character
    replacements, which matters at a million records.
    """
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class UnloadableRecordError(BadRecordError):
    """A record whose content ``jsonb`` cannot store: it can be quarantined, the others still load."""

    def __init__(self, source: str, stream: str, record: Record, problem: str) -> None:
        super().__init__(source, stream, record.record_id, problem)
        self.item = record


Quarantine = Callable[[UnloadableRecordError], None]
"""Receives each record that cannot be loaded (the error names it and says why)."""


def encode_line(record: Record, *, source: str = "", stream: str = "", position: str = "?") -> bytes:
    """One COPY line (UTF-8, with its newline) for ``record``; raises BadRecordError if it cannot be loaded.

    Built as bytes: the payload's JSON comes from msgspec as UTF-8 and is never decoded and encoded again."""
    if not isinstance(record, Record):
        raise BadRecordError(source, stream, position, f"expected a Record, got {type(record).__name__}")
    record_id = record.record_id
    if not isinstance(record_id, str) or not record_id:
        raise BadRecordError(source, stream, position, f"record_id must be a non-empty string, got {record_id!r}")
    if "\x00" in record_id:
        raise UnloadableRecordError(source, stream, record, "record_id contains a NUL character")
    cursor = record.cursor
    if not isinstance(cursor, datetime) or cursor.tzinfo is None or cursor.utcoffset() is None:
        raise BadRecordError(source, stream, record_id, f"cursor must be a timezone-aware datetime, got {cursor!r}")
    if not isinstance(record.deleted, bool):
        raise BadRecordError(source, stream, record_id, f"deleted must be a bool, got {record.deleted!r}")
    if not isinstance(record.payload, dict):
        raise BadRecordError(source, stream, record_id, f"payload must be a dict, got {type(record.payload).__name__}")
    cursor_text = (cursor if cursor.tzinfo is timezone.utc else cursor.astimezone(timezone.utc)).isoformat()
    try:
        payload = exact_json.dumps_utf8(record.payload)
        head = f"{escape(record_id)}\t{cursor_text}\t{'t' if record.deleted else 'f'}\t".encode("utf-8")
    except RecursionError:
        raise UnloadableRecordError(source, stream, record, "payload is nested too deep to store") from None
    except UnicodeEncodeError as error:  # lone surrogates: JSON allows "\ud800", UTF-8 and jsonb do not
        raise UnloadableRecordError(source, stream, record,
                                    f"contains text that is not valid Unicode: {error.reason}") from error
    except (TypeError, ValueError) as error:
        raise UnloadableRecordError(source, stream, record, f"payload is not JSON-serialisable: {error}") from error
    if b"\\u0000" in payload and _JSON_NUL.search(payload):
        raise UnloadableRecordError(source, stream, record, "payload contains a NUL character, which jsonb cannot store")
    # JSON text holds no raw tab, newline or carriage return (its strings escape them): only backslashes need doubling.
    return b"".join((head, payload.replace(b"\\", b"\\\\"), b"\n"))


def encode_record(record: Record, *, source: str = "", stream: str = "", position: str = "?") -> str:
    """:func:`encode_line` as text."""
    return encode_line(record, source=source, stream=stream, position=position).decode("utf-8")


def encode_page(records: Sequence[Record], *, source: str = "", stream: str = "", first_position: int = 1,
                location: str = "", quarantine: Quarantine | None = None) -> tuple[bytes, int]:
    """COPY text for a page of records and the number of records in it.

    Without ``quarantine`` an unloadable record raises; with it, the record is handed over and left out.
    """
    lines: list[bytes] = []
    where = f" ({location})" if location else ""
    for offset, record in enumerate(records):
        try:
            lines.append(encode_line(record, source=source, stream=stream,
                                     position=f"#{first_position + offset}{where}"))
        except UnloadableRecordError as error:
            if quarantine is None:
                raise
            quarantine(error)
    return b"".join(lines), len(lines)


def constant_columns(values: Sequence[Any]) -> bytes:
    """COPY text of columns every line shares (text, numbers, timestamps, None), each after a tab."""
    def text(value: Any) -> str:
        if value is None:
            return "\\N"
        return escape(value.isoformat() if isinstance(value, datetime) else str(value))
    return "".join(f"\t{text(value)}" for value in values).encode("utf-8")


class PageStream:
    """The COPY text of ``pages`` as a file that one COPY statement reads, one encoded page at a time.

    One COPY streams the whole window: Postgres stores each page while the next one is encoded (and,
    with :mod:`passerelle.connectors.prefetch`, read), instead of waiting page by page. Pages are
    consumed lazily and released once sent, so memory stays bounded by the page size.

    ``constants`` (column, value) pairs add columns with the same value on every row. ``spool``, a
    binary file, receives a copy of the rows without those columns, for a caller that may have to load
    the same window again another way. Unloadable records are kept in ``unloadable`` when
    ``keep_unloadable``, else they raise (see :func:`encode_page`); the connection takes no other
    statement during a COPY, so they are handed to the quarantine afterwards.
    """

    def __init__(self, pages: Iterable[Page], *, source: str = "", stream: str = "",
                 on_page: PageCallback | None = None, keep_unloadable: bool = False,
                 constants: Sequence[tuple[str, Any]] = (), spool: IO[bytes] | None = None) -> None:
        self._pages = iter(pages)
        self._source, self._stream, self._on_page, self._keep, self._spool = source, stream, on_page, keep_unloadable, spool
        self._tail = constant_columns([value for _, value in constants]) + b"\n" if constants else b""
        self.columns = (*COLUMNS, *(name for name, _ in constants))
        self.records = self.pages = 0
        self.unloadable: list[UnloadableRecordError] = []
        self._failure: BaseException | None = None

    def copy_into(self, cursor: Any, table: str) -> None:
        """Send every page to ``table`` with one COPY. An error while reading or encoding ends the data
        where it stands and is raised here as it was raised (psycopg2 would replace it by its own); the
        caller's transaction must then be rolled back, so the rows sent are never kept."""
        try:
            cursor.copy_expert(f"COPY {table} ({', '.join(self.columns)}) FROM STDIN", self, size=1 << 20)
        except Exception:
            if self._failure is not None:  # the pages failed first: that is the error, not what Postgres made of the rest
                raise self._failure
            raise
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()  # a reader thread behind ``pages`` stops now, not when garbage-collected
        if self._failure is not None:
            raise self._failure

    def read(self, size: int = -1) -> bytes:
        """The next page's COPY text (whatever ``size``), ``b""`` at the end or after a failure."""
        if self._failure is not None:
            return b""
        try:
            return self._next_page()
        except BaseException as error:  # raised again by copy_into once COPY has ended
            self._failure = error
            return b""

    def _next_page(self) -> bytes:
        for page in self._pages:
            if not isinstance(page, Page):
                raise BadRecordError(self._source, self._stream, f"page {self.pages + 1}",
                                     f"expected a Page, got {type(page).__name__}")
            self.pages += 1
            data, count = encode_page(page.records, source=self._source, stream=self._stream,
                                      first_position=self.records + 1, location=page.location or f"page {self.pages}",
                                      quarantine=self.unloadable.append if self._keep else None)
            self.records += count
            if self._on_page is not None:
                self._on_page(self.pages, page, count, self.records)
            if data:
                if self._spool is not None:
                    self._spool.write(data)
                # COPY text ends each line, and only a line, with a raw newline (values escape theirs).
                return data.replace(b"\n", self._tail) if self._tail else data
        return b""


def copy_pages(cursor: Any, table: str, pages: Iterable[Page], *, source: str = "", stream: str = "",
               on_page: PageCallback | None = None, quarantine: Quarantine | None = None) -> tuple[int, int]:
    """COPY every page into ``table`` (columns :data:`COLUMNS`) with one statement (:class:`PageStream`);
    return (records copied, pages). Unloadable records go to ``quarantine`` when one is given, once the
    COPY has ended (see :func:`encode_page`)."""
    stream_of_pages = PageStream(pages, source=source, stream=stream, on_page=on_page,
                                 keep_unloadable=quarantine is not None)
    stream_of_pages.copy_into(cursor, table)
    for error in stream_of_pages.unloadable:
        assert quarantine is not None
        quarantine(error)
    return stream_of_pages.records, stream_of_pages.pages
