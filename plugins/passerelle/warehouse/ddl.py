"""Tables declared once with their documentation: DDL and ``COMMENT ON`` statements come from the same list."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class Table:
    name: str
    comment: str
    columns: list[Column]
    constraints: tuple[str, ...] = ()  # table constraints, e.g. "PRIMARY KEY (a, b)"


def literal(text: str) -> str:
    """A SQL string literal (comments are constants written here, never user input)."""
    return "'" + text.replace("'", "''") + "'"


def create_statements(table: Table) -> list[str]:
    body = ",\n    ".join([f"{column.name} {column.type}" for column in table.columns] + list(table.constraints))
    statements = [f"CREATE TABLE {table.name} (\n    {body}\n)", f"COMMENT ON TABLE {table.name} IS {literal(table.comment)}"]
    statements += [
        f"COMMENT ON COLUMN {table.name}.{column.name} IS {literal(column.comment)}" for column in table.columns
    ]
    return statements


# Letters NFKD does not decompose, spelled as the SQL function reference.normalise spells them.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ı": "i", "ø": "o", "ł": "l", "đ": "d"})


def normalise(text: str) -> str:
    """Lower-case, accent-free, single-spaced form for lookups; same as the SQL ``reference.normalise``."""
    lowered = text.lower().translate(_LIGATURES)
    ascii_text = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode("ascii")
    return " ".join("".join(char if char.isalnum() else " " for char in ascii_text).split())
