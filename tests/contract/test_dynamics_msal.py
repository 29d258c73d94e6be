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


# ------------------------------------------------------------------------------------------- writes


def api(sandbox: Any, http: requests.Session) -> tuple[str, dict[str, str]]:
    """The Web API root and the headers of a client holding an msal token."""
    org = sandbox.vendors["dynamics"].base_url
    token = application(sandbox, http).acquire_token_for_client(scopes=[f"{org}/.default"])["access_token"]
    return f"{org}/api/data/v9.2", {"Authorization": f"Bearer {token}", "OData-MaxVersion": "4.0",
                                    "OData-Version": "4.0", "Accept": "application/json"}


def test_msal_token_creates_updates_and_the_delta_link_sees_it(sandbox: Any, http: requests.Session) -> None:
    root, headers = api(sandbox, http)
    baseline = http.get(f"{root}/accounts", params={"$select": "name"},
                        headers={**headers, "Prefer": "odata.track-changes"}).json()
    delta = baseline["@odata.deltaLink"]
    sandbox.vendors["dynamics"].control.advance(60)
    created = http.post(f"{root}/accounts", json={"name": "Forge Écrite SAS", "pa_siren": "552100554"},
                        headers=headers)
    assert created.status_code == 204 and not created.content
    record_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    changed = http.patch(f"{root}/accounts({record_id})", json={"telephone1": "+33 1 23 45 67 89"},
                         headers={**headers, "Prefer": "return=representation", "If-Match": "*"})
    assert changed.status_code == 200 and changed.headers["Preference-Applied"] == "return=representation"
    body = changed.json()
    assert body["telephone1"] == "+33 1 23 45 67 89" and body["@odata.etag"].startswith('W/"')
    assert body["_modifiedby_value"] == body["_createdby_value"] and body["_modifiedby_value"]  # the app user
    changes = http.get(delta, headers=headers).json()
    assert [row["accountid"] for row in changes["value"]] == [record_id]
    assert changes["value"][0]["name"] == "Forge Écrite SAS"


def test_msal_token_meets_the_etag_conflict_and_upserts_by_key(sandbox: Any, http: requests.Session) -> None:
    root, headers = api(sandbox, http)
    account = sandbox.vendors["dynamics"].control.records("accounts")[0]
    read = http.get(f"{root}/accounts({account['accountid']})", params={"$select": "name"}, headers=headers)
    etag = read.json()["@odata.etag"]
    assert http.get(f"{root}/accounts({account['accountid']})", headers={**headers, "If-None-Match": etag}) \
        .status_code == 304
    first = http.patch(f"{root}/accounts({account['accountid']})", json={"name": "Premier"},
                       headers={**headers, "If-Match": etag})
    assert first.status_code == 204
    second = http.patch(f"{root}/accounts({account['accountid']})", json={"name": "Second"},
                        headers={**headers, "If-Match": etag})
    assert second.status_code == 412 and second.json()["error"]["code"] == "0x80060882"
    key = f"{root}/accounts(accountnumber='PASS-0001')"
    assert http.patch(key, json={"name": "Par clé"}, headers={**headers, "If-Match": "*"}).status_code == 404
    assert http.patch(key, json={"name": "Par clé"}, headers=headers).status_code == 204
    assert http.patch(key, json={"name": "Encore"}, headers={**headers, "If-None-Match": "*"}).status_code == 412
    assert http.patch(key, json={"name": "Mise à jour"}, headers=headers).status_code == 204
    found = http.get(f"{root}/accounts", params={"$filter": "accountnumber eq 'PASS-0001'", "$select": "name"},
                     headers=headers).json()["value"]
    assert [row["name"] for row in found] == ["Mise à jour"]
