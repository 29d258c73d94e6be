"""Markdown reference tables written from the settings models, so the documentation cannot drift from them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from passerelle.setting_messages import type_label


def default_text(field: FieldInfo, project_root: Path) -> str:
    """The default as a person reads it: paths relative to the project, ``—`` for none."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("default_text"):
        return str(extra["default_text"])
    value = field.default
    if value is None:
        return "—"
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(project_root)}/`"
        except ValueError:
            return f"`{value}`"
    if isinstance(value, tuple):
        return f"`{','.join(map(str, value))}`" if value else "—"
    if isinstance(value, datetime.date):
        return f"`{value.isoformat()}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(fields: Iterable[tuple[str, FieldInfo]], key_header: str, key: Callable[[str], str],
          project_root: Path) -> str:
    """One row per field: its key (environment variable, extra name), type, default and description."""
    rows = [f"| {key_header} | type | default | description |", "|---|---|---|---|"]
    for name, field in fields:
        rows.append(f"| `{key(name)}` | {_cell(type_label(field))} | {_cell(default_text(field, project_root))} | "
                    f"{_cell(field.description or '')} |")
    return "\n".join(rows)


def own_fields(model: type[BaseModel], base: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    """The fields ``model`` declares beyond ``base`` (itself or through intermediate classes)."""
    declared = {name for cls in model.__mro__ if issubclass(cls, base) and cls is not base
                for name in getattr(cls, "__annotations__", {})}
    return [(name, field) for name, field in model.model_fields.items() if name in declared]
