"""Planner Premium / Project for the web (and Project Operations' time entries), read from Dataverse.

Premium plans are not in Microsoft Graph: their data lives in the Dataverse environment behind them
(``msdyn_project``, ``msdyn_projecttask``, and ``msdyn_timeentry`` where Project Operations is used). They are
read with the Dynamics 365 source's Dataverse client, unchanged (:mod:`passerelle.connectors.sources.dynamics`:
Entra ID client credentials through msal, windows on ``modifiedon`` along ``@odata.nextLink``, deletions
from change tracking, 429 ``Retry-After``). A second source rather than more Dynamics streams: a company may
run Project for the web without Dynamics 365 Sales, or in another environment, so it has its own
Connection (which may name the same org) and its own DAG, and shares the Dataverse pool's service
protection budget (``dynamics_api``).

What the rows mean (staging reads them): ``msdyn_progress`` is a fraction (1 = done), ``msdyn_ismilestone``
marks milestones, a time entry is ``msdyn_duration`` minutes on ``msdyn_date`` owned by the user who
entered it, and a project's deal is the org's lookup ``<prefix>_opportunityid`` (Project Operations links
deals through project contracts; organisations add this lookup to see the deal on the project).
"""

from __future__ import annotations

from functools import partial

from passerelle.connectors.options import DynamicsOptions
from passerelle.connectors.sources.dynamics import connect, table
from passerelle.connectors.spec import SourceSpec

PROJECT_FOR_THE_WEB = SourceSpec(
    name="project_for_the_web", title="Project for the web (Dataverse)",
    connect=partial(connect, source="project_for_the_web"), options=DynamicsOptions, pool="dynamics_api",
    tags=("pm",),
    streams=(
        table("msdyn_projects", "msdyn_projectid", "Projects: customer, deal lookup, manager, schedule, progress"),
        table("msdyn_projecttasks", "msdyn_projecttaskid", "Project tasks: progress (1 = done), milestones, effort"),
        table("msdyn_timeentries", "msdyn_timeentryid", "Time entries (Project Operations): day, minutes, status"),
    ),
    doc="""Extracts Project for the web / Planner Premium from Dataverse (the Dynamics 365 client: windows on
modifiedon, deletions by change tracking).

Connection `passerelle_project_for_the_web`: as `passerelle_dynamics` (host = the org URL of the environment
holding the projects, login/password = the app's client id and secret, extra `tenant_id`); the application user
needs organization-level read on projects, project tasks and time entries.
""",
)
