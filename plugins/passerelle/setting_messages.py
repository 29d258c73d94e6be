"""One-line messages for settings and connection options that fail validation.

Pydantic explains a failure over several lines, in its own words and about its own types. Whoever
set ``PASSERELLE_LOG_LEVEL`` or a Connection extra needs one line naming that variable, the value they
gave and what would have been accepted; this module writes that line from the model's declarations, so
what a message promises is what the model checks.
"""

from __future__ import annotations

import datetime
import difflib
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

_NOUNS: dict[Any, tuple[str, str]] = {  # type -> (with an article, plural)
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    SecretStr: ("a string", "strings"),
    Path: ("a path", "paths"),
    bool: ("true or false", "booleans"),
    datetime.date: ("a date (YYYY-MM-DD)", "dates (YYYY-MM-DD)"),
}
SHOWN_LENGTH = 80


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [a for a in get_args(annotation) if a is not type(None)]
        return kept[0] if len(kept) == 1 else annotation
    return annotation


def _noun(annotation: Any, plural: bool = False) -> str:
    annotation = _without_none(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        item = get_args(annotation)[0]
        if get_origin(item) is Literal:
            return "a comma-separated list among " + ", ".join(str(a) for a in get_args(item))
        return f"a list of {_noun(item, plural=True)} (JSON list or comma-separated)"
    singular, many = _NOUNS.get(annotation, (f"a {getattr(annotation, '__name__', annotation)}", "values"))
    return many if plural else singular


def _bounds(metadata: Iterable[Any]) -> str:
    ge = gt = le = lt = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            ge = item.ge
        elif isinstance(item, annotated_types.Gt):
            gt = item.gt
        elif isinstance(item, annotated_types.Le):
            le = item.le
        elif isinstance(item, annotated_types.Lt):
            lt = item.lt
    if ge is not None and le is not None:
        return f" from {ge} to {le}"
    parts = [f"{words} {bound}" for words, bound in (("at least", ge), ("above", gt), ("at most", le), ("below", lt))
             if bound is not None]
    return " " + " and ".join(parts) if parts else ""


def expected(field: FieldInfo) -> str:
    """What ``field`` accepts, in words: ``an integer from 1 to 500``, ``one of DEBUG, INFO``..."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("expected"):
        return str(extra["expected"])
    return _noun(field.annotation) + _bounds(field.metadata)


def is_secret(field: FieldInfo | None) -> bool:
    return field is not None and _without_none(field.annotation) is SecretStr


def shown(value: Any, secret: bool) -> str:
    """``value`` as the person typed it (quoted when text), or ``***`` for a secret; never very long."""
    if secret:
        return "'***'"
    text = repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 4] + "...'"


def problems(
    error: ValidationError,
    model: type[BaseModel],
    *,
    label: Callable[[str], str],
    given: Callable[[str], Any],
    secret_name: Callable[[str], bool] = lambda name: False,
) -> list[str]:
    """One ``<label>=<value>: <what is expected>`` per setting at fault, in declaration order.

    ``label`` names a field for a person (its environment variable, ``extra page_size``...) and
    ``given`` returns the value as it was set (the raw environment string rather than what pydantic
    made of it). Unknown names are followed by the list of accepted ones.
    """
    lines: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False):
        name = str(item["loc"][0]) if item["loc"] else ""
        if name in lines:
            continue
        field = model.model_fields.get(name)
        value = shown(given(name), is_secret(field) or secret_name(name))
        if item["type"] == "extra_forbidden" or field is None:
            close = difflib.get_close_matches(name, model.model_fields, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            lines[name] = f"{label(name)}={value}: unknown name{hint}"
        elif item["type"] == "value_error":
            lines[name] = f"{label(name)}={value}: {str(item['msg']).removeprefix('Value error, ')}"
        else:
            lines[name] = f"{label(name)}={value}: expected {expected(field)}"
    order = list(model.model_fields)
    ordered = [lines[n] for n in sorted(lines, key=lambda n: order.index(n) if n in order else len(order))]
    if any(name not in model.model_fields for name in lines):
        ordered.append("accepted: " + ", ".join(order))
    return ordered


def type_label(field: FieldInfo) -> str:
    """A reference table's type column: the field's declared ``type`` text, else ``expected`` without
    its article; secrets say so."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    text = str(extra.get("type") or expected(field))
    for article in ("an ", "a "):
        if text.startswith(article):
            text = text[len(article):]
            break
    return f"{text} (secret)" if is_secret(field) else text
