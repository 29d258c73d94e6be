"""Invoice numbers (BT-1): unique, chronological and without gaps per seller, assigned exactly once.

A PostgreSQL sequence would leave a gap every time a transaction rolls back, so numbers come from a
counter row per seller and year, locked (``SELECT ... FOR UPDATE``) and advanced inside the very
transaction that issues the invoice: if that transaction fails, the counter moves back with it and the
number is used by the next invoice instead. Concurrent issuers queue on the row lock. Each number is
recorded against the identity of what it invoices (``invoice_key``), so a retried or backfilled run
asking again gets the number it already has and never consumes a new one. Corrections are credit
notes with numbers of their own; a number is never reassigned.

Whole runs of a seller (a billing period, a credit note, missing documents) also queue, on
:func:`issuing_lock`: a session-level advisory lock, released by Postgres when the session ends, so a
killed run never leaves it held. A run that waited sees what the other one did before it starts.

Format: ``<prefix><year>-<sequence on 6 digits>``, e.g. ``MS2026-000042``: at most 20 characters of
``[A-Za-z0-9+-_/]`` (the PPF's current limit, rule G1.05), which the seller configuration guarantees.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg2.extensions

from passerelle.errors import PasserelleError
from passerelle.invoicing.seller import MAX_PREFIX_LENGTH, NUMBER_CHARSET

logger = logging.getLogger(__name__)
MAX_NUMBER_LENGTH = 20
SEQUENCE_DIGITS = 6


class NumberingError(PasserelleError):
    """A number cannot be issued without breaking the sequence's rules."""


@dataclass(frozen=True)
class IssuedNumber:
    invoice_number: str
    sequence: int
    issue_date: date
    new: bool  # False: the invoice already had this number (a retry, a backfill)


def format_number(prefix: str, year: int, sequence: int) -> str:
    if not NUMBER_CHARSET.match(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise NumberingError(f"invoice prefix {prefix!r} must be 1 to {MAX_PREFIX_LENGTH} characters of [A-Za-z0-9+-_/]")
    if not 0 < sequence < 10 ** SEQUENCE_DIGITS:
        raise NumberingError(f"sequence {sequence} of {year} does not fit {SEQUENCE_DIGITS} digits")
    number = f"{prefix}{year}-{sequence:0{SEQUENCE_DIGITS}d}"
    assert len(number) <= MAX_NUMBER_LENGTH
    return number


def issue_number(cur: Any, *, seller_siren: str, prefix: str, invoice_key: str, issue_date: date,
                 run_id: str) -> IssuedNumber:
    """The number of the invoice identified by ``invoice_key``, assigned now if it has none.

    Runs in the caller's transaction (``cur`` is a cursor of it), which must also write the invoice:
    commit both or neither. Raises :class:`NumberingError` when ``issue_date`` is earlier than the
    last number issued for the seller that year (the sequence must follow the dates).
    """
    existing = _existing(cur, invoice_key)
    if existing:
        return existing
    year = issue_date.year
    cur.execute("INSERT INTO audit.invoice_counters (seller_siren, fiscal_year) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (seller_siren, year))
    cur.execute("SELECT last_sequence, last_issue_date FROM audit.invoice_counters"
                " WHERE seller_siren = %s AND fiscal_year = %s FOR UPDATE", (seller_siren, year))
    last_sequence, last_issue_date = cur.fetchone()
    existing = _existing(cur, invoice_key)  # another issuer may have numbered it while we waited for the lock
    if existing:
        return existing
    if last_issue_date is not None and issue_date < last_issue_date:
        raise NumberingError(
            f"invoice {invoice_key!r} dated {issue_date} cannot be numbered: number {last_sequence} of {year} "
            f"for seller {seller_siren} was issued on {last_issue_date} (numbers must follow issue dates)"
        )
    sequence = last_sequence + 1
    number = format_number(prefix, year, sequence)
    cur.execute("UPDATE audit.invoice_counters SET last_sequence = %s, last_issue_date = %s"
                " WHERE seller_siren = %s AND fiscal_year = %s", (sequence, issue_date, seller_siren, year))
    cur.execute("INSERT INTO marts.invoice_numbers (invoice_number, seller_siren, fiscal_year, sequence, issue_date,"
                " invoice_key, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (number, seller_siren, year, sequence, issue_date, invoice_key, run_id))
    return IssuedNumber(number, sequence, issue_date, new=True)


def _existing(cur: Any, invoice_key: str) -> IssuedNumber | None:
    cur.execute("SELECT invoice_number, sequence, issue_date FROM marts.invoice_numbers WHERE invoice_key = %s",
                (invoice_key,))
    found = cur.fetchone()
    return IssuedNumber(found[0], found[1], found[2], new=False) if found else None


def _lock_key(seller_siren: str) -> str:
    return f"passerelle.issuing:{seller_siren}"


@contextlib.contextmanager
def issuing_lock(conn: Any, seller_siren: str) -> Iterator[None]:
    """Hold the seller's issuing lock for the block: concurrent runs of that seller run one after the other.

    Re-entrant on one connection (a credit note writing its missing documents takes it again). Taken and
    released without touching the caller's transaction (a connection left idle is left idle).
    """
    key = _lock_key(seller_siren)
    idle = conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,))
        if not cur.fetchone()[0]:
            logger.info("another run is issuing for seller %s: waiting for it to finish", seller_siren)
            cur.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
    if idle:
        conn.commit()
    try:
        yield
    finally:
        _unlock(conn, key)


def _unlock(conn: Any, key: str) -> None:
    if conn.closed:
        return  # the session is gone, and its lock with it
    status = conn.info.transaction_status
    if status == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
        conn.rollback()
        status = psycopg2.extensions.TRANSACTION_STATUS_IDLE
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))
        if status == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            conn.commit()
    except psycopg2.Error:  # the connection broke: Postgres releases the lock with the session
        logger.warning("could not release the issuing lock %s; it goes with the session", key)
