"""Stream pages of records into Postgres with COPY, one page in memory at a time.

COPY text format is the fastest way in and needs no client-side row objects, but its escaping
must be exact: a stray backslash or tab in a payload would shift or corrupt columns silently.
Records are validated here too, while each one is touched anyway, so that a bad record fails
with its source, stream and id rather than with a Postgres parse error.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from passerelle.errors import BadRecordError
from passerelle.records import Page, Record

COLUMNS = ("record_id", "cursor_value", "is_deleted", "payload")

# jsonb cannot store U+0000; json.dumps writes it as \u0000 (not preceded by another backslash).
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

PageCallback = Callable[[int, Page, int, int], None]
"""Called after each page is copied with (page number, page, records in page, records so far)."""


def escape(value: str) -> str:
    """Escape a value for a COPY text-format column (backslash first, so added ones are not doubled).

    Chained ``str.replace`` is several times faster than ``str.translate`` with multi-character
    replacements, which matters at a million records.
    """
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# One shared encoder: json.dumps with non-default options builds a new encoder on every call.
# allow_nan=False: NaN/Infinity are not JSON and jsonb would reject the whole COPY without naming the record.
_JSON = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_json(payload: dict[str, Any]) -> str:
    """Same text as ``json.dumps(payload, default=str, ensure_ascii=False, separators=(",", ":"))``."""
    return _JSON.encode(payload)


def encode_record(record: Record, *, source: str = "", stream: str = "", position: str = "?") -> str:
    """One COPY line (with its newline) for ``record``; raises BadRecordError if it cannot be loaded."""
    if not isinstance(record, Record):
        raise BadRecordError(source, stream, position, f"expected a Record, got {type(record).__name__}")
    record_id = record.record_id
    if not isinstance(record_id, str) or not record_id:
        raise BadRecordError(source, stream, position, f"record_id must be a non-empty string, got {record_id!r}")
    if "\x00" in record_id:
        raise BadRecordError(source, stream, record_id, "record_id contains a NUL character")
    cursor = record.cursor
    if not isinstance(cursor, datetime) or cursor.tzinfo is None or cursor.utcoffset() is None:
        raise BadRecordError(source, stream, record_id, f"cursor must be a timezone-aware datetime, got {cursor!r}")
    if not isinstance(record.deleted, bool):
        raise BadRecordError(source, stream, record_id, f"deleted must be a bool, got {record.deleted!r}")
    if not isinstance(record.payload, dict):
        raise BadRecordError(source, stream, record_id, f"payload must be a dict, got {type(record.payload).__name__}")
    try:
        payload = encode_json(record.payload)
    except (TypeError, ValueError, RecursionError) as error:
        raise BadRecordError(source, stream, record_id, f"payload is not JSON-serialisable: {error}") from error
    if "\\u0000" in payload and _JSON_NUL.search(payload):
        raise BadRecordError(source, stream, record_id, "payload contains a NUL character, which jsonb cannot store")
    cursor_text = (cursor if cursor.tzinfo is timezone.utc else cursor.astimezone(timezone.utc)).isoformat()
    return f"{escape(record_id)}\t{cursor_text}\t{'t' if record.deleted else 'f'}\t{escape(payload)}\n"


def encode_page(records: Sequence[Record], *, source: str = "", stream: str = "", first_position: int = 1,
                location: str = "") -> tuple[bytes, int]:
    """COPY text for a page of records and the number of records in it."""
    lines = []
    where = f" ({location})" if location else ""
    for offset, record in enumerate(records):
        lines.append(encode_record(record, source=source, stream=stream, position=f"#{first_position + offset}{where}"))
    try:
        data = "".join(lines).encode("utf-8")
    except UnicodeEncodeError as error:  # lone surrogates from a bad decoder upstream
        bad = _first_unencodable(records, first_position)
        raise BadRecordError(source, stream, bad, f"contains text that is not valid Unicode: {error.reason}") from error
    return data, len(lines)


def _first_unencodable(records: Sequence[Record], first_position: int) -> str:
    for offset, record in enumerate(records):
        try:
            encode_record(record).encode("utf-8")
        except UnicodeEncodeError:
            return record.record_id or f"#{first_position + offset}"
    return "?"


def copy_pages(cursor: Any, table: str, pages: Iterable[Page], *, source: str = "", stream: str = "",
               on_page: PageCallback | None = None) -> tuple[int, int]:
    """COPY every page into ``table`` (columns :data:`COLUMNS`); return (records, pages).

    ``pages`` is consumed lazily: each page is encoded, sent and released before the next one is
    requested, so memory stays bounded by the page size whatever the size of the extract.
    """
    statement = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    total = page_count = 0
    for page in pages:
        if not isinstance(page, Page):
            raise BadRecordError(source, stream, f"page {page_count + 1}", f"expected a Page, got {type(page).__name__}")
        page_count += 1
        data, count = encode_page(page.records, source=source, stream=stream, first_position=total + 1,
                                  location=page.location or f"page {page_count}")
        if count:
            cursor.copy_expert(statement, io.BytesIO(data))
        del data
        total += count
        if on_page is not None:
            on_page(page_count, page, count, total)
    return total, page_count
