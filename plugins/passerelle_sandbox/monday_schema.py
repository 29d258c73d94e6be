"""The subset of monday.com's GraphQL schema (API 2025-07 to 2026-01) the sandbox serves, and query complexity.

The schema is real SDL executed by graphql-core: unknown fields, bad arguments and type errors are
rejected by GraphQL validation exactly as a GraphQL server would. No package available offline ships
monday's published schema file, so the SDL is written here by hand, type by type, with the names,
argument lists and nullability of the published schema for the parts the sandbox serves (reads of
boards, items, subitems, updates, users, teams, workspaces and tags; the item, update, board and
column mutations). Complexity is estimated from the
parsed query the way monday documents it: list fields multiply the cost of their selection by their
``limit`` (or a default page size), so asking for 500 items with their column values costs far more
than listing board names.
"""

from __future__ import annotations

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

SDL = """
scalar JSON
scalar ISO8601DateTime
scalar CompareValue
scalar Date

enum State { all active archived deleted }
enum BoardKind { public private share }
enum BoardsOrderBy { created_at used_at }
enum UserKind { all guests non_guests non_pending }
enum ItemsQueryOperator { and or }
enum ItemsOrderByDirection { asc desc }
enum ItemsQueryRuleOperator {
  any_of not_any_of is_empty is_not_empty greater_than greater_than_or_equals lower_than lower_than_or_equal
  between not_contains_text contains_text contains_terms starts_with ends_with within_the_next within_the_last
}
enum ColumnType {
  name status people date text checkbox time_tracking numbers link long_text
  board_relation dependency mirror subtasks
}
enum BoardObjectType { board custom_object document sub_items_board }
enum WorkspaceKind { open closed template }
enum WorkspacesOrderBy { created_at }

input ItemsQueryRule {
  column_id: ID!
  compare_value: CompareValue!
  compare_attribute: String
  operator: ItemsQueryRuleOperator = any_of
}
input ItemsPageByColumnValuesQuery { column_id: String! column_values: [String]! }
input ItemsQueryOrderBy { column_id: String! direction: ItemsOrderByDirection = asc }
input ItemsQuery {
  rules: [ItemsQueryRule!]
  operator: ItemsQueryOperator = and
  order_by: [ItemsQueryOrderBy!]
  ids: [ID!]
}

type Query {
  boards(ids: [ID!], limit: Int, page: Int, state: State = active, board_kind: BoardKind,
         order_by: BoardsOrderBy, workspace_ids: [ID]): [Board]
  items(ids: [ID!], limit: Int, page: Int, newest_first: Boolean, exclude_nonactive: Boolean): [Item]
  next_items_page(cursor: String!, limit: Int! = 25): ItemsResponse!
  users(ids: [ID!], limit: Int, page: Int, kind: UserKind, emails: [String], name: String): [User]
  items_page_by_column_values(board_id: ID!, columns: [ItemsPageByColumnValuesQuery!], cursor: String,
                              limit: Int! = 25): ItemsResponse!
  updates(ids: [ID!], limit: Int = 25, page: Int = 1): [Update!]
  teams(ids: [ID!]): [Team]
  workspaces(ids: [ID!], limit: Int, page: Int, kind: WorkspaceKind, state: State = active,
             order_by: WorkspacesOrderBy): [Workspace]
  tags(ids: [ID!]): [Tag]
  me: User
  account: Account
  complexity: Complexity
  version: Version
}

type Account { id: ID! name: String! slug: String! tier: String }
type Version { kind: String! value: String! }
type Complexity { before: Int! after: Int! query: Int! reset_in_x_seconds: Int! }

type Board {
  id: ID!
  name: String!
  state: State!
  board_kind: BoardKind!
  description: String
  workspace_id: ID
  workspace: Workspace
  type: BoardObjectType
  permissions: String!
  url: String!
  created_from_board_id: ID
  updated_at: ISO8601DateTime
  items_count: Int
  owners: [User]!
  tags: [Tag]
  updates(limit: Int = 25, page: Int = 1, ids: [ID!], from_date: String, to_date: String): [Update!]
  columns(ids: [String], types: [ColumnType!]): [Column]
  groups(ids: [String]): [Group]
  items_page(limit: Int! = 25, cursor: String, query_params: ItemsQuery): ItemsResponse!
  activity_logs(from: ISO8601DateTime, to: ISO8601DateTime, limit: Int = 25, page: Int = 1,
                item_ids: [ID!], user_ids: [ID!]): [ActivityLogType]
}

type Column {
  id: ID! title: String! type: ColumnType! archived: Boolean! settings_str: String! description: String width: Int
}
type Group {
  id: ID! title: String! color: String! position: String! archived: Boolean deleted: Boolean
  items_page(limit: Int! = 25, cursor: String, query_params: ItemsQuery): ItemsResponse!
}

type ItemsResponse { cursor: String items: [Item!]! }

type Item {
  id: ID!
  name: String!
  state: State
  created_at: ISO8601DateTime
  updated_at: ISO8601DateTime
  creator_id: String!
  group: Group
  board: Board
  url: String!
  column_values(ids: [String!], types: [ColumnType!]): [ColumnValue!]!
  subitems: [Item]
  parent_item: Item
  updates(limit: Int = 25, page: Int = 1): [Update!]
}

type Update {
  id: ID!
  body: String!
  text_body: String
  item_id: String
  creator_id: String
  creator: User
  created_at: Date
  updated_at: Date
  edited_at: Date!
  assets: [Asset]
  replies: [Reply!]
}
type Reply {
  id: ID! body: String! text_body: String creator_id: String creator: User created_at: Date updated_at: Date
  kind: String!
}
type Asset { id: ID! name: String! url: String! file_extension: String! file_size: Int! public_url: String! }
type Team { id: ID! name: String! picture_url: String is_guest: Boolean users: [User] owners: [User!]! }
type Workspace {
  id: ID name: String! kind: WorkspaceKind description: String state: State created_at: Date
  is_default_workspace: Boolean
}
type Tag { id: ID! name: String! color: String! }

type ActivityLogType {
  id: String!
  event: String!
  entity: String!
  data: String!
  created_at: String!
  user_id: String!
  account_id: String!
}

type User {
  id: ID!
  name: String!
  email: String!
  title: String
  enabled: Boolean!
  is_admin: Boolean
  is_guest: Boolean
  time_zone_identifier: String
  created_at: ISO8601DateTime
  teams(ids: [ID!]): [Team]
}

interface ColumnValue { id: ID! type: ColumnType! text: String value: JSON column: Column! }

type TextValue implements ColumnValue { id: ID! type: ColumnType! text: String value: JSON column: Column! }
type NameValue implements ColumnValue { id: ID! type: ColumnType! text: String value: JSON column: Column! }
type StatusValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  index: Int label: String is_done: Boolean updated_at: ISO8601DateTime
}
type PersonOrTeam { id: ID! kind: String }
type PeopleValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  persons_and_teams: [PersonOrTeam!] updated_at: ISO8601DateTime
}
type DateValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column! date: String time: String
}
type CheckboxValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column! checked: Boolean
}
enum NumberValueUnitDirection { left right }
type NumbersValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  number: Float symbol: String direction: NumberValueUnitDirection
}
type TimeTrackingHistoryItem {
  id: ID!
  started_user_id: ID
  ended_user_id: ID
  started_at: ISO8601DateTime
  ended_at: ISO8601DateTime
  manually_entered_start_date: Boolean!
  manually_entered_end_date: Boolean!
  status: String!
}
type TimeTrackingValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  duration: Int running: Boolean started_at: ISO8601DateTime updated_at: ISO8601DateTime
  history: [TimeTrackingHistoryItem!]!
}

type MirroredItem { linked_board_id: ID! linked_item: Item! }
type MirrorValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  display_value: String! mirrored_items: [MirroredItem!]!
}
type BoardRelationValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  display_value: String! linked_item_ids: [ID!]! linked_items: [Item!]! updated_at: Date
}
type DependencyValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  display_value: String! linked_item_ids: [ID!]! linked_items: [Item!]! updated_at: Date
}
type SubtasksValue implements ColumnValue {
  id: ID! type: ColumnType! text: String value: JSON column: Column!
  display_value: String! subitems_ids: [ID!]! subitems: [Item!]!
}

type Mutation {
  create_item(board_id: ID!, item_name: String!, column_values: JSON, group_id: String,
              create_labels_if_missing: Boolean): Item
  create_subitem(parent_item_id: ID!, item_name: String!, column_values: JSON, create_labels_if_missing: Boolean): Item
  change_column_value(board_id: ID!, item_id: ID, column_id: String!, value: JSON!,
                      create_labels_if_missing: Boolean): Item
  change_simple_column_value(board_id: ID!, item_id: ID, column_id: String!, value: String,
                             create_labels_if_missing: Boolean): Item
  change_multiple_column_values(board_id: ID!, item_id: ID, column_values: JSON!,
                                create_labels_if_missing: Boolean): Item
  move_item_to_group(item_id: ID, group_id: String!): Item
  archive_item(item_id: ID): Item
  delete_item(item_id: ID): Item
  create_update(item_id: ID, body: String!, parent_id: ID): Update
  delete_update(id: ID!): Update
  create_board(board_name: String!, board_kind: BoardKind!, description: String, folder_id: ID, workspace_id: ID,
               template_id: ID, board_owner_ids: [ID!], board_subscriber_ids: [ID!], empty: Boolean): Board
  create_column(board_id: ID!, title: String!, column_type: ColumnType!, description: String, defaults: JSON,
                id: String, after_column_id: ID): Column
}
"""

LIST_DEFAULTS = {
    "boards": 25, "items": 25, "users": 200, "items_page": 25, "next_items_page": 25, "activity_logs": 25,
    "column_values": 10, "columns": 10, "groups": 5, "history": 5, "owners": 2, "persons_and_teams": 2,
    "items_page_by_column_values": 25, "updates": 25, "replies": 5, "assets": 2, "teams": 5,
    "workspaces": 25, "tags": 10, "linked_items": 5, "mirrored_items": 5,
}
"""Page size assumed for a list field without ``limit`` (monday's defaults, or a typical size).
``items`` inside ``items_page`` is the page itself: its size is the page's ``limit``."""


def build_monday_schema() -> GraphQLSchema:
    return build_schema(SDL)


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
