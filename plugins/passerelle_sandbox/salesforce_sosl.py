"""SOSL search (``GET /search?q=FIND {term} [IN … FIELDS] [RETURNING Obj(fields [WHERE …] [ORDER BY …]
[LIMIT n]), …] [LIMIT n]``): answers ``{"searchRecords": [...]}`` like Salesforce.

Terms match whole words of a record's text fields, case-insensitively; ``*`` ends a prefix and
``?`` stands for one character; words are ANDed unless joined by ``OR``; a quoted phrase must appear
as written. Each ``RETURNING`` object list is a SOQL select list, so it is compiled by the SOQL
compiler (fields, WHERE, ORDER BY, LIMIT checked the same way). Without ``RETURNING`` every
searchable object answers with its ``Id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from passerelle_sandbox.core import Call, VendorError, json_response
from passerelle_sandbox.soql import STRING_TYPES, ObjectSchema, SoqlError, compile_query, execute
from passerelle_sandbox.store import Collection

Record = dict[str, Any]
SCOPES = {
    "ALL": None, "NAME": ("Name", "FirstName", "LastName"), "EMAIL": ("Email",), "PHONE": ("Phone", "MobilePhone"),
}
DEFAULT_LIMIT = 2000


class SoslError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Returning:
    object: str
    soql: str


@dataclass(frozen=True)
class Search:
    term: str
    scope: str
    returning: tuple[Returning, ...]
    limit: int


_FIND = re.compile(r"\s*FIND\s*\{((?:[^{}\\]|\\.)*)\}\s*(.*)\Z", re.IGNORECASE | re.DOTALL)
_IN = re.compile(r"IN\s+(ALL|NAME|EMAIL|PHONE)\s+FIELDS\s*(.*)\Z", re.IGNORECASE | re.DOTALL)
_RETURNING = re.compile(r"RETURNING\s+(.*)\Z", re.IGNORECASE | re.DOTALL)
_LIMIT = re.compile(r"(.*?)\s*\bLIMIT\s+(\d+)\s*\Z", re.IGNORECASE | re.DOTALL)


def _split_returning(text: str) -> list[tuple[str, str | None]]:
    """``Account(Id, Name), Contact`` → ``[("Account", "Id, Name"), ("Contact", None)]``."""
    items: list[tuple[str, str | None]] = []
    index = 0
    while index < len(text):
        match = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*").match(text, index)
        if match is None:
            raise SoslError("MALFORMED_SEARCH", f"unexpected token in RETURNING: {text[index:index + 20]}")
        name, index = match.group(1), match.end()
        inner = None
        if index < len(text) and text[index] == "(":
            depth, start = 0, index
            while index < len(text):
                depth += {"(": 1, ")": -1}.get(text[index], 0)
                index += 1
                if depth == 0:
                    break
            if depth:
                raise SoslError("MALFORMED_SEARCH", "unbalanced parenthesis in RETURNING")
            inner = text[start + 1:index - 1]
        items.append((name, inner))
        rest = text[index:].lstrip()
        if rest.startswith(","):
            index = len(text) - len(rest) + 1
        elif rest:
            raise SoslError("MALFORMED_SEARCH", f"unexpected token: {rest.split()[0]}")
        else:
            break
    return items


def _as_soql(obj: str, inner: str | None) -> str:
    if not inner or not inner.strip():
        return f"SELECT Id FROM {obj}"
    match = re.search(r"\b(WHERE|ORDER\s+BY|LIMIT|OFFSET)\b", inner, re.IGNORECASE)
    fields, tail = (inner[:match.start()], inner[match.start():]) if match else (inner, "")
    return f"SELECT {fields.strip()} FROM {obj} {tail}".strip()


def parse_search(text: str, schemas: dict[str, ObjectSchema]) -> Search:
    match = _FIND.match(text or "")
    if match is None:
        raise SoslError("MALFORMED_SEARCH", "No search term found. The search term must be enclosed in braces.")
    term, rest = match.group(1).strip(), match.group(2).strip()
    if len(term.replace("*", "").replace("?", "").strip('"')) < 2:
        raise SoslError("MALFORMED_SEARCH", "search term must be longer than one character: " + term)
    limit = DEFAULT_LIMIT
    tail = _LIMIT.match(rest)
    if tail is not None and not re.search(r"\([^)]*\bLIMIT\s+\d+\s*\Z", rest, re.IGNORECASE):
        rest, limit = tail.group(1).strip(), min(DEFAULT_LIMIT, int(tail.group(2)))
    scope = "ALL"
    scoped = _IN.match(rest)
    if scoped is not None:
        scope, rest = scoped.group(1).upper(), scoped.group(2).strip()
    returning: list[Returning] = []
    if rest:
        wanted = _RETURNING.match(rest)
        if wanted is None:
            raise SoslError("MALFORMED_SEARCH", f"unexpected token: {rest.split()[0]}")
        for name, inner in _split_returning(wanted.group(1)):
            schema = next((s for n, s in schemas.items() if n.lower() == name.lower()), None)
            if schema is None:
                raise SoslError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
            returning.append(Returning(schema.name, _as_soql(schema.name, inner)))
    else:
        returning = [Returning(name, f"SELECT Id FROM {name}") for name in schemas]
    return Search(term, scope, tuple(returning), limit)


def _word_pattern(word: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in word.casefold())
    return re.compile(rf"(?<!\w){body}(?!\w)" if "*" not in word else rf"(?<!\w){body}")


def matcher(term: str) -> Any:
    """A predicate on a record's searchable text for a SOSL term (AND of words, OR groups, phrases)."""
    groups: list[list[re.Pattern[str]]] = [[]]
    for token in re.findall(r'"[^"]*"|\S+', term):
        if token.upper() == "OR":
            groups.append([])
        elif token.upper() == "AND":
            continue
        elif token.startswith('"'):
            groups[-1].append(re.compile(re.escape(token.strip('"').casefold())))
        else:
            groups[-1].append(_word_pattern(token.replace("\\", "")))
    groups = [g for g in groups if g]
    return lambda text: any(all(p.search(text) for p in group) for group in groups)


def searchable_text(schema: ObjectSchema, record: Record, scope: str) -> str:
    names = SCOPES.get(scope)
    values = [record.get(d.name) for d in schema.fields.values()
              if d.type in STRING_TYPES and (names is None or d.name in names)]
    return " \n ".join(str(v) for v in values if v).casefold()


class SoslSearch:
    """Mixin for :class:`~passerelle_sandbox.salesforce.SalesforceApp`: the ``search`` endpoint."""

    objects: dict[str, Collection]
    schemas: dict[str, ObjectSchema]
    lock: Any
    clock: Any

    def on_search(self, call: Call, version: str) -> Response:
        text = call.request.args.get("q", "")
        with self.lock:
            try:
                search = parse_search(text, self.schemas)
                matches = matcher(search.term)
                found: list[Record] = []
                for returning in search.returning:
                    compiled = compile_query(returning.soql, self.schemas, self.clock.now(), self.objects)
                    schema = self.schemas[returning.object]
                    hits = [r for r in self.objects[returning.object].values()
                            if not r.get("IsDeleted") and matches(searchable_text(schema, r, search.scope))]
                    rows = execute(compiled, hits)
                    render = self._row_renderer(compiled, version, None)  # type: ignore[attr-defined]
                    fields = [(n, schema.fields[n].type == "datetime") for n in compiled.fields]
                    plain = self._render  # type: ignore[attr-defined]
                    found += [render(r) if render else plain(returning.object, version, r, fields) for r in rows]
            except (SoslError, SoqlError) as exc:
                raise VendorError(400, [{"message": exc.message, "errorCode": exc.code}]) from None
        return json_response({"searchRecords": found[: search.limit]})
