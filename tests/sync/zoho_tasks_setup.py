"""The Zoho CRM and Zoho Projects emulators set up for the task sync: both clocks together, a deal's project,
CRM tasks made the way a person makes them, and one sync cycle (plan, then apply)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from passerelle.connectors.registry import get_source
from passerelle.connectors.run import retry_settings
from passerelle.sync.config import ZohoTasks
from passerelle.sync.zoho_tasks import apply, plan, sides
from tests.connectors.helpers import source_config

START = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)


class Zoho:
    """Both Zoho products of the sandbox, as a person and as the sync see them."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.crm = sandbox.vendors["zoho_crm"].control
        self.pm = sandbox.vendors["zoho_projects"].control
        for control in (self.crm, self.pm):
            control.config(enforce_rate_limits=False)
        self.minutes = 0
        self.at(0)
        self.crm_api = self._api("zoho_crm")
        self.pm_api = self._api("zoho_projects", max_requests_per_window=10_000)

    def _api(self, name: str, **extra: Any) -> Any:
        source = get_source(name)
        config = source_config(self.sandbox, name, **extra)
        return source.connect(config, retry_settings(source, config))

    def at(self, minutes: int) -> None:
        """Both clocks at ``minutes`` after the start (people edit between sync cycles)."""
        self.minutes = minutes
        for control in (self.crm, self.pm):
            control.set_clock(START + timedelta(minutes=minutes))

    def later(self, minutes: int = 1) -> None:
        self.at(self.minutes + minutes)

    def deal_project(self, strict: bool = False) -> dict[str, Any]:
        """A live project made from a CRM deal, dated around the start (strict when asked)."""
        project = next(p for p in sorted(self.pm.records("projects"), key=lambda p: int(p["id"]))
                       if (p.get("crm") or {}).get("deal"))
        fields = {"start_date": "2026-03-01", "end_date": "2026-06-30", "is_strict": strict}
        self.pm.update("projects", project["id"], fields)
        return {**project, **fields}

    def crm_user(self, index: int = 0) -> dict[str, Any]:
        users = sorted(self.crm.records("users"), key=lambda u: int(u["id"]))
        return users[index]

    def crm_task(self, related: dict[str, Any], module: str = "Deals", **fields: Any) -> dict[str, Any]:
        """A CRM task a person adds to a deal (or an account), owned by the org's second user."""
        user = self.crm_user(1)
        who = {"name": user["full_name"], "id": user["id"]}
        values = {"Subject": "Préparer la recette", "Description": "Scénarios de recette avec le client",
                  "Due_Date": "2026-04-15", "Priority": "High", "Status": "Not Started",
                  "Owner": {**who, "email": user["email"]}, "What_Id": related, "$se_module": module,
                  "Modified_By": who, **fields}
        return self.crm.create("Tasks", values)

    def edit_crm(self, task_id: str, **fields: Any) -> None:
        self.crm.update("Tasks", task_id, fields)

    def edit_pm(self, task_id: str, **fields: Any) -> None:
        self.pm.update("tasks", task_id, fields)

    def crm_record(self, task_id: str) -> dict[str, Any]:
        return next(t for t in self.crm.records("Tasks") if t["id"] == task_id)

    def pm_record(self, task_id: str) -> dict[str, Any]:
        return next(t for t in self.pm.records("tasks") if t["id"] == task_id)

    def cycle(self, conn: Any, config: ZohoTasks, run_id: str) -> Any:
        """One sync cycle on fresh API objects, as each DAG run makes them."""
        crm, pm = sides(conn, run_id, self.crm_api, self.pm_api)
        counts = plan(conn, config, run_id, crm, pm)
        if config.mode != "apply":
            return counts
        return apply(conn, run_id, crm, pm)


def config(**kwargs: Any) -> ZohoTasks:
    return ZohoTasks.model_validate({"mode": "apply", **kwargs})
