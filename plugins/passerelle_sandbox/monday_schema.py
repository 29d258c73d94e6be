"""The part of monday.com's GraphQL schema the sandbox serves, and query complexity.

The schema is monday's published one (``api.monday.com/v2/get_schema``), cut down by
``passerelle_dev.monday_schema_gen`` to :data:`SERVED_ROOT_FIELDS` and the types they reach, kept in
``monday_schema.graphql`` with signatures only, and executed by graphql-core: unknown fields, bad
arguments and type errors are rejected by GraphQL validation exactly as monday rejects them. Complexity
is estimated from the parsed query the way monday documents it: list fields multiply the cost of
their selection by their ``limit`` (or a default page size), so asking for 500 items with their
column values costs far more than listing board names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    build_schema,
)
from graphql.language import DocumentNode, FragmentDefinitionNode

SCHEMA_FILE = Path(__file__).resolve().with_name("monday_schema.graphql")
"""monday's published schema cut down to :data:`SERVED_ROOT_FIELDS` by ``passerelle_dev.monday_schema_gen``."""

SERVED_ROOT_FIELDS: dict[str, tuple[str, ...]] = {
    "Query": (
        "account", "boards", "complexity", "items", "items_page_by_column_values", "me", "next_items_page",
        "tags", "teams", "updates", "users", "version", "workspaces",
    ),
    "Mutation": (
        "archive_item", "change_column_value", "change_multiple_column_values", "change_simple_column_value",
        "create_board", "create_column", "create_item", "create_subitem", "create_update", "delete_item",
        "delete_update", "move_item_to_group",
    ),
}
"""The root fields the emulator resolves; the generator keeps them and the types they reach."""

LIST_DEFAULTS = {
    "boards": 25, "items": 25, "users": 200, "items_page": 25, "next_items_page": 25, "activity_logs": 25,
    "column_values": 10, "columns": 10, "groups": 5, "history": 5, "owners": 2, "persons_and_teams": 2,
    "items_page_by_column_values": 25, "updates": 25, "replies": 5, "assets": 2, "teams": 5,
    "workspaces": 25, "tags": 10, "linked_items": 5, "mirrored_items": 5,
}
"""Page size assumed for a list field without ``limit`` (monday's defaults, or a typical size).
``items`` inside ``items_page`` is the page itself: its size is the page's ``limit``."""


def build_monday_schema() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


def _argument(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    """The argument's value when it is a literal int/list or a variable; None otherwise."""
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, ListValueNode):
            return list(value.values)
        if isinstance(value, VariableNode):
            return variables.get(value.name.value)
    return None


def _limit(node: FieldNode, variables: dict[str, Any]) -> int | None:
    """How many objects the list field can return: ``limit``, else the number of ``ids`` asked for."""
    limit = _argument(node, "limit", variables)
    ids = _argument(node, "ids", variables)
    count = len(ids) if isinstance(ids, list) else None
    if isinstance(limit, int):
        return min(limit, count) if count is not None else limit
    return count


def _selection_cost(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = _selection_cost(selection.selection_set, fragments, variables)
            name = selection.name.value
            if name in LIST_DEFAULTS and not (name == "items" and not selection.arguments):
                size = _limit(selection, variables) or LIST_DEFAULTS[name]
                total += 1 + size * max(inner, 1)
            else:
                total += 1 + inner
        elif isinstance(selection, InlineFragmentNode):
            total += _selection_cost(selection.selection_set, fragments, variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            total += _selection_cost(fragment.selection_set if fragment else None, fragments, variables)
    return total


def query_complexity(document: DocumentNode, operation_name: str | None, variables: dict[str, Any]) -> int:
    """The estimated cost of the operation that will run (monday adds a fixed base per query)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next((o for o in operations if operation_name and o.name and o.name.value == operation_name),
                  operations[0] if operations else None)
    if chosen is None:
        return 0
    return 10 + _selection_cost(chosen.selection_set, fragments, variables)
