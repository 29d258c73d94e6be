"""The monday.com emulator serves monday's published schema: generated, pruned, and resolved as published."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import build_schema, parse, print_ast

from passerelle_dev.monday_schema_gen import main as generate_schema
from passerelle_dev.monday_schema_gen import prune
from passerelle_sandbox.monday_schema import SCHEMA_FILE, SERVED_ROOT_FIELDS
from tests.sandbox.test_monday_emulator import Monday, monday, monday_sandbox  # noqa: F401 - fixtures

PUBLISHED = '''
"""Exposes a URL."""
directive @specifiedBy(url: String!) on SCALAR
# a comment
"""A board."""
type Board {
  """The id."""
  id: ID!
  values(
    """Which columns."""
    ids: [String!]
  ): [ColumnValue!]!
  folder: Folder
}
interface ColumnValue { id: ID! }
type TextValue implements ColumnValue { id: ID! text: String }
union Mirrored = Board | Elsewhere
type Elsewhere { id: ID! }
type Folder { id: ID! mirrored: Mirrored }
input Filter { kind: Kind = open }
enum Kind { """Open.""" open closed }
type Unrelated { id: ID! }
type Query {
  """Boards."""
  boards(filter: Filter): [Board]
  unrelated: Unrelated
}
type Mutation { archive(id: ID!): Board drop: Unrelated }
'''


def test_pruning_keeps_what_the_served_fields_reach_without_descriptions() -> None:
    pruned = print_ast(prune(parse(PUBLISHED, no_location=True), {"Query": ("boards",), "Mutation": ("archive",)}))
    schema = build_schema(pruned)
    assert '"""' not in pruned and "#" not in pruned and "directive" not in pruned
    assert set(schema.query_type.fields) == {"boards"} and set(schema.mutation_type.fields) == {"archive"}
    kept = {name for name in schema.type_map if not name.startswith("__")}
    assert {"Board", "ColumnValue", "TextValue", "Mirrored", "Elsewhere", "Folder", "Filter", "Kind"} <= kept
    assert "Unrelated" not in kept
    assert str(schema.get_type("Board").fields["values"].args["ids"].type) == "[String!]"


def test_the_generator_refuses_a_schema_without_a_served_field(tmp_path: Path) -> None:
    published = tmp_path / "published.graphql"
    published.write_text(PUBLISHED, encoding="utf-8")
    with pytest.raises(SystemExit, match="Query of the published schema has no"):
        generate_schema([str(published), "--output", str(tmp_path / "out.graphql")])


def test_the_sandbox_schema_is_the_generated_one() -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    header = text.splitlines()[:4]
    assert "api.monday.com/v2/get_schema" in header[1] and header[2].startswith("# API version: ")
    assert '"""' not in text
    schema = build_schema(text)
    assert tuple(sorted(schema.query_type.fields)) == SERVED_ROOT_FIELDS["Query"]
    assert tuple(sorted(schema.mutation_type.fields)) == SERVED_ROOT_FIELDS["Mutation"]


def test_signatures_the_hand_written_subset_had_wrong(monday: Monday) -> None:
    version = monday.data("{ version { kind display_name value } }")["version"]
    assert version == {"kind": "current", "display_name": "Current", "value": "2025-07"}
    refused = monday.post('{ boards(limit: 1) { updates(from_date: "2026-01-01") { id } } }').json()
    assert refused["errors"][0]["message"] == "Unknown argument 'from_date' on field 'Board.updates'."
    assert "errors" in monday.post("{ boards(limit: 1) { created_from_board_id } }").json()
    assert "errors" in monday.post("{ items(limit: 1) { column_values { ... on NameValue { id } } } }").json()
    board = monday.data("{ boards(limit: 1) { id } }")["boards"][0]["id"]
    people = monday.data("""query ($b: [ID!]) { boards(ids: $b) { items_page(limit: 5) { items {
        column_values(ids: ["person"]) { ... on PeopleValue { persons_and_teams { id kind } } } } } } }""",
                         {"b": [board]})["boards"][0]["items_page"]["items"]
    kinds = {p["kind"] for i in people for v in i["column_values"] for p in v["persons_and_teams"] or []}
    assert kinds == {"person"}


def test_required_fields_of_the_published_types_are_answered(monday: Monday) -> None:
    board = monday.data("""{ boards(limit: 1, latest: true) { id creator { id } top_group { id } subscribers { id }
        owners { id } items_page(limit: 1) { items { id email creator { id } subscribers { id }
        updates(ids: [1]) { id } } } } }""")["boards"][0]
    assert board["subscribers"] == board["owners"] and board["creator"] == board["owners"][0]
    assert board["top_group"] == {"id": "topics"}
    item = board["items_page"]["items"][0]
    assert item["email"].endswith("@monday.com") and item["subscribers"] == [item["creator"]]
    assert item["updates"] == []
    me = monday.data("{ me { id url account { slug first_day_of_the_week } } }")["me"]
    assert me["url"].endswith(f"/users/{me['id']}") and me["account"]["first_day_of_the_week"] == "monday"


def test_published_user_and_team_arguments(monday: Monday) -> None:
    everyone = monday.data("{ users { id created_at } }")["users"]
    newest = monday.data("{ users(newest_first: true) { id } }")["users"]
    expected = sorted(everyone, key=lambda u: (u["created_at"], int(u["id"])), reverse=True)
    assert [u["id"] for u in newest] == [u["id"] for u in expected]
    assert monday.data("{ users(non_active: true) { id } }")["users"] == []
    team = monday.data("{ teams(ids: [6100001]) { users(limit: 2, page: 2) { id } owners(ids: [1]) { id } } }")
    consultants = [u["id"] for u in monday.data("{ teams(ids: [6100001]) { users { id } } }")["teams"][0]["users"]]
    assert team["teams"][0] == {"users": [{"id": u} for u in consultants[2:4]], "owners": []}


def test_create_item_at_a_position_and_boards_with_team_owners(monday: Monday) -> None:
    board = monday.data('mutation { create_board(board_name: "Équipe", board_kind: public, empty: true, '
                        'board_owner_team_ids: [6100002], board_subscriber_teams_ids: [6100001]) { id '
                        'team_owners { id } team_subscribers { id } } }')["create_board"]
    assert board["team_owners"] == [{"id": "6100002"}] and board["team_subscribers"] == [{"id": "6100001"}]
    refused = monday.post('mutation { create_board(board_name: "X", board_kind: public, '
                          'board_owner_team_ids: [1]) { id } }').json()
    assert refused["errors"][0]["extensions"]["code"] == "InvalidTeamIdException"
    ids = []
    for name, where in (("A", ""), ("B", ""), ("avant B", ", position_relative_method: before_at, relative_to: %s")):
        relative = where % ids[1] if where else ""
        ids.append(monday.data('mutation { create_item(board_id: %s, item_name: "%s"%s) { id } }'
                               % (board["id"], name, relative))["create_item"]["id"])
    listed = monday.data("{ boards(ids: [%s]) { items_page { items { name } } } }" % board["id"])
    assert [i["name"] for i in listed["boards"][0]["items_page"]["items"]] == ["A", "avant B", "B"]


def test_text_kept_columns_answer_with_their_published_value_type(monday: Monday) -> None:
    board = monday.data("{ boards(limit: 1) { id items_page(limit: 1) { items { id } } } }")["boards"][0]
    item = board["items_page"]["items"][0]["id"]
    for column_id, kind in (("notes", "long_text"), ("site", "link"), ("choix", "dropdown")):
        monday.data('mutation { create_column(board_id: %s, id: "%s", title: "%s", column_type: %s) { id } }'
                    % (board["id"], column_id, column_id, kind))
    values = '{\\"notes\\": {\\"text\\": \\"Recette\\"}, \\"site\\": {\\"url\\": \\"https://ex.fr\\", \\"text\\": \\"Site\\"}}'
    monday.data('mutation { change_multiple_column_values(board_id: %s, item_id: %s, column_values: "%s") { id } }'
                % (board["id"], item, values))
    rendered = monday.data("""{ items(ids: [%s]) { column_values(ids: ["notes", "site", "choix"]) { __typename text
        ... on LinkValue { url url_text } ... on DropdownValue { values { id } } } } }""" % item)
    assert rendered["items"][0]["column_values"] == [
        {"__typename": "LongTextValue", "text": "Recette"},
        {"__typename": "LinkValue", "text": "Site - https://ex.fr", "url": "https://ex.fr", "url_text": "Site"},
        {"__typename": "DropdownValue", "text": "", "values": []},
    ]
