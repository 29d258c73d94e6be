"""The sync file (TOML): which project tool gets the project of a won deal, which CRMs receive the delivery
figures, and whether each flow writes at all.

Read once per run and checked whole: an unknown key, a CRM or project tool Passerelle cannot sync, or two
routes for the same deals is one error naming the file and the entry, before anything is planned.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from passerelle.errors import PasserelleError

CRM_SOURCES = ("salesforce", "hubspot", "zoho_crm", "bigin", "pipedrive", "dynamics", "folk")
PROJECT_TOOLS = ("trello", "asana")
"""Project tools a won deal can become a project in (each has a maker in this package)."""


class SyncConfigError(PasserelleError, ValueError):
    """The sync file cannot be used (the message names the file and the entry)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectRoute(_Strict):
    """Won deals of ``crm`` become projects in ``pm`` (made from ``template`` where the tool has templates)."""

    crm: Literal[CRM_SOURCES]  # type: ignore[valid-type]
    pm: Literal[PROJECT_TOOLS]  # type: ignore[valid-type]
    template: str | None = Field(None, description="Template the project is copied from (Trello: a board id, "
                                                   "optional; Asana: a project template gid, required).")

    @model_validator(mode="after")
    def _template_where_needed(self) -> "ProjectRoute":
        if self.pm == "asana" and not self.template:
            raise ValueError("an Asana route needs template = <project template gid>")
        return self
    customers: tuple[str, ...] = Field((), description="Only deals of these customers (staging customer keys); "
                                                       "empty: every customer of the CRM.")


class DealToProject(_Strict):
    mode: Literal["plan", "apply"] = "plan"
    won_after: date = Field(description="Deals won before this date never spawn a project: a first enablement "
                                        "must not create projects for years of past deals.")
    routes: tuple[ProjectRoute, ...] = ()

    @model_validator(mode="after")
    def _one_route_per_deal(self) -> "DealToProject":
        seen: dict[tuple[str, str], int] = {}
        for number, route in enumerate(self.routes, 1):
            for customer in route.customers or ("*",):
                if (route.crm, customer) in seen:
                    raise ValueError(f"routes {seen[(route.crm, customer)]} and {number} both take {route.crm} deals "
                                     f"of {'every customer' if customer == '*' else customer}")
                seen[(route.crm, customer)] = number
        return self

    def route_for(self, crm: str, customer_key: str | None) -> ProjectRoute | None:
        """The route of a deal: one naming its customer first, else the CRM's catch-all."""
        named = [r for r in self.routes if r.crm == crm and customer_key in r.customers]
        if named:
            return named[0]
        return next((r for r in self.routes if r.crm == crm and not r.customers), None)


CRM_WRITERS = ("hubspot",)
"""CRMs the delivery figures can be written back to (each has a writer in this package)."""


class DeliveryToCrm(_Strict):
    """Progress, hours, amounts invoiced and paid and the next milestone written to each delivered deal."""

    mode: Literal["plan", "apply"] = "plan"
    crms: tuple[Literal[CRM_WRITERS], ...] = Field(description="CRMs whose deals receive the figures.")  # type: ignore[valid-type]


class SyncConfig(_Strict):
    deal_to_project: DealToProject | None = None
    delivery_to_crm: DeliveryToCrm | None = None


def load_sync_config(path: Path | None) -> SyncConfig:
    """The sync file at ``path``; no file configured means nothing is synced."""
    if path is None:
        return SyncConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SyncConfigError(f"sync file {path}: cannot be read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SyncConfigError(f"sync file {path}: not TOML ({exc})") from exc
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise SyncConfigError(f"sync file {path}: {where}: {first['msg']}") from exc
