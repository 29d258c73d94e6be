"""Salesforce Bulk API 2.0 ``queryAll`` jobs, for windows too large to page through REST.

A job runs the window's SOQL on the server; its result is CSV read page by page (``maxRecords``, linked
by ``Sforce-Locator``; the next page is requested while this one is read), so memory holds two pages' text
whatever the window's size, and its records are handed on in parts of at most ``batch_size`` and
:data:`PART_RECORDS`, as record dicts weigh ten times their CSV. CSV carries text only:
each cell is turned back into the JSON value the REST ``queryAll`` gives for it, typed by the sObject's
describe (booleans, ``int`` or exact ``Decimal`` numbers, ``null`` for an empty cell, datetimes written
``+0000``), with the REST ``attributes``, so the raw layer cannot tell which path loaded a record.
Every call goes through the session's retry and re-authentication policy; polling backs off and is bounded.
"""

from __future__ import annotations

import csv
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator, Protocol, TypeVar

from simple_salesforce import Salesforce

from passerelle.connectors.paging import PageCursor
from passerelle.connectors.spec import RawPage
from passerelle.errors import BadRecordError, SourceRequestError, SourceUnavailableError

T = TypeVar("T")


class SalesforceSession(Protocol):
    """What a bulk query needs of the connector's session (``salesforce.SalesforceSession``): its calls go
    through the session's retry and token refresh."""

    api_version: str
    batch_size: int
    bulk_timeout: float
    bulk_page_size: int

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T: ...
    def field_types(self, sobject: str) -> dict[str, str]: ...

log = logging.getLogger(__name__)

FIRST_POLL_WAIT = 0.5
MAX_POLL_WAIT = 10.0
_DONE = {"JobComplete", "Failed", "Aborted"}
PART_RECORDS = 1_000
"""Records handed on at once from a CSV page: a record's dict weighs ten times its CSV row (1,000 of them:
about 3 MB); at a million rows, parts of 2,000 took the load from 149 to 164 MB peak RSS."""
_NUMBER_TYPES = {"int", "long", "double", "currency", "percent"}


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text[:40]!r}")
    return text == "true"


def _number(text: str) -> int | Decimal:
    """The value ``exact_json`` gives the same digits in a REST body: ``int`` without a fraction, else Decimal."""
    digits = text[1:] if text[:1] == "-" else text
    if digits.isdigit():
        return int(text)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"expected a number, got {text[:40]!r}") from None
    if not value.is_finite():
        raise ValueError(f"expected a finite number, got {text[:40]!r}")
    return value


def _datetime(text: str) -> str:
    """Bulk writes ``2026-03-01T10:00:00.000Z``, REST ``2026-03-01T10:00:00.000+0000``."""
    return text[:-1] + "+0000" if text.endswith("Z") else text


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "boolean": _boolean,
    "datetime": _datetime,
    **dict.fromkeys(_NUMBER_TYPES, _number),
}


def record_maker(sobject: str, api_version: str, types: dict[str, str],
                 header: list[str]) -> Callable[[list[str]], dict[str, Any]]:
    """Turns one CSV row (columns in ``header`` order) into the record REST would give."""
    converters = [(name, _CONVERTERS.get(types.get(name, ""))) for name in header]
    id_column = header.index("Id") if "Id" in header else None
    prefix = f"/services/data/v{api_version}/sobjects/{sobject}/"

    def record(row: list[str]) -> dict[str, Any]:
        if len(row) != len(converters):
            raise ValueError(f"{len(row)} columns where the header has {len(converters)}")
        record_id = row[id_column] if id_column is not None else ""
        out: dict[str, Any] = {"attributes": {"type": sobject, "url": prefix + record_id}}
        for (name, convert), text in zip(converters, row):
            try:
                out[name] = None if text == "" else convert(text) if convert else text
            except ValueError as exc:
                raise ValueError(f"column {name}: {exc}") from None
        return out

    return record


def csv_lines(text: str) -> Iterator[str]:
    """The CSV text line by line, each with its ending, as ``csv.reader`` takes them: quoted fields keep
    the line breaks inside them, and no copy of the page is made (``io.StringIO`` holds four bytes a character)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        end = size if end < 0 else end + 1
        yield text[start:end]
        start = end


class BulkQuery:
    """One ``queryAll`` job for a window of ``sobject``: create, poll, then read its CSV pages."""

    def __init__(self, session: SalesforceSession, sobject: str, stream: str) -> None:
        self.session, self.sobject, self.stream = session, sobject, stream

    def _client(self, sf: Salesforce) -> Any:
        """simple-salesforce's Bulk 2.0 client for the object, built on the live session's token."""
        return getattr(sf.bulk2, self.sobject)._client

    def pages(self, soql: str) -> Iterator[RawPage]:
        job = self.session.call(f"{self.stream} bulk job", lambda sf: self._client(sf).create_job("queryAll", soql))
        job_id = str(job["id"])
        log.info("salesforce.%s: Bulk API 2.0 queryAll job %s", self.stream, job_id)
        self._wait(job_id)
        yield from self._results(job_id)

    def _wait(self, job_id: str) -> None:
        """Poll with a doubling wait until the job ends or ``bulk_timeout`` seconds have passed."""
        deadline = time.monotonic() + self.session.bulk_timeout
        wait = FIRST_POLL_WAIT
        while True:
            info = self.session.call(f"{self.stream} bulk job {job_id}",
                                     lambda sf: self._client(sf).get_job(job_id, True))
            state = info.get("state")
            if state == "JobComplete":
                return
            if state in _DONE:
                reason = info.get("errorMessage") or "no error message"
                raise SourceRequestError(
                    f"Bulk API 2.0 queryAll job {job_id} on {self.sobject} ended {state}: {reason}",
                    check="the job in Setup > Bulk Data Load Jobs; the window was rolled back and is read again on retry",
                )
            if time.monotonic() + wait > deadline:
                self._abort(job_id)
                raise SourceUnavailableError(
                    f"Bulk API 2.0 queryAll job {job_id} on {self.sobject} still {state} after "
                    f"{self.session.bulk_timeout:g} s: aborted",
                    check="the org's Bulk API load, or raise bulk_timeout on the Connection",
                )
            time.sleep(wait)
            wait = min(wait * 2, MAX_POLL_WAIT)

    def _abort(self, job_id: str) -> None:
        try:
            self.session.call(f"{self.stream} bulk job {job_id} abort",
                              lambda sf: self._client(sf).abort_job(job_id, True))
        except Exception as exc:  # the timeout is the error to report; a failed abort only leaves the job to expire
            log.warning("salesforce.%s: could not abort Bulk API job %s: %s", self.stream, job_id, exc)

    def _csv_page(self, job_id: str, locator: str, number: int) -> tuple[str, str]:
        """One result page: its CSV text and the locator of the next page ("" after the last)."""
        page = self.session.call(
            f"{self.stream} bulk job {job_id} results page {number}",
            lambda sf: self._client(sf).get_query_results(job_id, locator, self.session.bulk_page_size))
        return page["records"], str(page["locator"] or "")

    def _results(self, job_id: str) -> Iterator[RawPage]:
        """Records of every result page. The next page is requested (in a thread) as soon as this one has
        arrived, while its rows become records: the server's time to write a page overlaps ours to read one,
        and memory holds two pages' text at most."""
        types = self.session.field_types(self.sobject)
        cursor = PageCursor(f"{self.sobject} bulk job {job_id}")
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"salesforce.{self.stream} bulk page") as ahead:
            number, pending = 1, ahead.submit(self._csv_page, job_id, "", 1)
            while pending is not None:
                text, locator = pending.result()
                pending = None
                if locator:
                    locator = str(cursor.advance(locator, 0 if _header_only(text) else 1))
                    pending = ahead.submit(self._csv_page, job_id, locator, number + 1)
                yield from self._records(text, types, f"bulk job {job_id} results page {number}")
                number += 1

    def _records(self, text: str, types: dict[str, str], where: str) -> Iterator[RawPage]:
        """A CSV page's records, ``batch_size`` (the REST page size) at a time, and never more than
        :data:`PART_RECORDS`: three parts are in memory at once (being read, queued, being copied)."""
        part = min(self.session.batch_size, PART_RECORDS)
        rows = csv.reader(csv_lines(text))
        header = next(rows, None)
        items: list[dict[str, Any]] = []
        read = 0
        if header is not None:
            make = record_maker(self.sobject, self.session.api_version, types, header)
            for line, row in enumerate(rows, start=2):
                try:
                    items.append(make(row))
                except ValueError as exc:
                    raise BadRecordError("salesforce", self.stream, f"CSV line {line} of {where}", str(exc)) from exc
                if len(items) == part:
                    read += len(items)
                    yield RawPage(items=items, location=f"{where}, rows {read - len(items) + 1}-{read}")
                    items = []
        if items or not read:
            read += len(items)
            yield RawPage(items=items, location=f"{where}, rows {read - len(items) + 1}-{read}" if read else where)


def _header_only(text: str) -> bool:
    """Whether a CSV page holds no row: at most its header line."""
    end = text.find("\n")
    return end < 0 or not text[end + 1:end + 2]
