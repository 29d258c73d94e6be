"""The object and field metadata SOQL checks queries against (built from the dataset by salesforce_schema)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: str = ""
    reference_to: tuple[str, ...] = ()

    @property
    def filterable(self) -> bool:
        return self.type != "address"


@dataclass
class ObjectSchema:
    name: str
    fields: dict[str, FieldDef]
    _lower: dict[str, FieldDef] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lower = {name.lower(): definition for name, definition in self.fields.items()}

    def field(self, name: str) -> FieldDef | None:
        return self._lower.get(name.lower())

    def add(self, definition: FieldDef) -> None:
        self.fields[definition.name] = definition
        self._lower[definition.name.lower()] = definition
