"""The QuickBooks query language as the emulator serves it.

``SELECT * | COUNT(*) FROM <Entity> [WHERE <cond> [AND <cond>]...] [ORDERBY <field> [ASC|DESC], ...]
[STARTPOSITION n] [MAXRESULTS m]``, keywords and names in any case (``ORDER BY`` is taken too, as
python-quickbooks writes it). A condition compares a field with a literal (``= != < <= > >=``,
``IN (…)``, ``LIKE '…%'``); fields are top-level ones (``DisplayName``, ``Active``, ``DocNumber``,
``TxnDate``...), references by their id (``CustomerRef``) and ``Metadata.CreateTime`` /
``Metadata.LastUpdatedTime`` (spelt ``Metadata`` in queries, ``MetaData`` in bodies), whose literals
may carry any offset. There is no ``OR``: QuickBooks has none. ``STARTPOSITION`` is 1-based;
``MAXRESULTS`` defaults to 100 and is cut to 1,000 without a word, like the vendor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.quickbooks_model import BY_LOWER, Record

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000
_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:\\.|[^'\\])*')|(?P<number>-?\d+(?:\.\d+)?(?![\w.]))|"
                    r"(?P<name>[A-Za-z_][\w.]*)|(?P<op><=|>=|!=|<>|[=<>(),*]))")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<>": lambda a, b: a != b,
    "<": lambda a, b: a is not None and a < b, "<=": lambda a, b: a is not None and a <= b,
    ">": lambda a, b: a is not None and a > b, ">=": lambda a, b: a is not None and a >= b,
}


class QueryError(ValueError):
    """Refused query: ``code`` 4000 (the parser's) or 4001 (a valid sentence asking the impossible)."""

    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.message, self.detail = code, message, detail


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool
    conditions: tuple[Condition, ...]
    order: tuple[tuple[tuple[str, ...], bool], ...]
    """(field path, descending)."""
    start: int
    max_results: int

    def mentions(self, field: str) -> bool:
        return any(c.path == (field,) for c in self.conditions)


def _parse_error(found: str, expecting: str) -> QueryError:
    return QueryError("4000", "Error parsing query",
                      f'QueryParserError: Encountered " {found!r} " at line 1. Was expecting: {expecting}')


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        position = 0
        text = text.strip().rstrip(";")
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise _parse_error(text[position:position + 10].strip(), "a name, a literal or an operator")
            kind = match.lastgroup or ""
            self.items.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def peek(self) -> tuple[str, str]:
        return self.items[self.index] if self.index < len(self.items) else ("end", "<EOF>")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "name" and value.upper() in words:
            self.index += 1
            return True
        return False

    def expect(self, word: str) -> None:
        kind, value = self.take()
        if value.upper() != word.upper():
            raise _parse_error(value, f'"{word}"')

    def integer(self, after: str) -> int:
        kind, value = self.take()
        if kind != "number" or not value.isdigit():
            raise _parse_error(value, f"an integer after {after}")
        return int(value)


def _literal(token: tuple[str, str]) -> Any:
    kind, value = token
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    if kind == "number":
        return Decimal(value)
    if kind == "name" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _parse_error(value, "a literal")


def _field(name: str, entity: str, fields: set[str]) -> tuple[str, ...]:
    lowered = name.lower()
    if lowered in ("metadata.createtime", "metadata.lastupdatedtime"):
        return ("MetaData", "CreateTime" if lowered.endswith("createtime") else "LastUpdatedTime")
    for known in fields:
        if known.lower() == lowered:
            return (known,)
    raise QueryError("4001", "Invalid query", f"QueryValidationError: property '{name}' is not queryable for {entity}")


def _comparable(path: tuple[str, ...], value: Any) -> Any:
    """The literal in the stored field's terms: timestamps canonical, ids and amounts numbers."""
    if path[0] == "MetaData":
        try:
            return canonical(parse_instant(str(value)))
        except ValueError:
            raise QueryError("4001", "Invalid query",
                             f"QueryValidationError: value {value!r} is not a date-time") from None
    if path == ("Id",) or isinstance(value, Decimal):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return value
    return value


def field_value(record: Record, path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict) and "value" in value:  # a reference: CustomerRef = '58'
        return value["value"]
    return Decimal(value) if path == ("Id",) and value is not None else value


def _condition(tokens: _Tokens, entity: str, fields: set[str]) -> Condition:
    kind, name = tokens.take()
    if kind != "name":
        raise _parse_error(name, "a field name")
    path = _field(name, entity, fields)
    if tokens.keyword("IN"):
        tokens.expect("(")
        values = [_comparable(path, _literal(tokens.take()))]
        while tokens.peek()[1] == ",":
            tokens.take()
            values.append(_comparable(path, _literal(tokens.take())))
        tokens.expect(")")
        return Condition(path, lambda v, values=values: v in values)  # type: ignore[misc]
    if tokens.keyword("LIKE"):
        pattern = _literal(tokens.take())
        regex = re.compile("^" + ".*".join(re.escape(p) for p in str(pattern).split("%")) + "$", re.I)
        return Condition(path, lambda v: isinstance(v, str) and regex.match(v) is not None)
    kind, op = tokens.take()
    if op not in _OPERATORS:
        raise _parse_error(op, "an operator (=, <, >, <=, >=, !=, IN, LIKE)")
    literal = _comparable(path, _literal(tokens.take()))
    compare = _OPERATORS[op]
    return Condition(path, lambda v: _safe(compare, v, literal))


def _safe(compare: Callable[[Any, Any], bool], value: Any, literal: Any) -> bool:
    try:
        return compare(value, literal)
    except TypeError:
        return False


def parse_query(text: str, fields_of: Callable[[str], set[str]]) -> Query:
    """Parse ``text``; ``fields_of(entity)`` names the fields a query may use. Raises :class:`QueryError`."""
    tokens = _Tokens(text)
    tokens.expect("SELECT")
    count = False
    if tokens.keyword("COUNT"):
        tokens.expect("(")
        tokens.expect("*")
        tokens.expect(")")
        count = True
    else:
        kind, value = tokens.take()
        if value != "*" and kind != "name":
            raise _parse_error(value, '"*", "count" or a field name')
        while tokens.peek()[1] == ",":  # SELECT *, Sku: every field is served anyway
            tokens.take()
            tokens.take()
    tokens.expect("FROM")
    kind, name = tokens.take()
    entity = BY_LOWER.get(name.lower()) if kind == "name" else None
    if entity is None:
        raise QueryError("4000", "Error parsing query", f"QueryParserError: Invalid entity name: {name}")
    fields = fields_of(entity)
    conditions: list[Condition] = []
    if tokens.keyword("WHERE"):
        conditions.append(_condition(tokens, entity, fields))
        while tokens.keyword("AND"):
            conditions.append(_condition(tokens, entity, fields))
    order: list[tuple[tuple[str, ...], bool]] = []
    ordered = tokens.keyword("ORDERBY")
    if not ordered and tokens.keyword("ORDER"):
        tokens.expect("BY")
        ordered = True
    while ordered:
        kind, name = tokens.take()
        if kind != "name":
            raise _parse_error(name, "a field name")
        descending = tokens.keyword("DESC")
        if not descending:
            tokens.keyword("ASC")
        order.append((_field(name, entity, fields), descending))
        ordered = tokens.peek()[1] == ","
        if ordered:
            tokens.take()
    start, max_results = 1, DEFAULT_MAX_RESULTS
    for _ in range(2):
        if tokens.keyword("STARTPOSITION"):
            start = tokens.integer("STARTPOSITION")
        elif tokens.keyword("MAXRESULTS"):
            max_results = tokens.integer("MAXRESULTS")
    if tokens.peek()[0] != "end":
        raise _parse_error(tokens.peek()[1], '"where", "orderby", "startposition", "maxresults" or the end')
    if start < 1:
        raise QueryError("4001", "Invalid query", "QueryValidationError: STARTPOSITION must be 1 or more")
    return Query(entity, count, tuple(conditions), tuple(order), start, min(max_results, MAX_RESULTS))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, Decimal)):
        return (2, value)
    return (3, str(value))


def run_query(query: Query, records: list[Record]) -> list[Record]:
    """The matching records in the query's order (then by Id, so paging is stable)."""
    rows = [r for r in records if all(c.test(field_value(r, c.path)) for c in query.conditions)]
    rows.sort(key=lambda r: int(r["Id"]))
    for path, descending in reversed(query.order):
        rows.sort(key=lambda r, path=path: _sort_key(field_value(r, path)), reverse=descending)  # type: ignore[misc]
    return rows
