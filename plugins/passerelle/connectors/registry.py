"""Every source Passerelle extracts; the extract DAGs are generated from this list."""

from __future__ import annotations

from passerelle.connectors.sources.asana import ASANA
from passerelle.connectors.sources.dynamics import DYNAMICS
from passerelle.connectors.sources.folk import FOLK
from passerelle.connectors.sources.hubspot import HUBSPOT
from passerelle.connectors.sources.jira import JIRA
from passerelle.connectors.sources.monday import MONDAY
from passerelle.connectors.sources.pipedrive import PIPEDRIVE
from passerelle.connectors.sources.planner import PLANNER
from passerelle.connectors.sources.project_for_the_web import PROJECT_FOR_THE_WEB
from passerelle.connectors.sources.quickbooks import QUICKBOOKS
from passerelle.connectors.sources.salesforce import SALESFORCE
from passerelle.connectors.sources.trello import TRELLO
from passerelle.connectors.sources.zoho import BIGIN, ZOHO_CRM
from passerelle.connectors.sources.zoho_projects import ZOHO_PROJECTS
from passerelle.connectors.spec import SourceSpec

SOURCES: dict[str, SourceSpec] = {spec.name: spec for spec in (SALESFORCE, HUBSPOT, PIPEDRIVE, ZOHO_CRM, BIGIN, FOLK, DYNAMICS, QUICKBOOKS, TRELLO, ASANA, JIRA, MONDAY, PLANNER, PROJECT_FOR_THE_WEB, ZOHO_PROJECTS)}


def get_source(name: str) -> SourceSpec:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
