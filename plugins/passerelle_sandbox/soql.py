"""A SOQL subset: tokenizer, recursive-descent parser and compiler to Python predicates.

Supported: ``SELECT f1, f2 | COUNT() FROM Obj [WHERE expr] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST],
…] [LIMIT n] [OFFSET n]`` with ``AND``/``OR``/``NOT``, parentheses, ``= != <> < <= > >=``,
``[NOT] IN (…)``, ``LIKE``, and literals: strings with escapes, numbers, ``true``/``false``/``null``,
unquoted dates and datetimes, and the common date literals (``TODAY``, ``LAST_N_DAYS:n``…).
The select list also takes parent paths (``Account.Owner.Name``, also usable in WHERE), parent-to-
child subqueries (``(SELECT … FROM Contacts)``, see :mod:`soql_relations`), ``FIELDS(STANDARD|
CUSTOM|ALL)`` and aggregates with ``GROUP BY``/``HAVING`` (see :mod:`soql_aggregate`).

It is strict where Salesforce is strict, because connector bugs hide there: field and object
names are checked against the schema (case-insensitively), literal types must match the field
(a quoted datetime is an ``INVALID_FIELD`` error), ids must be 15 or 18 characters, and mixing
``AND`` and ``OR`` without parentheses is a ``MALFORMED_QUERY``. Errors carry Salesforce's error
codes and its ``ERROR at Row:…:Column:…`` messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from operator import itemgetter
from datetime import date, datetime, timedelta, timezone
from typing import Any

from passerelle_sandbox.clock import canonical, parse_instant
from passerelle_sandbox.ids import normalize_salesforce_id
from passerelle_sandbox.soql_aggregate import AggregateColumn, AggregatePlan, aggregate_rows
from passerelle_sandbox.soql_relations import ChildColumn, PathColumn, child_relationship, follow, hop
from passerelle_sandbox.soql_schema import FieldDef, ObjectSchema

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

STRING_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "textarea", "email", "phone", "url", "combobox", "encryptedstring"}
)
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
KEYWORDS = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
        "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "INCLUDES", "EXCLUDES", "GROUP",
        "HAVING", "WITH", "FOR", "USING", "TYPEOF",
    }
)
DATE_LITERALS = frozenset(
    {"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_WEEK", "THIS_WEEK",
     "THIS_MONTH", "LAST_MONTH"}
)


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is the REST ``errorCode``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# ---------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # ident, keyword, string, number, datetime, date, op, punct, eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT:]))
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
    """,
    re.VERBOSE | re.DOTALL,
)


def _position(text: str, pos: int) -> tuple[int, int, str]:
    row = text.count("\n", 0, pos) + 1
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    return row, pos - line_start + 1, line


def located(code: str, text: str, pos: int, detail: str) -> SoqlError:
    """An error in Salesforce's format: the query line, a caret, ``ERROR at Row:r:Column:c``, detail."""
    row, column, line = _position(text, pos)
    return SoqlError(code, f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{detail}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] == "'":
                raise located("MALFORMED_QUERY", text, pos, "unterminated string literal")
            raise located("MALFORMED_QUERY", text, pos, f"unexpected token: '{text[pos]}'")
        kind = match.lastgroup or ""
        if kind != "ws":
            value = match.group()
            if kind == "ident" and value.upper() in KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, value, pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


# ------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, datetime, date, boolean, null, date_literal
    value: Any
    token: Token


@dataclass(frozen=True)
class FieldRef:
    name: str
    token: Token


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    field: FieldRef
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    field: FieldRef
    pattern: Literal


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    part: Any


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool | None


@dataclass(frozen=True)
class Aggregate:
    """``COUNT(Id)``, ``SUM(Amount) total``...: ``field`` is None for ``COUNT()`` inside a GROUP BY query."""

    function: str
    field: FieldRef | None
    alias: str | None
    token: Token


@dataclass(frozen=True)
class FieldsMacro:
    """``FIELDS(STANDARD|CUSTOM|ALL)``."""

    kind: str
    token: Token


@dataclass(frozen=True)
class Query:
    text: str
    fields: tuple[Any, ...]  # FieldRef, Aggregate, FieldsMacro or SubQuery
    count_only: bool
    object: FieldRef
    where: Any
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    group_by: tuple[FieldRef, ...] = ()
    having: Any = None


@dataclass(frozen=True)
class SubQuery:
    """A parent-to-child subquery: ``(SELECT ... FROM <child relationship>)``."""

    query: Query
    token: Token


AGGREGATE_FUNCTIONS = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
FIELDS_KINDS = frozenset({"STANDARD", "CUSTOM", "ALL"})


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def unescape(token: Token, text: str, like: bool = False) -> str:
    body = token.text[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escaped = body[index + 1] if index + 1 < len(body) else ""
        if escaped in _ESCAPES:
            out.append(_ESCAPES[escaped])
        elif escaped in "_%":
            out.append("\\" + escaped if like else escaped)
        else:
            raise located(
                "MALFORMED_QUERY", text, token.pos,
                f"Invalid string literal '{token.text[1:-1]}'. "
                f"Illegal character sequence '\\{escaped}' in string literal.",
            )
        index += 2
    return "".join(out)


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # helpers
    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def error(self, token: Token, detail: str | None = None) -> SoqlError:
        return located("MALFORMED_QUERY", self.text, token.pos, detail or f"unexpected token: {token.text}")

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.upper in words

    def accept_keyword(self, *words: str) -> Token | None:
        return self.advance() if self.at_keyword(*words) else None

    def expect_keyword(self, word: str) -> Token:
        token = self.peek()
        if token.kind == "keyword" and token.upper == word:
            return self.advance()
        raise self.error(token)

    def expect_punct(self, char: str) -> Token:
        token = self.peek()
        if token.kind == "punct" and token.text == char:
            return self.advance()
        raise self.error(token)

    def at_punct(self, char: str) -> bool:
        token = self.peek()
        return token.kind == "punct" and token.text == char

    def field_ref(self) -> FieldRef:
        token = self.peek()
        if token.kind != "ident" or ":" in token.text:
            raise self.error(token)
        self.advance()
        return FieldRef(token.text, token)

    # grammar
    def parse(self, nested: bool = False) -> Query:
        self.expect_keyword("SELECT")
        fields, count_only = self.select_list()
        self.expect_keyword("FROM")
        obj = self.field_ref()
        where = self.expression() if self.accept_keyword("WHERE") else None
        group_by: tuple[FieldRef, ...] = ()
        if not nested and self.accept_keyword("GROUP"):
            self.expect_keyword("BY")
            refs = [self.field_ref()]
            while self.at_punct(","):
                self.advance()
                refs.append(self.field_ref())
            group_by = tuple(refs)
        having = self.expression() if group_by and self.accept_keyword("HAVING") else None
        if self.at_keyword("WITH", "GROUP", "HAVING", "USING"):
            raise self.error(self.peek(), f"{self.peek().upper} is not supported by the sandbox's SOQL subset")
        order: tuple[OrderItem, ...] = ()
        if self.accept_keyword("ORDER"):
            self.expect_keyword("BY")
            order = self.order_list()
        limit = self.integer() if self.accept_keyword("LIMIT") else None
        offset = self.integer() if self.accept_keyword("OFFSET") else None
        if self.at_keyword("FOR"):
            raise self.error(self.peek(), "FOR clauses are not supported by the sandbox's SOQL subset")
        token = self.peek()
        if token.kind != ("punct" if nested else "eof") or (nested and token.text != ")"):
            raise self.error(token)
        return Query(self.text, tuple(fields), count_only, obj, where, order, limit, offset, group_by, having)

    def select_list(self) -> tuple[list[Any], bool]:
        token = self.peek()
        ahead = self.tokens[self.index + 1: self.index + 4]
        if token.kind == "ident" and token.upper == "COUNT" and [t.text for t in ahead[:2]] == ["(", ")"] \
                and ahead[2].kind == "keyword" and ahead[2].upper == "FROM":
            self.index += 3
            return [], True
        fields = [self.select_item()]
        while self.at_punct(","):
            self.advance()
            fields.append(self.select_item())
        return fields, False

    def select_item(self) -> Any:
        token = self.peek()
        if token.kind == "punct" and token.text == "(":
            self.advance()
            if not self.at_keyword("SELECT"):
                raise self.error(self.peek())
            inner = self.parse(nested=True)
            self.expect_punct(")")
            return SubQuery(inner, token)
        if token.kind == "ident" and self.tokens[self.index + 1].text == "(":
            return self.function_item(token)
        return self.field_ref()

    def function_item(self, token: Token) -> Aggregate | FieldsMacro:
        name = token.upper
        if name not in AGGREGATE_FUNCTIONS and name != "FIELDS":
            raise self.error(token, f"{token.text}() is not supported by the sandbox's SOQL subset")
        self.advance()
        self.expect_punct("(")
        if name == "FIELDS":
            kind = self.peek()
            if kind.kind != "ident" or kind.upper not in FIELDS_KINDS:
                raise self.error(kind)
            self.advance()
            self.expect_punct(")")
            return FieldsMacro(kind.upper, token)
        ref = None if name == "COUNT" and self.at_punct(")") else self.field_ref()
        self.expect_punct(")")
        alias = None
        following = self.peek()
        if following.kind == "ident" and "." not in following.text and ":" not in following.text:
            alias = self.advance().text
        return Aggregate(name, ref, alias, token)

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.at_punct(","):
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def expression_ref(self) -> FieldRef:
        """A field, or an aggregate call (``SUM(Amount)``) as ORDER BY and HAVING name it."""
        token = self.peek()
        if token.kind == "ident" and token.upper in AGGREGATE_FUNCTIONS and self.tokens[self.index + 1].text == "(":
            self.advance()
            self.expect_punct("(")
            inner = "" if token.upper == "COUNT" and self.at_punct(")") else self.field_ref().name
            self.expect_punct(")")
            return FieldRef(f"{token.upper}({inner})", token)
        return self.field_ref()

    def order_item(self) -> OrderItem:
        ref = self.expression_ref()
        descending = False
        direction = self.accept_keyword("ASC", "DESC")
        if direction is not None:
            descending = direction.upper == "DESC"
        nulls_first: bool | None = None
        if self.accept_keyword("NULLS"):
            which = self.peek()
            if not self.accept_keyword("FIRST", "LAST"):
                raise self.error(which)
            nulls_first = which.upper == "FIRST"
        return OrderItem(ref, descending, nulls_first)

    def integer(self) -> int:
        token = self.peek()
        if token.kind != "number" or not token.text.isdigit():
            raise self.error(token)
        self.advance()
        return int(token.text)

    def expression(self) -> Any:
        parts = [self.unary()]
        operator: str | None = None
        while self.at_keyword("AND", "OR"):
            token = self.advance()
            if operator is not None and token.upper != operator:
                raise self.error(token)
            operator = token.upper
            parts.append(self.unary())
        if operator is None:
            return parts[0]
        return BoolOp(operator, tuple(parts))

    def unary(self) -> Any:
        if self.accept_keyword("NOT"):
            return Not(self.unary())
        if self.at_punct("("):
            self.advance()
            inner = self.expression()
            self.expect_punct(")")
            return inner
        return self.condition()

    def condition(self) -> Any:
        ref = self.expression_ref()
        if self.accept_keyword("NOT"):
            self.expect_keyword("IN")
            return InList(ref, self.value_list(), negated=True)
        if self.accept_keyword("IN"):
            return InList(ref, self.value_list(), negated=False)
        if self.accept_keyword("LIKE"):
            token = self.peek()
            if token.kind != "string":
                raise self.error(token)
            self.advance()
            return Like(ref, Literal("string", unescape(token, self.text, like=True), token))
        if self.at_keyword("INCLUDES", "EXCLUDES"):
            raise self.error(self.peek(), "INCLUDES/EXCLUDES are not supported by the sandbox's SOQL subset")
        token = self.peek()
        if token.kind != "op":
            raise self.error(token)
        self.advance()
        op = "!=" if token.text == "<>" else token.text
        return Comparison(ref, op, self.value())

    def value_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        if self.at_keyword("SELECT"):
            raise self.error(self.peek(), "semi-joins are not supported by the sandbox's SOQL subset")
        values = [self.value()]
        while self.at_punct(","):
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Literal:
        token = self.peek()
        kind = token.kind
        if kind == "string":
            self.advance()
            return Literal("string", unescape(token, self.text), token)
        if kind == "number":
            self.advance()
            return Literal("number", float(token.text), token)
        if kind == "datetime":
            self.advance()
            return Literal("datetime", canonical(parse_instant(token.text)), token)
        if kind == "date":
            self.advance()
            try:
                return Literal("date", date.fromisoformat(token.text).isoformat(), token)
            except ValueError as exc:
                raise self.error(token, f"invalid date: {token.text}") from exc
        if kind == "keyword" and token.upper in ("TRUE", "FALSE"):
            self.advance()
            return Literal("boolean", token.upper == "TRUE", token)
        if kind == "keyword" and token.upper == "NULL":
            self.advance()
            return Literal("null", None, token)
        if kind == "ident":
            name, _, amount = token.text.upper().partition(":")
            if name in DATE_LITERALS:
                self.advance()
                return Literal("date_literal", (name, int(amount) if amount else None), token)
        raise self.error(token)


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    return Parser(text).parse()


# --------------------------------------------------------------------------------- compiler


@dataclass(frozen=True)
class SortKey:
    """One ``ORDER BY`` item: nulls rank below or above every value (``null_rank`` 0 or 2, values 1)."""

    name: str
    descending: bool
    folded: bool
    null_rank: int
    placeholder: Any
    getter: Callable[[Record], Any] | None = None  # a parent's field (``ORDER BY Account.Name``)


@dataclass
class CompiledQuery:
    object: str
    fields: list[str]
    count_only: bool
    predicate: Predicate | None
    order: list[SortKey]
    limit: int | None
    offset: int
    types: dict[str, str] = field(default_factory=dict)
    columns: list[tuple[str, Any]] | None = None  # None: plain fields only; else field/path/child columns
    aggregate: AggregatePlan | None = None


def _type_name(definition: FieldDef) -> str:
    if definition.type in STRING_TYPES or definition.type in ID_TYPES:
        return "string"
    return {"datetime": "dateTime", "int": "integer"}.get(definition.type, definition.type)


class Compiler:
    def __init__(self, query: Query, schemas: dict[str, ObjectSchema], now: datetime,
                 stores: dict[str, dict[str, Record]] | None = None, schema: ObjectSchema | None = None) -> None:
        self.query, self.text, self.now = query, query.text, now
        self.schemas, self.stores = schemas, stores or {}
        lookup = {name.lower(): schema for name, schema in schemas.items()}
        schema = schema or lookup.get(query.object.name.lower())
        if schema is None:
            raise located(
                "INVALID_TYPE", self.text, query.object.token.pos,
                f"sObject type '{query.object.name}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            )
        self.schema = schema

    def resolve_path(self, ref: FieldRef) -> PathColumn:
        """``Account.Owner.Name`` as the hops to follow and the final field."""
        *relations, last = ref.name.split(".")
        schema, hops = self.schema, []
        for relation in relations:
            step = hop(schema, relation, self.schemas)
            if step is None:
                raise self.unknown_relationship(ref, relation)
            hops.append(step)
            schema = self.schemas[step.target]
        definition = schema.field(last)
        if definition is None:
            raise located("INVALID_FIELD", self.text, ref.token.pos,
                          f"No such column '{last}' on entity '{schema.name}'. If you are attempting to use a "
                          "custom field, be sure to append the '__c' after the custom field name. Please "
                          "reference your WSDL or the describe call for the appropriate names.")
        return PathColumn(tuple(hops), definition)

    def unknown_relationship(self, ref: FieldRef, head: str) -> SoqlError:
        return located(
            "INVALID_FIELD", self.text, ref.token.pos,
            f"Didn't understand relationship '{head}' in field path. If you are attempting to use a custom "
            "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )

    def resolve(self, ref: FieldRef) -> FieldDef:
        if "." in ref.name:
            head = ref.name.split(".", 1)[0]
            raise located(
                "INVALID_FIELD", self.text, ref.token.pos,
                f"Didn't understand relationship '{head}' in field path. If you are attempting to use a custom "
                "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
                "your WSDL or the describe call for the appropriate names.",
            )
        definition = self.schema.field(ref.name)
        if definition is None:
            raise located(
                "INVALID_FIELD", self.text, ref.token.pos,
                f"No such column '{ref.name}' on entity '{self.schema.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please reference your "
                "WSDL or the describe call for the appropriate names.",
            )
        return definition

    def compile(self) -> CompiledQuery:
        query = self.query
        fields: list[str] = []
        columns: list[tuple[str, Any]] = []
        aggregates: list[Aggregate] = []
        seen: set[str] = set()
        for item in query.fields:
            if isinstance(item, Aggregate):
                aggregates.append(item)
                columns.append(("aggregate", item))
            elif isinstance(item, FieldsMacro):
                for definition in self.macro_fields(item):
                    if definition.name not in fields:
                        fields.append(definition.name)
                        columns.append(("field", (definition.name, definition.type == "datetime")))
                seen.update(name.lower() for name in fields)
            elif isinstance(item, SubQuery):
                columns.append(("child", self.child_column(item)))
            else:
                if item.name.lower() in seen:
                    raise located("MALFORMED_QUERY", self.text, item.token.pos,
                                  f"duplicate field selected: {item.name}")
                seen.add(item.name.lower())
                if "." in item.name:
                    columns.append(("path", self.resolve_path(item)))
                    continue
                definition = self.resolve(item)
                fields.append(definition.name)
                columns.append(("field", (definition.name, definition.type == "datetime")))
        predicate = self.predicate(query.where) if query.where is not None else None
        if query.offset is not None and query.offset > 2000:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        plain = all(kind == "field" for kind, _ in columns)
        plan = self.aggregate_plan(columns) if aggregates or query.group_by else None
        if plan is not None:
            plan, order = self.grouped_order_and_having(plan)
        else:
            order = [self.sort_key(item) for item in query.order_by]
        return CompiledQuery(
            self.schema.name, fields, query.count_only, predicate, order, query.limit, query.offset or 0,
            types={name: self.schema.fields[name].type for name in fields},
            columns=None if plain or plan else columns, aggregate=plan,
        )

    def grouped_order_and_having(self, plan: AggregatePlan) -> tuple[AggregatePlan, list[SortKey]]:
        """ORDER BY and HAVING of an aggregate query, compiled against its result rows.

        A result row holds the grouped fields and one value per aggregate (selected or only named in
        ORDER BY/HAVING, then computed but not returned), so both clauses reuse the usual compiler."""
        fields = {name: self.schema.fields[name] for name in plan.group_by}
        names: dict[tuple[str, str | None], str] = {}
        columns = list(plan.columns)
        for kind, column in plan.columns:
            if kind == "aggregate":
                names.setdefault((column.function, column.field), column.name)
        hidden: list[AggregateColumn] = []

        def rename(ref: FieldRef) -> FieldRef:
            match = re.fullmatch(r"([A-Z_]+)\((.*)\)", ref.name)
            if match is None:
                if self.schema.field(ref.name) is None or self.schema.field(ref.name).name not in plan.group_by:
                    raise located("MALFORMED_QUERY", self.text, ref.token.pos,
                                  f"Ordered field must be grouped or aggregated: {ref.name}")
                return ref
            function, inner = match.group(1), match.group(2) or None
            definition = self.resolve(FieldRef(inner, ref.token)) if inner else None
            key = (function, definition.name if definition else None)
            if key not in names:
                names[key] = f"hidden{len(hidden)}"
                hidden.append(AggregateColumn(function, key[1], definition.type if definition else None, names[key]))
            return FieldRef(names[key], ref.token)

        order_items = [replace(item, field=rename(item.field)) for item in self.query.order_by]
        having_node = _rename_refs(self.query.having, rename) if self.query.having is not None else None
        for kind, column in columns:
            if kind == "aggregate":
                fields[column.name] = FieldDef(column.name, _aggregate_type(column))
        for column in hidden:
            fields[column.name] = FieldDef(column.name, _aggregate_type(column))
        rows = Compiler(self.query, self.schemas, self.now, self.stores, ObjectSchema("AggregateResult", fields))
        having = rows.predicate(having_node) if having_node is not None else None
        order = [rows.sort_key(item) for item in order_items]
        return replace(plan, hidden=tuple(hidden), having=having), order

    def macro_fields(self, macro: FieldsMacro) -> list[FieldDef]:
        if macro.kind != "STANDARD" and (self.query.limit is None or self.query.limit > 200):
            raise located("MALFORMED_QUERY", self.text, macro.token.pos,
                          "The SOQL FIELDS function must have a LIMIT of at most 200")
        custom = {"STANDARD": False, "CUSTOM": True}.get(macro.kind)
        return [d for d in self.schema.fields.values() if custom is None or d.name.endswith("__c") == custom]

    def child_column(self, item: SubQuery) -> ChildColumn:
        inner = item.query
        relation = child_relationship(self.schema.name, inner.object.name, self.schemas)
        if relation is None:
            raise located(
                "INVALID_TYPE", self.text, inner.object.token.pos,
                f"Didn't understand relationship '{inner.object.name}' in FROM part of query call. If you are "
                "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name. Please reference your WSDL or the describe call for the appropriate names.",
            )
        compiled = Compiler(inner, self.schemas, self.now, self.stores, self.schemas[relation.child]).compile()
        if compiled.aggregate is not None or any(kind == "child" for kind, _ in compiled.columns or ()):
            raise located("MALFORMED_QUERY", self.text, inner.object.token.pos,
                          "Nesting of semi join sub-selects is not supported")
        return ChildColumn(relation, compiled)

    def aggregate_plan(self, columns: list[tuple[str, Any]]) -> AggregatePlan:
        group_defs = [self.resolve(ref) for ref in self.query.group_by]
        group_names = tuple(d.name for d in group_defs)
        planned: list[tuple[str, Any]] = []
        unnamed = 0
        for kind, column in columns:
            if kind == "field":
                name = column[0]
                if name not in group_names:
                    raise located("MALFORMED_QUERY", self.text, 0, f"Field must be grouped or aggregated: {name}")
                planned.append(("group", name))
            elif kind == "aggregate":
                definition = self.resolve(column.field) if column.field is not None else None
                if column.function in ("SUM", "AVG") and definition is not None and definition.type not in NUMBER_TYPES:
                    raise located("MALFORMED_QUERY", self.text, column.token.pos,
                                  f"field {definition.name} does not support aggregate operator {column.function}")
                name = column.alias
                if name is None:
                    name, unnamed = f"expr{unnamed}", unnamed + 1
                planned.append(("aggregate", AggregateColumn(
                    column.function, definition.name if definition else None,
                    definition.type if definition else None, name)))
            else:
                raise located("MALFORMED_QUERY", self.text, 0,
                              "Relationship fields and subqueries are not supported in aggregate queries")
        return AggregatePlan(group_names, tuple(d.type for d in group_defs), tuple(planned))

    # -- predicates

    def predicate(self, node: Any) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.predicate(part) for part in node.parts]
            return _all(parts) if node.op == "AND" else _any(parts)
        if isinstance(node, Not):
            inner = self.predicate(node.part)
            return lambda record: not inner(record)
        if isinstance(node, (Comparison, InList, Like)) and "." in node.field.name:
            return self.path_predicate(node)
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Like):
            return self.like(node)
        raise AssertionError(f"unexpected node {node!r}")

    def path_predicate(self, node: Comparison | InList | Like) -> Predicate:
        """A condition on a parent's field, tested on the parent (an empty record when there is none)."""
        path = self.resolve_path(node.field)
        target = self.schemas[path.hops[-1].target]
        local = replace(node, field=FieldRef(path.field.name, node.field.token))
        inner = Compiler(self.query, self.schemas, self.now, self.stores, target).predicate(local)
        stores, hops = self.stores, path.hops
        return lambda r: inner(follow(stores, hops, r) or {})

    def type_error(self, definition: FieldDef, literal: Literal) -> SoqlError:
        quoted = "should be enclosed in quotes" if _type_name(definition) == "string" else (
            "should not be enclosed in quotes"
        )
        return located(
            "INVALID_FIELD", self.text, literal.token.pos,
            f"value of filter criterion for field '{definition.name}' must be of type {_type_name(definition)} "
            f"and {quoted}",
        )

    def coerce(self, definition: FieldDef, literal: Literal) -> Any:
        """The literal as a value comparable with stored values of the field (None for null)."""
        kind, ftype = literal.kind, definition.type
        if kind == "null":
            return None
        if not definition.filterable:
            raise located("INVALID_FIELD", self.text, literal.token.pos,
                          f"field '{definition.name}' can not be filtered in a query call")
        if ftype == "datetime":
            if kind != "datetime":
                raise self.type_error(definition, literal)
            return literal.value
        if ftype == "date":
            if kind != "date":
                raise self.type_error(definition, literal)
            return literal.value
        if ftype == "boolean":
            if kind != "boolean":
                raise self.type_error(definition, literal)
            return literal.value
        if ftype in NUMBER_TYPES:
            if kind != "number":
                raise self.type_error(definition, literal)
            return literal.value
        if kind != "string":
            raise self.type_error(definition, literal)
        if ftype in ID_TYPES:
            if literal.value == "":
                return None
            normalized = normalize_salesforce_id(literal.value)
            if normalized is None:
                raise located("INVALID_QUERY_FILTER_OPERATOR", self.text, literal.token.pos,
                              f"invalid ID field: {literal.value}")
            return normalized
        return literal.value.casefold()

    def date_range(self, definition: FieldDef, literal: Literal) -> tuple[Any, Any]:
        """``[start, end)`` of a date literal, in the field's stored representation."""
        if definition.type not in ("date", "datetime"):
            raise self.type_error(definition, literal)
        name, amount = literal.value
        today = self.now.astimezone(timezone.utc).date()
        needs_amount = name in ("LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO")
        if needs_amount != (amount is not None):
            raise located("MALFORMED_QUERY", self.text, literal.token.pos, f"unexpected token: {literal.token.text}")
        first_of_month = today.replace(day=1)
        monday = today - timedelta(days=today.weekday())
        start, end = {
            "TODAY": (today, today + timedelta(days=1)),
            "YESTERDAY": (today - timedelta(days=1), today),
            "TOMORROW": (today + timedelta(days=1), today + timedelta(days=2)),
            "LAST_N_DAYS": (today - timedelta(days=amount or 0), today + timedelta(days=1)),
            "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=(amount or 0) + 1)),
            "N_DAYS_AGO": (today - timedelta(days=amount or 0), today - timedelta(days=(amount or 0) - 1)),
            "THIS_WEEK": (monday, monday + timedelta(days=7)),
            "LAST_WEEK": (monday - timedelta(days=7), monday),
            "THIS_MONTH": (first_of_month, (first_of_month + timedelta(days=32)).replace(day=1)),
            "LAST_MONTH": ((first_of_month - timedelta(days=1)).replace(day=1), first_of_month),
        }[name]
        if definition.type == "date":
            return start.isoformat(), end.isoformat()
        as_text = lambda day: canonical(datetime(day.year, day.month, day.day, tzinfo=timezone.utc))  # noqa: E731
        return as_text(start), as_text(end)

    def comparison(self, node: Comparison) -> Predicate:
        definition = self.resolve(node.field)
        name, op = definition.name, node.op
        if node.value.kind == "date_literal":
            low, high = self.date_range(definition, node.value)
            ranges: dict[str, Predicate] = {
                "=": lambda r: (v := r.get(name)) is not None and low <= v < high,
                "!=": lambda r: (v := r.get(name)) is None or not low <= v < high,
                "<": lambda r: (v := r.get(name)) is not None and v < low,
                "<=": lambda r: (v := r.get(name)) is not None and v < high,
                ">": lambda r: (v := r.get(name)) is not None and v >= high,
                ">=": lambda r: (v := r.get(name)) is not None and v >= low,
            }
            return ranges[op]
        value = self.coerce(definition, node.value)
        if value is None:
            if op == "=":
                return lambda r: r.get(name) is None
            if op == "!=":
                return lambda r: r.get(name) is not None
            raise located("MALFORMED_QUERY", self.text, node.value.token.pos,
                          f"invalid operator {op} for a null value")
        if definition.type == "boolean" and op not in ("=", "!="):
            raise located("INVALID_QUERY_FILTER_OPERATOR", self.text, node.field.token.pos,
                          f"invalid operator on boolean field: {op}")
        if definition.type in STRING_TYPES:
            def get(r: Record) -> Any:
                v = r.get(name)
                return None if v is None else str(v).casefold()
            folded_ops: dict[str, Predicate] = {
                "=": lambda r: get(r) == value,
                "!=": lambda r: get(r) != value,
                "<": lambda r: (v := get(r)) is not None and v < value,
                "<=": lambda r: (v := get(r)) is not None and v <= value,
                ">": lambda r: (v := get(r)) is not None and v > value,
                ">=": lambda r: (v := get(r)) is not None and v >= value,
            }
            return folded_ops[op]
        ops: dict[str, Predicate] = {
            "=": lambda r: r.get(name) == value,
            "!=": lambda r: r.get(name) != value,
            "<": lambda r: (v := r.get(name)) is not None and v < value,
            "<=": lambda r: (v := r.get(name)) is not None and v <= value,
            ">": lambda r: (v := r.get(name)) is not None and v > value,
            ">=": lambda r: (v := r.get(name)) is not None and v >= value,
        }
        return ops[op]

    def in_list(self, node: InList) -> Predicate:
        definition = self.resolve(node.field)
        name = definition.name
        for literal in node.values:
            if literal.kind == "date_literal":
                raise self.type_error(definition, literal)
        values = frozenset(self.coerce(definition, literal) for literal in node.values)
        folded = definition.type in STRING_TYPES
        def contains(r: Record) -> bool:
            v = r.get(name)
            if folded and v is not None:
                v = str(v).casefold()
            return v in values
        if node.negated:
            return lambda r: not contains(r)
        return contains

    def like(self, node: Like) -> Predicate:
        definition = self.resolve(node.field)
        if definition.type not in STRING_TYPES and definition.type not in ID_TYPES:
            raise located("INVALID_FIELD", self.text, node.pattern.token.pos,
                          f"invalid operator on field: LIKE is not allowed on {definition.name}")
        regex = _like_regex(node.pattern.value)
        name = definition.name
        return lambda r: (v := r.get(name)) is not None and regex.fullmatch(str(v)) is not None

    # -- ordering

    def sort_key(self, item: OrderItem) -> SortKey:
        getter = None
        if "." in item.field.name:
            path = self.resolve_path(item.field)
            definition, stores, hops, name = path.field, self.stores, path.hops, path.field.name
            getter = lambda r: (parent := follow(stores, hops, r)) and parent.get(name)  # noqa: E731
        else:
            definition = self.resolve(item.field)
        if not definition.filterable:
            raise located("INVALID_FIELD", self.text, item.field.token.pos,
                          f"field '{definition.name}' can not be sorted in a query call")
        nulls_first = (not item.descending) if item.nulls_first is None else item.nulls_first
        nulls_low = nulls_first if not item.descending else not nulls_first
        placeholder: Any = 0 if definition.type in NUMBER_TYPES or definition.type == "boolean" else ""
        return SortKey(item.field.name if getter else definition.name, item.descending,
                       definition.type in STRING_TYPES, 0 if nulls_low else 2, placeholder, getter)


def _aggregate_type(column: AggregateColumn) -> str:
    if column.function in ("COUNT", "COUNT_DISTINCT"):
        return "int"
    if column.function == "AVG":
        return "double"
    return column.field_type or "double"


def _rename_refs(node: Any, rename: Callable[[FieldRef], FieldRef]) -> Any:
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(_rename_refs(part, rename) for part in node.parts))
    if isinstance(node, Not):
        return Not(_rename_refs(node.part, rename))
    return replace(node, field=rename(node.field))


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        first, second = parts
        return lambda r: first(r) and second(r)
    return lambda r: all(part(r) for part in parts)


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        first, second = parts
        return lambda r: first(r) or second(r)
    return lambda r: any(part(r) for part in parts)


def _like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def compile_query(text: str, schemas: dict[str, ObjectSchema], now: datetime,
                  stores: dict[str, dict[str, Record]] | None = None) -> CompiledQuery:
    """Parse and check ``text``; raises :class:`SoqlError` with Salesforce's error code.

    ``stores`` (object → id → record) lets WHERE clauses follow relationships (``Account.Name``)."""
    query = parse(text)
    return Compiler(query, schemas, now, stores).compile()


def _flat_key(keys: list[SortKey]) -> Callable[[Record], tuple[Any, ...]]:
    def key(record: Record) -> tuple[Any, ...]:
        out: list[Any] = []
        for spec in keys:
            value = spec.getter(record) if spec.getter else record.get(spec.name)
            if value is None:
                out += (spec.null_rank, spec.placeholder)
            else:
                out += (1, str(value).casefold() if spec.folded else value)
        return tuple(out)

    return key


def sort_rows(rows: list[Record], keys: list[SortKey]) -> None:
    """Sort in place. Null-free, case-sensitive keys in one direction (the common ``ORDER BY
    SystemModstamp, Id``) sort with ``itemgetter``, several times faster on a million rows."""
    if not keys:
        return
    if len({spec.descending for spec in keys}) > 1:
        for spec in reversed(keys):
            rows.sort(key=_flat_key([spec]), reverse=spec.descending)
        return
    names = [spec.name for spec in keys]
    plain = not any(spec.folded or spec.getter for spec in keys) and not any(
        record.get(name) is None for name in names for record in rows
    )
    rows.sort(key=itemgetter(*names) if plain else _flat_key(keys), reverse=keys[0].descending)


def execute(compiled: CompiledQuery, records: Iterable[Record], keep: Predicate | None = None,
            window: bool = True) -> list[Record]:
    """Filter (``keep`` and the WHERE clause), sort and (unless ``window`` is off) apply LIMIT/OFFSET."""
    predicate = compiled.predicate
    if keep is not None and predicate is not None:
        rows = [r for r in records if keep(r) and predicate(r)]
    elif keep is not None or predicate is not None:
        only = keep or predicate
        rows = [r for r in records if only(r)]  # type: ignore[misc]
    else:
        rows = list(records)
    if compiled.aggregate is not None:
        rows = aggregate_rows(compiled.aggregate, rows)
    sort_rows(rows, compiled.order)
    if not window:
        return rows
    start = compiled.offset
    end = None if compiled.limit is None else start + compiled.limit
    if start or end is not None:
        rows = rows[start:end]
    return rows
