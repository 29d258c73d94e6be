"""Microsoft Planner (basic plans) through Microsoft Graph v1.0: full listings diffed run to run.

- Auth: Entra ID client credentials through msal (:class:`~passerelle.connectors.auth.EntraClientCredentials`,
  as Dynamics 365) at ``{authority_host}/{tenant_id}`` for ``https://graph.microsoft.com/.default``; the app
  needs the application permissions ``Tasks.Read.All``, ``Group.Read.All`` and ``User.Read.All``.
- Graph offers no modification filter on Planner objects (tasks have no modification time; ``delta``
  exists only in beta), so every run lists the Microsoft 365 groups, each group's plans, each plan's
  buckets and tasks and each task's details, and the kit's snapshot diff keeps what changed since the
  previous listing (versions stamped ``observedAt`` = the window end), absences becoming tombstones and
  a listing missing more than ``max_missing_ratio`` of the known records being refused. Every object
  keeps its ``@odata.etag`` in raw (the value an update must send back in ``If-Match``); it changes with
  every write, so a changed ETag is a changed record.
- A group or plan deleted while the run walks it answers 404: it is skipped (its children then become
  tombstones), never a failed window.
- Paging: ``@odata.nextLink`` followed as given (opaque ``$skiptoken``), on the Connection's host only.
- Throttling: 429 with ``Retry-After`` and 5xx are retried by the shared policy; Graph's error code and
  message (``TooManyRequests: …``) are named in the errors.
- No time or billing data exists in Planner: completed tasks and the tasks of the ``Jalons`` bucket feed
  milestone and fixed-price billing through staging.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

import requests

from passerelle import exact_json
from passerelle.connectors.auth import EntraClientCredentials
from passerelle.connectors.config import SourceConfig
from passerelle.connectors.http import ApiRequestError, JsonResponse, PinnedCASession, retry_after_header
from passerelle.connectors.options import PlannerOptions
from passerelle.connectors.paginators import ODataNextLink, PageRequest, json_api_sender, paginate
from passerelle.connectors.paging import UnusableResponseError
from passerelle.connectors.rest import ConnectionApi, RestStream, connection_api
from passerelle.connectors.retry import Retryable, RetrySettings
from passerelle.connectors.snapshot import SnapshotDiff, SnapshotReader
from passerelle.connectors.spec import SourceSpec, StreamSpec
from passerelle.errors import one_line

V1 = "/v1.0"
SAFE = "$,:'()/"
"""Left as they are in query options (``$filter=groupTypes/any(c:c%20eq%20'Unified')``)."""
UNIFIED = "groupTypes/any(c:c eq 'Unified')"
Listing = Iterator[tuple[list[Any], str]]


def graph_error(response: requests.Response) -> str:
    """``code: message`` of a Graph error body, else the body's start."""
    try:
        error = exact_json.loads(response.content).get("error")
        return f"{error['code'] or 'error'}: {error['message']}"
    except (ValueError, AttributeError, KeyError, TypeError):
        return one_line(response.text)[:300]


class GraphApi(ConnectionApi):
    """``%20``-encoded query options; 429 and 5xx name Graph's error code and message."""

    def fetch(self, method: str, path: str, *, stream: str, **kwargs: Any) -> JsonResponse:
        params = kwargs.pop("params", None)
        if params:  # OData reads `$filter=a%20eq%20b`: no `+` for spaces
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(params, quote_via=quote, safe=SAFE)}"
        return super().fetch(method, path, stream=stream, **kwargs)

    def check_response(self, response: requests.Response, stream: str) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            raise Retryable(f"{'throttled ' if status == 429 else ''}(HTTP {status}) {graph_error(response)}",
                            retry_after=retry_after_header(response))
        super().check_response(response, stream)


def connect(config: SourceConfig, retry: RetrySettings) -> GraphApi:
    """Host = Graph (``https://graph.microsoft.com``), login = the app's client id, password = its secret,
    extra ``tenant_id``."""
    http = PinnedCASession(config.verify, float(config.option("timeout", 60)))
    tokens = EntraClientCredentials(
        authority=f"{str(config.option('authority_host', 'https://login.microsoftonline.com')).rstrip('/')}/"
                  f"{config.option('tenant_id', '')}",
        client_id=config.login or "", client_secret=config.password or "",
        scope=f"{str(config.option('graph_resource', 'https://graph.microsoft.com')).rstrip('/')}/.default",
        http=http)
    api = connection_api("planner", config, retry, tokens, api=GraphApi)
    assert isinstance(api, GraphApi)
    return api


def listing(api: GraphApi, stream: str, path: str, params: dict[str, Any] | None = None) -> Listing:
    """``(items, location)`` per page of one Graph collection, following ``@odata.nextLink``."""
    for page in paginate(json_api_sender(api, stream), PageRequest(path, "GET", dict(params or {})), ODataNextLink(),
                         records="value", what=f"GET {path}", base_url=api.base_url):
        if not isinstance(page.items, list):
            raise UnusableResponseError(f"GET {path}: expected a 'value' list, got {type(page.items).__name__}")
        yield page.items, page.request.location


def gone(error: ApiRequestError) -> bool:
    """A 404 on a parent listed a moment ago: deleted since (its children become tombstones)."""
    return error.status == 404


def ids(pages: Listing) -> Iterator[str]:
    for items, _ in pages:
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                yield item["id"]


def groups(api: GraphApi, stream: str) -> Listing:
    """The Microsoft 365 groups (the containers of basic plans)."""
    return listing(api, stream, f"{V1}/groups", {"$filter": UNIFIED, "$select": "id,displayName",
                                                  "$top": api.option("page_size", 999)})


def plans(api: GraphApi, stream: str) -> Listing:
    for group in list(ids(groups(api, stream))):
        try:
            yield from listing(api, stream, f"{V1}/groups/{group}/planner/plans")
        except ApiRequestError as error:
            if not gone(error):
                raise


def plan_children(child: str) -> Callable[[GraphApi, str], Listing]:
    """Every plan's ``buckets`` or ``tasks``."""

    def read(api: GraphApi, stream: str) -> Listing:
        for plan in list(ids(plans(api, stream))):
            try:
                yield from listing(api, stream, f"{V1}/planner/plans/{plan}/{child}")
            except ApiRequestError as error:
                if not gone(error):
                    raise

    return read


def task_details(api: GraphApi, stream: str) -> Listing:
    """Every task's details (description, checklist, external references such as a CRM deal's URL)."""
    for task in list(ids(plan_children("tasks")(api, stream))):
        path = f"{V1}/planner/tasks/{task}/details"
        try:
            body = api.request("GET", path, stream=stream)
        except ApiRequestError as error:
            if gone(error):
                continue
            raise
        if not isinstance(body, dict):
            raise UnusableResponseError(f"GET {path}: expected an object, got {type(body).__name__}")
        yield [{k: v for k, v in body.items() if k != "@odata.context"}], path


def diffed(name: str, read: Callable[[GraphApi, str], Listing], description: str) -> StreamSpec:
    return StreamSpec(name=name, primary_key="id", cursor_field="observedAt", deleted_field="deleted",
                      deleted_cursor_field="observedAt", description=description,
                      readers=(SnapshotReader(read, SnapshotDiff("id"), ratio_option="max_missing_ratio"),))


USERS = RestStream(
    "users", f"{V1}/users", records="value", require_records=True, paginator=ODataNextLink(),
    params=(("$select", "id,displayName,givenName,surname,mail,userPrincipalName,jobTitle,accountEnabled"),
            ("$top", 999)),
    option_params=(("$top", "page_size"),), incremental=SnapshotDiff("id"), ratio_option="max_missing_ratio",
    description="Directory users (task assignees), diffed with the previous run",
).spec()

PLANNER = SourceSpec(
    name="planner", title="Microsoft Planner", connect=connect, options=PlannerOptions, tags=("pm",),
    streams=(
        diffed("plans", plans, "Plans of every Microsoft 365 group (title, owner group)"),
        diffed("buckets", plan_children("buckets"), "Buckets of every plan (the 'Jalons' bucket holds milestones)"),
        diffed("tasks", plan_children("tasks"), "Tasks: percent complete, priority, dates, assignments, ETag"),
        diffed("task_details", task_details, "Task details: description, checklist, references (CRM deal URL)"),
        USERS,
    ),
    doc="""Extracts Microsoft Planner basic plans (Microsoft Graph v1.0: full listings diffed run to run).

Connection `passerelle_planner`: host = `https://graph.microsoft.com`, login = the app registration's client
id, password = its client secret (application permissions Tasks.Read.All, Group.Read.All, User.Read.All,
admin-consented), extra `tenant_id` (required); `authority_host` (`https://login.microsoftonline.com`),
`graph_resource`, `page_size` (999), `max_missing_ratio` (0.5), `ca_bundle`, `timeout`.
""",
)
