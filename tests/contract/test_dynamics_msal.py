"""Contract test: Microsoft's own ``msal`` library gets its tokens from the Dynamics 365 emulator.

msal reads the tenant's OpenID configuration, posts the client-credentials grant and parses Entra ID's
answers and errors its own way: if the emulator's discovery document, token endpoint or error bodies
drifted from Entra ID's, these calls fail. The token then reads the Web API like any client.
"""

from __future__ import annotations

from typing import Any

import msal
import pytest
import requests


@pytest.fixture
def http(sandbox: Any) -> requests.Session:
    session = requests.Session()
    session.verify = str(sandbox.ca_path)
    session.trust_env = False
    return session


def application(sandbox: Any, http: requests.Session, secret: str | None = None) -> msal.ConfidentialClientApplication:
    endpoint = sandbox.vendors["dynamics"]
    credentials = endpoint.credentials
    return msal.ConfidentialClientApplication(
        credentials["client_id"], client_credential=secret or credentials["client_secret"],
        authority=f"{endpoint.base_url}/{credentials['tenant_id']}", instance_discovery=False, http_client=http)


def test_msal_acquires_a_token_that_reads_pages_of_accounts(sandbox: Any, http: requests.Session) -> None:
    org = sandbox.vendors["dynamics"].base_url
    result = application(sandbox, http).acquire_token_for_client(scopes=[f"{org}/.default"])
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000 and "refresh_token" not in result
    headers = {"Authorization": f"Bearer {result['access_token']}", "Prefer": "odata.maxpagesize=7",
               "OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}
    page = http.get(f"{org}/api/data/v9.2/accounts", params={"$select": "name,pa_siren"}, headers=headers).json()
    ids = [a["accountid"] for a in page["value"]]
    while "@odata.nextLink" in page:
        page = http.get(page["@odata.nextLink"], headers=headers).json()
        ids += [a["accountid"] for a in page["value"]]
    assert len(ids) == len(set(ids)) == len(sandbox.vendors["dynamics"].control.records("accounts")) > 7


def test_msal_reports_a_wrong_secret_with_the_aadsts_code(sandbox: Any, http: requests.Session) -> None:
    org = sandbox.vendors["dynamics"].base_url
    result = application(sandbox, http, secret="not-the-secret").acquire_token_for_client(scopes=[f"{org}/.default"])
    assert "access_token" not in result
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")


def test_msal_refuses_an_unknown_tenant(sandbox: Any, http: requests.Session) -> None:
    endpoint = sandbox.vendors["dynamics"]
    with pytest.raises(ValueError, match="tenant"):
        msal.ConfidentialClientApplication(
            endpoint.credentials["client_id"], client_credential=endpoint.credentials["client_secret"],
            authority=f"{endpoint.base_url}/00000000-0000-0000-0000-000000000000", instance_discovery=False,
            http_client=http)
