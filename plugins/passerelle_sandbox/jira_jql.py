"""A small JQL engine for the Jira emulator: the clauses an extractor sends, with Jira's date rules.

Supported: ``AND``/``OR``/``NOT``, parentheses, ``= != > >= < <=``, ``in``/``not in``, ``is [not]
empty``, ``ORDER BY field [ASC|DESC], …``. Date values are epoch milliseconds, relative offsets
(``-1d``, ``-15m``) or ``"yyyy-MM-dd[ HH:mm]"`` / ``"yyyy/MM/dd[ HH:mm]"`` strings, and those strings
are read in the **calling account's time zone**, as Jira does: the trap the connector must avoid.
A query without any clause is refused like ``/search/jql`` refuses unbounded queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

Issue = dict[str, Any]
Predicate = Callable[[Issue], bool]

DATE_FIELDS = {"updated": "updated", "updateddate": "updated", "created": "created", "createddate": "created",
               "resolutiondate": "resolutiondate", "resolved": "resolutiondate", "due": "duedate",
               "duedate": "duedate"}
TEXT_FIELDS = {"project": "project", "key": "key", "issuekey": "key", "id": "id", "status": "status",
               "statuscategory": "statusCategory", "assignee": "assignee", "labels": "labels",
               "issuetype": "issuetype", "type": "issuetype", "fixversion": "fixVersions", "parent": "parent"}
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>!=|>=|<=|=|>|<|~|\(|\)|,)'
    r'|(?P<word>[^\s"\'=!<>~(),]+))'
)
_RELATIVE = re.compile(r"^([+-]?)(\d+)([wdhm])$")
_UNITS_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}


class JqlError(ValueError):
    """The query is invalid; the message is what Jira puts in ``errorMessages``."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JqlError(f"Error in the JQL Query: The character '{text[position]}' is a reserved JQL character.")
        position = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(Token(kind, value))
    return tokens


def parse_date(value: str, zone: str, now_ms: int) -> int:
    """Epoch ms of a JQL date value, reading bare dates in ``zone`` (the account's time zone)."""
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    relative = _RELATIVE.match(text.replace(" ", ""))
    if relative:
        sign = -1 if relative.group(1) == "-" else 1
        return now_ms + sign * int(relative.group(2)) * _UNITS_MS[relative.group(3)]
    for pattern in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            naive = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return int(naive.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc).timestamp() * 1000)
    raise JqlError(
        f"Error in the JQL Query: Date value '{value}' for field is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
    )


class _Parser:
    def __init__(self, tokens: list[Token], zone: str, now_ms: int) -> None:
        self.tokens, self.i, self.zone, self.now_ms = tokens, 0, zone, now_ms
        self.clauses = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def word(self, offset: int = 0) -> str:
        token = self.peek(offset)
        return token.text.lower() if token is not None and token.kind == "word" else ""

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise JqlError("Error in the JQL Query: Expecting either a value, list or function but got end of query.")
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text.lower() != text:
            raise JqlError(f"Error in the JQL Query: Expecting '{text}' but got '{token.text}'.")

    def query(self) -> tuple[Predicate | None, list[tuple[str, bool]]]:
        predicate = None
        if self.peek() is not None and not (self.word() == "order" and self.word(1) == "by"):
            predicate = self.or_clause()
        order: list[tuple[str, bool]] = []
        if self.word() == "order":
            self.i += 1
            self.expect("by")
            while True:
                name = self.field_name(self.take().text)
                descending = False
                if self.word() in ("asc", "desc"):
                    descending = self.take().text.lower() == "desc"
                order.append((name, descending))
                if self.peek() is not None and self.peek().text == ",":
                    self.i += 1
                    continue
                break
        if self.peek() is not None:
            raise JqlError(f"Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{self.peek().text}'.")
        return predicate, order

    def or_clause(self) -> Predicate:
        parts = [self.and_clause()]
        while self.word() == "or":
            self.i += 1
            parts.append(self.and_clause())
        return parts[0] if len(parts) == 1 else (lambda issue: any(p(issue) for p in parts))

    def and_clause(self) -> Predicate:
        parts = [self.not_clause()]
        while self.word() == "and":
            self.i += 1
            parts.append(self.not_clause())
        return parts[0] if len(parts) == 1 else (lambda issue: all(p(issue) for p in parts))

    def not_clause(self) -> Predicate:
        if self.word() == "not":
            self.i += 1
            inner = self.not_clause()
            return lambda issue: not inner(issue)
        token = self.peek()
        if token is not None and token.text == "(":
            self.i += 1
            inner = self.or_clause()
            self.expect(")")
            return inner
        return self.term()

    @staticmethod
    def field_name(text: str) -> str:
        lowered = text.lower()
        if lowered in DATE_FIELDS:
            return DATE_FIELDS[lowered]
        if lowered in TEXT_FIELDS:
            return TEXT_FIELDS[lowered]
        raise JqlError(f"Field '{text}' does not exist or you do not have permission to view it.")

    def term(self) -> Predicate:
        raw_field = self.take()
        if raw_field.kind == "op":
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{raw_field.text}'.")
        name = self.field_name(raw_field.text)
        self.clauses += 1
        if self.word() == "is":
            self.i += 1
            negate = self.word() == "not"
            if negate:
                self.i += 1
            if self.word() not in ("empty", "null"):
                raise JqlError("Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after 'IS'.")
            self.i += 1
            return lambda issue: _empty(issue.get(name)) != negate
        if self.word() in ("in", "not"):
            negate = self.word() == "not"
            self.i += 1
            if negate:
                self.expect("in")
            self.expect("(")
            values = [self.take().text]
            while self.peek() is not None and self.peek().text == ",":
                self.i += 1
                values.append(self.take().text)
            self.expect(")")
            if name in ("updated", "created", "resolutiondate"):
                wanted_ms = {parse_date(v, self.zone, self.now_ms) for v in values}
                return lambda issue: (issue.get(name) in wanted_ms) != negate
            wanted = {v.lower() for v in values}
            return lambda issue: bool(_lowered(issue.get(name)) & wanted) != negate
        op = self.take()
        if op.kind != "op" or op.text not in ("=", "!=", ">", ">=", "<", "<="):
            raise JqlError(f"Error in the JQL Query: Expecting operator but got '{op.text}'.")
        value = self.take()
        if name in ("updated", "created", "resolutiondate"):
            bound = parse_date(value.text, self.zone, self.now_ms)
            compare = _COMPARE[op.text]
            return lambda issue: issue.get(name) is not None and compare(issue[name], bound)
        if name == "duedate":
            bound_text = value.text.replace("/", "-")[:10]
            compare = _COMPARE[op.text]
            return lambda issue: issue.get(name) is not None and compare(issue[name], bound_text)
        if op.text not in ("=", "!="):
            if name == "id":
                number, compare = int(value.text), _COMPARE[op.text]
                return lambda issue: compare(int(issue["id"]), number)
            raise JqlError(f"Error in the JQL Query: The operator '{op.text}' is not supported by the '{raw_field.text}' field.")
        wanted = value.text.lower()
        negate = op.text == "!="
        return lambda issue: (wanted in _lowered(issue.get(name))) != negate


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _lowered(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {str(v).lower() for v in value}
    return {str(value).lower()}


def compile_jql(text: str, *, zone: str, now_ms: int) -> tuple[Predicate, list[tuple[str, bool]]]:
    """(predicate, order) for a JQL string; raises :class:`JqlError` like Jira's 400 answers."""
    parser = _Parser(tokenize(text or ""), zone, now_ms)
    predicate, order = parser.query()
    if predicate is None or parser.clauses == 0:
        raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
    return predicate, order
