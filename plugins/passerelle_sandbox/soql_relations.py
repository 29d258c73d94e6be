"""SOQL relationships: child-to-parent paths (``Account.Owner.Name``) and parent-to-child subqueries.

A reference field names its relationship the way Salesforce does: ``AccountId`` → ``Account``,
``Partner__c`` → ``Partner__r``. A parent's child relationships are the plural of the child object
(``Contacts``, ``Opportunities``, ``OpportunityLineItems``; ``Invoices__r`` for a custom child);
when a child points at the same parent through several fields only the first is named, and the
audit references to User (owner, creator, last modifier) have no name, as in the describe of an org.
Rendered rows nest each parent as an object with its own ``attributes`` (``null`` when the reference
is empty) and each child list as a query result (``null`` when there is none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from passerelle_sandbox.soql_schema import FieldDef, ObjectSchema

Record = dict[str, Any]
CompiledQuery = Any  # soql.CompiledQuery (soql imports this module): fields, types, columns, limit, offset
Stores = dict[str, dict[str, Record]]
UNNAMED_TO_USER = frozenset({"OwnerId", "CreatedById", "LastModifiedById"})


@dataclass(frozen=True)
class Hop:
    """One step up a path: follow ``field`` (named ``relationship``) to a ``target`` record."""

    field: str
    relationship: str
    target: str


@dataclass(frozen=True)
class PathColumn:
    hops: tuple[Hop, ...]
    field: FieldDef


@dataclass(frozen=True)
class ChildRelationship:
    parent: str
    child: str
    field: str
    name: str | None


@dataclass
class ChildColumn:
    relationship: ChildRelationship
    query: CompiledQuery


def relationship_name(field_name: str) -> str:
    if field_name.endswith("__c"):
        return field_name[:-3] + "__r"
    return field_name[:-2] if field_name.endswith("Id") else field_name


def plural(name: str) -> str:
    if name.endswith("__c"):
        return plural(name[:-3]) + "__r"
    if name.endswith("y") and name[-2:-1] not in "aeiou":
        return name[:-1] + "ies"
    if name.endswith(("s", "x")):
        return name + "es"
    return name + "s"


def hop(schema: ObjectSchema, relationship: str, schemas: dict[str, ObjectSchema]) -> Hop | None:
    wanted = relationship.lower()
    for definition in schema.fields.values():
        if definition.type != "reference" or not definition.reference_to:
            continue
        target = definition.reference_to[0]
        if relationship_name(definition.name).lower() == wanted and target in schemas:
            return Hop(definition.name, relationship_name(definition.name), target)
    return None


def child_relationships(parent: str, schemas: dict[str, ObjectSchema]) -> list[ChildRelationship]:
    found: list[ChildRelationship] = []
    for child, schema in schemas.items():
        named = False
        for definition in schema.fields.values():
            if definition.type != "reference" or parent not in definition.reference_to:
                continue
            unnamed = named or (parent == "User" and definition.name in UNNAMED_TO_USER)
            found.append(ChildRelationship(parent, child, definition.name, None if unnamed else plural(child)))
            named = named or not unnamed
    return found


def child_relationship(parent: str, name: str, schemas: dict[str, ObjectSchema]) -> ChildRelationship | None:
    for relation in child_relationships(parent, schemas):
        if relation.name is not None and relation.name.lower() == name.lower():
            return relation
    return None


def follow(stores: Stores, hops: tuple[Hop, ...], record: Record | None) -> Record | None:
    """The record at the end of ``hops`` (None if a reference on the way is empty or dangling)."""
    for step in hops:
        if record is None:
            return None
        ref = record.get(step.field)
        record = stores.get(step.target, {}).get(ref) if ref else None
        if record is not None and record.get("IsDeleted"):
            record = None
    return record


def describe_child(relation: ChildRelationship) -> Record:
    return {
        "cascadeDelete": relation.child == "OpportunityLineItem",
        "childSObject": relation.child,
        "deprecatedAndHidden": False,
        "field": relation.field,
        "junctionIdListNames": [],
        "junctionReferenceTo": [],
        "relationshipName": relation.name,
        "restrictedDelete": False,
    }


Plain = Callable[[str, Record, list[tuple[str, bool]]], Record]


class RowRenderer:
    """Renders records for a select list mixing plain fields, parent paths and child subqueries."""

    def __init__(self, obj: str, columns: list[tuple[str, Any]], stores: Stores, plain: Plain,
                 keep: Callable[[Record], bool] | None, execute: Callable[..., list[Record]]) -> None:
        self.obj, self.columns, self.stores, self.plain = obj, columns, stores, plain
        self.keep, self.execute = keep, execute
        self._children: dict[int, dict[str, list[Record]]] = {}

    def __call__(self, record: Record) -> Record:
        out = self.plain(self.obj, record, [])
        for kind, column in self.columns:
            if kind == "field":
                name, is_datetime = column
                out.update({k: v for k, v in self.plain(self.obj, record, [(name, is_datetime)]).items()
                            if k != "attributes"})
            elif kind == "path":
                self._path(out, record, column)
            else:
                self._child(out, record, column)
        return out

    def _path(self, out: Record, record: Record, column: PathColumn) -> None:
        node, current = out, record
        for index, step in enumerate(column.hops):
            parent = follow(self.stores, (step,), current)
            if parent is None:
                if step.relationship not in node:
                    node[step.relationship] = None
                return
            existing = node.get(step.relationship)
            if not isinstance(existing, dict):
                existing = self.plain(step.target, parent, [])
                node[step.relationship] = existing
            node, current = existing, parent
        final = self.plain(column.hops[-1].target, current, [(column.field.name, column.field.type == "datetime")])
        node[column.field.name] = final[column.field.name]

    def _child(self, out: Record, record: Record, column: ChildColumn) -> None:
        relation = column.relationship
        groups = self._children.get(id(column))
        if groups is None:
            groups = {}
            candidates = self.stores.get(relation.child, {}).values()
            for child in self.execute(column.query, candidates, self.keep, window=False):
                groups.setdefault(child.get(relation.field), []).append(child)
            self._children[id(column)] = groups
        rows = groups.get(record.get("Id"), [])
        query = column.query
        rows = rows[query.offset:] if query.limit is None else rows[query.offset:query.offset + query.limit]
        if not rows:
            out[relation.name or relation.child] = None
            return
        renderer = column_renderer(relation.child, query, self.stores, self.plain, self.keep, self.execute)
        out[relation.name or relation.child] = {"totalSize": len(rows), "done": True,
                                                "records": [renderer(child) for child in rows]}


def column_renderer(obj: str, query: CompiledQuery, stores: Stores, plain: Plain,
                    keep: Callable[[Record], bool] | None, execute: Callable[..., list[Record]]
                    ) -> Callable[[Record], Record]:
    if query.columns is None:
        fields = [(name, query.types[name] == "datetime") for name in query.fields]
        return lambda record: plain(obj, record, fields)
    return RowRenderer(obj, query.columns, stores, plain, keep, execute)
