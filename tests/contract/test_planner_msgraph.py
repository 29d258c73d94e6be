"""Contract test: Microsoft's own Graph SDK (``msgraph-sdk``, async, with ``azure-identity``) reads Planner
from the Graph emulator.

azure-identity's ``ClientSecretCredential`` reads the tenant's OpenID configuration and posts the
client-credentials grant for ``https://graph.microsoft.com/.default``; the SDK's Kiota models parse the
groups, plans, buckets, tasks and task details, its ``PageIterator`` follows ``@odata.nextLink``, its
retry middleware honours a 429's ``Retry-After`` and its error model reads Graph's error bodies. If the
emulator's shapes drifted from Graph's, these calls fail or come back empty.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import httpx
import pytest
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.planner_task import PlannerTask
from msgraph_core import GraphClientFactory, PageIterator

SCOPE = "https://graph.microsoft.com/.default"


def graph(sandbox: Any, secret: str | None = None) -> tuple[GraphServiceClient, ClientSecretCredential, Any]:
    """The SDK pointed at the emulator: its CA for both the token endpoint and Graph, its host allowed."""
    endpoint = sandbox.vendors["planner"]
    creds = endpoint.credentials
    credential = ClientSecretCredential(creds["tenant_id"], creds["client_id"], secret or creds["client_secret"],
                                        authority=endpoint.base_url, disable_instance_discovery=True,
                                        connection_verify=str(sandbox.ca_path))
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(sandbox.ca_path)), trust_env=False),
        host=endpoint.base_url)
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[SCOPE], allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth, http)
    adapter.base_url = f"{endpoint.base_url}/v1.0"
    return GraphServiceClient(request_adapter=adapter), credential, endpoint


async def all_tasks(client: GraphServiceClient, adapter: Any, plan_id: str) -> list[PlannerTask]:
    first = await client.planner.plans.by_planner_plan_id(plan_id).tasks.get()
    tasks: list[PlannerTask] = []
    iterator = PageIterator(first, adapter)  # the page type is the first page's
    await iterator.iterate(lambda task: tasks.append(task) or True)
    return tasks


def test_the_sdk_lists_groups_plans_buckets_tasks_and_details(sandbox: Any) -> None:
    async def run() -> None:
        client, credential, endpoint = graph(sandbox)
        try:
            groups = (await client.groups.get()).value
            assert {g.id for g in groups} == {g["id"] for g in endpoint.control.records("groups")}
            assert all(g.group_types == ["Unified"] for g in groups)
            group = groups[0]
            plans = (await client.groups.by_group_id(group.id).planner.plans.get()).value
            assert [p.owner for p in plans] == [group.id] and plans[0].container.container_id == group.id
            plan = plans[0]
            buckets = (await client.planner.plans.by_planner_plan_id(plan.id).buckets.get()).value
            assert [b.name for b in buckets] == ["À faire", "En cours", "Terminé", "Jalons"]
            assert all(b.plan_id == plan.id and b.additional_data.get("@odata.etag") for b in buckets)
            endpoint.control.config(planner_page_size=2)
            tasks = await all_tasks(client, client.request_adapter, plan.id)
            truth = {t["id"]: t for t in endpoint.control.records("tasks") if t["planId"] == plan.id}
            assert len(tasks) > 2 and {t.id for t in tasks} == set(truth)  # followed @odata.nextLink
            for task in tasks:
                assert task.percent_complete == truth[task.id]["percentComplete"]
                assert task.bucket_id in {b.id for b in buckets} and task.priority == truth[task.id]["priority"]
                assert set(task.assignments.additional_data) == set(truth[task.id]["assignments"])
                assert (task.completed_date_time is not None) == (task.percent_complete == 100)
            linked = next(t for t in endpoint.control.records("tasks") if t["title"] == "Fiche affaire")
            details = await client.planner.tasks.by_planner_task_id(linked["id"]).details.get()
            (key, reference), = details.references.additional_data.items()
            assert "%2E" in key and reference["alias"] == "Affaire CRM"
        finally:
            await credential.close()

    asyncio.run(run())


def test_the_sdk_patches_with_the_etag_and_reads_a_412(sandbox: Any) -> None:
    async def run() -> None:
        client, credential, endpoint = graph(sandbox)
        try:
            truth = endpoint.control.records("tasks")[0]
            task = client.planner.tasks.by_planner_task_id(truth["id"])
            config = RequestConfiguration()
            config.headers.add("If-Match", truth["@odata.etag"])
            await task.patch(PlannerTask(percent_complete=100), request_configuration=config)
            assert (await task.get()).percent_complete == 100
            with pytest.raises(ODataError) as stale:
                await task.patch(PlannerTask(priority=1), request_configuration=config)  # the ETag changed
            assert stale.value.response_status_code == 412
        finally:
            await credential.close()

    asyncio.run(run())


def test_the_sdk_waits_out_a_429_and_reads_graph_errors(sandbox: Any) -> None:
    async def run() -> None:
        client, credential, endpoint = graph(sandbox)
        try:
            endpoint.control.add_fault(kind="rate_limit", times=1, retry_after=1, path="/v1.0/groups")
            started = time.monotonic()
            assert (await client.groups.get()).value
            assert time.monotonic() - started >= 1.0 and endpoint.control.stats()["by_status"].get("429") == 1
            with pytest.raises(ODataError) as missing:
                await client.planner.plans.by_planner_plan_id("not-a-plan").tasks.get()
            assert missing.value.response_status_code == 404
            assert missing.value.error.message == "The requested item is not found."
        finally:
            await credential.close()

    asyncio.run(run())


def test_azure_identity_reports_a_wrong_secret(sandbox: Any) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    async def run() -> None:
        client, credential, _ = graph(sandbox, secret="not-the-secret")
        try:
            with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
                await client.groups.get()
        finally:
            await credential.close()

    asyncio.run(run())
