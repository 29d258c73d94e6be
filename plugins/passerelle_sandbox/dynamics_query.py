"""OData query options of the Dataverse emulator: ``$select``, ``$filter``, ``$orderby``, paging cookies, delta tokens.

``$filter`` takes comparisons (``eq ne gt ge lt le``) of a column with a literal (date-time, date,
number, quoted string, GUID, ``true``/``false``/``null``) joined by ``and``, which is what an
incremental client sends (``modifiedon ge 2026-03-01T00:00:00Z and modifiedon lt 2026-03-02T00:00:00Z``).

The ``$skiptoken`` paging cookie carries the last row's ``$orderby`` values, the query it belongs to and
an HMAC, so a changed cookie or one replayed on another query is refused. The next page starts strictly
after those values: ordering by a column that is not unique (``modifiedon`` alone) loses the rows tied
with the page's last one, the pitfall Dataverse documents; adding the primary key makes paging exact.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.dynamics_model import DATETIME_COLUMNS, Record, odata_error, unsupported
from passerelle_sandbox.paging import TokenSigner, pack, unpack

OPERATORS = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
_COMPARISON = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|[^\s()]+)\s*", re.I)
_COOKIE = re.compile(r'^<cookie pagenumber="(\d+)" pagingcookie="([A-Za-z0-9_-]+)\.([0-9a-f]{64})" '
                     r'istracking="(True|False)" />$')
_DELTA = re.compile(r"^(\d+)!(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

Condition = tuple[str, Callable[[Any, Any], bool], Any]


def no_property(column: str, logical_name: str) -> Exception:
    return odata_error(400, "0x80060888", f"Could not find a property named '{column}' on type "
                                          f"'Microsoft.Dynamics.CRM.{logical_name}'.")


def parse_select(text: str | None, columns: tuple[str, ...], pk: str, logical_name: str) -> tuple[str, ...]:
    """The columns to render: the selected ones (the primary key always), or all."""
    if not text:
        return columns
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    for column in wanted:
        if column not in columns:
            raise no_property(column, logical_name)
    return tuple(c for c in columns if c in wanted or c == pk)


def _literal(text: str, column: str) -> Any:
    lowered = text.lower()
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if GUID.match(text):
        return text.lower()
    if column in DATETIME_COLUMNS or re.match(r"^\d{4}-\d{2}-\d{2}", text):
        try:
            moment = parse_instant(text)
        except ValueError:
            raise unsupported(f"Invalid date-time literal '{text}' in $filter.") from None
        return canonical(moment) if column in DATETIME_COLUMNS else text
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise unsupported(f"Syntax error: unrecognized literal '{text}' in $filter.") from None
    return int(number) if number == number.to_integral_value() and "." not in text else number


def parse_filter(text: str | None, columns: tuple[str, ...], logical_name: str) -> list[Condition]:
    """``$filter`` as a list of (column, operator, literal), all to hold."""
    if not text:
        return []
    conditions: list[Condition] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        match = _COMPARISON.fullmatch(part)
        if match is None:
            raise unsupported(f"The $filter expression '{part.strip()}' is not supported: comparisons of a "
                              "column with a literal joined by 'and' only.")
        column, operator, literal = match.groups()
        if column not in columns:
            raise no_property(column, logical_name)
        conditions.append((column, OPERATORS[operator.lower()], _literal(literal, column)))
    return conditions


def matches(row: Record, conditions: list[Condition]) -> bool:
    return all(operator(row.get(column), literal) for column, operator, literal in conditions)


def parse_orderby(text: str | None, columns: tuple[str, ...], pk: str, logical_name: str) -> list[tuple[str, bool]]:
    """``[(column, descending)]``; without ``$orderby`` rows come by primary key."""
    if not text:
        return [(pk, False)]
    order = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        column, _, direction = part.partition(" ")
        direction = direction.strip().lower() or "asc"
        if column not in columns:
            raise no_property(column, logical_name)
        if direction not in ("asc", "desc"):
            raise unsupported(f"Syntax error in $orderby: '{part}'.")
        order.append((column, direction == "desc"))
    return order


def rank(value: Any) -> tuple[bool, Any]:
    """The sort key of a column value: nulls first, then values in their order."""
    return (value is not None, value)


def sort_rows(rows: list[Record], order: list[tuple[str, bool]]) -> list[Record]:
    for column, descending in reversed(order):
        rows.sort(key=lambda r: rank(r.get(column)), reverse=descending)
    return rows


def after(row: Record, last: list[Any], order: list[tuple[str, bool]]) -> bool:
    """Whether ``row`` sorts strictly after the values ``last`` of the previous page's last row."""
    for (column, descending), mark in zip(order, last):
        mine, theirs = rank(row.get(column)), rank(mark)
        if mine != theirs:
            return (mine < theirs) if descending else (mine > theirs)
    return False


def marks(row: Record, order: list[tuple[str, bool]]) -> list[Any]:
    """The ``$orderby`` values of a row as JSON (decimals tagged, so they compare as decimals again)."""
    return [["d", str(v)] if isinstance(v, Decimal) else v for v in (row.get(column) for column, _ in order)]


def unmark(values: list[Any]) -> list[Any]:
    return [Decimal(v[1]) if isinstance(v, list) else v for v in values]


class Cookies:
    """Signs and checks ``$skiptoken`` paging cookies (Dataverse's ``<cookie pagenumber=… />`` shape)."""

    def __init__(self, secret: bytes) -> None:
        self.signer = TokenSigner(secret, length=64)

    def issue(self, page: int, query: str, state: dict[str, Any], tracking: bool) -> str:
        payload = pack({"q": _digest(query), **state})
        signature = self.signer.sign(f"{page}|{payload}|{tracking}")
        return f'<cookie pagenumber="{page}" pagingcookie="{payload}.{signature}" istracking="{tracking}" />'

    def check(self, token: str, query: str) -> tuple[int, dict[str, Any]]:
        """The page number and state of a cookie issued for ``query``; 400 for anything else."""
        match = _COOKIE.match(token)
        signed = f"{match.group(1)}|{match.group(2)}|{match.group(4)}" if match else ""
        if match is None or not self.signer.valid(signed, match.group(3)):
            raise invalid_skiptoken()
        state = unpack(match.group(2))
        if state.pop("q") != _digest(query):
            raise invalid_skiptoken()
        return int(match.group(1)), state


def _digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def invalid_skiptoken() -> Exception:
    return odata_error(400, "0x80040203", "Invalid $skiptoken: the paging cookie was modified or belongs to "
                                          "another query. Follow @odata.nextLink unchanged.")


def delta_token(version: int, moment: datetime) -> str:
    """``919042!03/02/2026 09:15:00``: the row version a delta starts after, and when it was issued."""
    return f"{version}!{moment.astimezone(timezone.utc):%m/%d/%Y %H:%M:%S}"


def read_delta_token(token: str, now: datetime, expire_days: float, floor: int, newest: int) -> int:
    """The version of a delta token still valid at ``now``; 400 when malformed or expired."""
    match = _DELTA.match(token)
    if match is None or int(match.group(1)) > newest:
        raise odata_error(400, "0x80040203", f"Invalid $deltatoken '{token}'.")
    month, day, year, hour, minute, second = (int(g) for g in match.groups()[1:])
    issued = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    version = int(match.group(1))
    if now - issued > timedelta(days=expire_days) or version < floor:
        raise odata_error(400, "0x80044352", f"Version stamp associated with the client has expired. Please "
                                             f"perform a full sync. The $deltatoken '{token}' is older than the "
                                             f"org's change tracking retention ({expire_days:g} days).")
    return version
