"""The sync file (TOML): which project tool gets the project of a won deal, which CRMs receive the delivery
figures, and whether each flow writes at all.

Read once per run and checked whole: an unknown key, a CRM or project tool Passerelle cannot sync, or two
routes for the same deals is one error naming the file and the entry, before anything is planned.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from passerelle.errors import PasserelleError

CRM_SOURCES = ("salesforce", "hubspot", "zoho_crm", "bigin", "pipedrive", "dynamics", "folk")
PROJECT_TOOLS = ("trello", "asana", "jira", "monday", "zoho_projects", "planner")
"""Project tools a won deal can become a project in (each has a maker in this package)."""
CONTAINERS = {
    "jira": (r"[A-Z][A-Z0-9_]{1,9}", True, "a Jira project key (DELIV)"),
    "monday": (r"[0-9]+", False, "a monday workspace id (digits)"),
    "planner": (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", True,
                "a Microsoft 365 group id (a GUID)"),
}
"""Per project tool taking a container: its shape, whether a route must name one, and what it is."""


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
    container: str | None = Field(None, description="Where the projects are made: Jira: the project key (required); "
                                                     "monday: the workspace id (optional); Planner: the Microsoft 365 "
                                                     "group id (required).")
    deal_url: str | None = Field(None, description="The CRM's web address of a deal, with {deal_id} (Planner, "
                                                   "required: a plan's task links to its deal by this reference).")
    duration_days: int | None = Field(None, ge=1, le=3660, description="Days from the won date to the project's "
                                                                      "due date; none: the project gets no due date.")

    @model_validator(mode="after")
    def _template_where_needed(self) -> "ProjectRoute":
        if self.pm == "asana" and not self.template:
            raise ValueError("an Asana route needs template = <project template gid>")
        return self

    @model_validator(mode="after")
    def _container_per_tool(self) -> "ProjectRoute":
        rule = CONTAINERS.get(self.pm)
        if rule is None:
            if self.container is not None:
                raise ValueError(f"a {self.pm} route takes no container")
            return self
        pattern, required, what = rule
        if self.container is None:
            if required:
                raise ValueError(f"a {self.pm} route needs container = <{what}>")
        elif not re.fullmatch(pattern, self.container):
            raise ValueError(f"a {self.pm} route's container must be {what}, not {self.container!r}")
        return self

    @model_validator(mode="after")
    def _deal_url_for_planner(self) -> "ProjectRoute":
        if self.pm != "planner":
            if self.deal_url is not None:
                raise ValueError(f"a {self.pm} route takes no deal_url")
        elif not self.deal_url or not self.deal_url.startswith("https://") or "{deal_id}" not in self.deal_url:
            raise ValueError("a Planner route needs deal_url = <https://… address of a deal in the CRM, "
                             "with {deal_id}>")
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


CRM_WRITERS = ("salesforce", "hubspot", "zoho_crm", "bigin", "pipedrive", "dynamics")
"""CRMs the delivery figures can be written back to (each has a writer in this package)."""


class DeliveryToCrm(_Strict):
    """Progress, hours, amounts invoiced and paid and the next milestone written to each delivered deal."""

    mode: Literal["plan", "apply"] = "plan"
    crms: tuple[Literal[CRM_WRITERS], ...] = Field(description="CRMs whose deals receive the figures.")  # type: ignore[valid-type]


REQUEST_CRMS = ("hubspot", "salesforce")
"""CRMs whose requests become tasks (each has a reader and a closer in this package)."""
REQUEST_TASK_TOOLS = ("trello", "asana", "jira", "monday", "zoho_projects", "planner")
"""Project tools a request's task can be made in (each has a task maker in this package)."""


class RequestRule(_Strict):
    """Which CRM records are requests: HubSpot tickets of ``pipeline`` and of one of ``categories`` (each
    criterion applies when given; at least one is); Salesforce Cases of one of ``categories`` (their ``Type``)."""

    crm: Literal[REQUEST_CRMS]  # type: ignore[valid-type]
    pipeline: str | None = Field(None, description="Ticket pipeline id (HubSpot: hs_pipeline).")
    categories: tuple[str, ...] = Field((), description="HubSpot: hs_ticket_category values; Salesforce: Case Type "
                                                        "values.")

    @model_validator(mode="after")
    def _says_what_a_request_is(self) -> "RequestRule":
        if self.crm == "salesforce" and (self.pipeline is not None or not self.categories):
            raise ValueError("a Salesforce request rule takes categories = [<Case Type values>] and no pipeline")
        if self.pipeline is None and not self.categories:
            raise ValueError("a request rule needs pipeline or categories (else every ticket would become a task)")
        return self


class RequestsToTasks(_Strict):
    """A CRM request becomes a task in its deal's project; the task's closing closes the request."""

    mode: Literal["plan", "apply"] = "plan"
    rules: tuple[RequestRule, ...] = ()

    @model_validator(mode="after")
    def _one_rule_per_crm(self) -> "RequestsToTasks":
        crms = [rule.crm for rule in self.rules]
        for crm in set(crms):
            if crms.count(crm) > 1:
                raise ValueError(f"two request rules for {crm}: put the pipeline and categories in one")
        return self


TASK_FIELDS = ("title", "description", "end_date", "priority", "status", "owner")
"""The six task fields Zoho's native CRM ↔ Projects integration carries, and the task sync too."""


class ZohoPortal(_Strict):
    """A Zoho Projects portal: with Zoho's native CRM integration on, the six task fields are Zoho's to sync."""

    id: str = Field(description="Portal id (the Zoho Projects connection's portal).")
    native_integration: bool = Field(False, description="Zoho's own CRM integration syncs this portal's tasks: "
                                                        "Passerelle reads and reports the six fields, never writes "
                                                        "them (never two writers).")


class ZohoTasks(_Strict):
    """Zoho CRM tasks ↔ the tasks of the Zoho Projects project of their deal (or account)."""

    mode: Literal["plan", "apply"] = "plan"
    portals: tuple[ZohoPortal, ...] = ()
    fields: dict[Literal[TASK_FIELDS], Literal["crm", "pm", "both"]] = Field(  # type: ignore[valid-type]
        default_factory=dict, description="Owner per field (default both: last writer wins, the CRM on a tie).")
    clear: tuple[Literal[TASK_FIELDS], ...] = Field(  # type: ignore[valid-type]
        (), description="Fields an empty value may clear (by default an empty value never overwrites a filled one).")
    reopen_closed_parents: bool = Field(True, description="Reopening a subtask whose parent is closed reopens the "
                                                          "parent first; false: the reopen is reported instead.")

    def owner(self, field: str) -> str:
        return self.fields.get(field, "both")  # type: ignore[call-overload]

    def native(self, portal_id: str) -> bool:
        return any(p.id == str(portal_id) and p.native_integration for p in self.portals)


class SyncConfig(_Strict):
    deal_to_project: DealToProject | None = None
    delivery_to_crm: DeliveryToCrm | None = None
    requests_to_tasks: RequestsToTasks | None = None
    zoho_tasks: ZohoTasks | None = None


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
