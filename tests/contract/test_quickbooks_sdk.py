"""Contract test: Intuit's ``intuit-oauth`` and the community ``python-quickbooks`` SDK read the QuickBooks emulator.

intuit-oauth finds the token endpoint in a discovery document (its ``environment`` may be that
document's URL), sends the client's credentials as HTTP Basic and keeps whatever refresh token comes
back; python-quickbooks writes its own query sentences (``ORDER BY`` in ``all()``, ``ORDERBY`` in
``where()``, ``Active = False``), posts them as ``application/text`` and parses the answers, Faults
included, into its objects. If the emulator's token endpoint, query language or bodies drifted from
QuickBooks', these calls fail. Both verify TLS through ``REQUESTS_CA_BUNDLE``, pointed at the sandbox CA.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import ObjectNotFoundException, ValidationException
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice

REDIRECT_URI = "https://passerelle.example/callback"


@pytest.fixture
def auth(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> AuthClient:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_path))
    endpoint = sandbox.vendors["quickbooks"]
    credentials = endpoint.credentials
    return AuthClient(credentials["client_id"], credentials["client_secret"], REDIRECT_URI,
                      f"{endpoint.base_url}/.well-known/openid_configuration/",
                      refresh_token=credentials["refresh_token"], realm_id=credentials["realm_id"])


@pytest.fixture
def qb(auth: AuthClient, sandbox: Any) -> QuickBooks:
    client = QuickBooks(auth_client=auth, refresh_token=auth.refresh_token, company_id=auth.realm_id,
                        minorversion=75, use_decimal=True)
    client.api_url_v3 = f"{sandbox.vendors['quickbooks'].base_url}/v3"
    return client


def test_intuit_oauth_refreshes_and_gets_a_new_refresh_token(auth: AuthClient, sandbox: Any) -> None:
    first = auth.refresh_token
    assert auth.token_endpoint == f"{sandbox.vendors['quickbooks'].base_url}/oauth2/v1/tokens/bearer"
    auth.refresh()
    assert auth.access_token and auth.expires_in == 3600 and auth.x_refresh_token_expires_in == 8_726_400
    assert auth.refresh_token != first
    second = auth.refresh_token
    auth.refresh()  # the newest one works, and so does the one before it, for a day
    auth.refresh(refresh_token=second)
    with pytest.raises(AuthClientError) as refused:
        auth.refresh(refresh_token="AB11-not-a-token")
    assert refused.value.status_code == 400 and refused.value.response.json() == {"error": "invalid_grant"}
    assert refused.value.intuit_tid  # what Intuit's support asks for


def test_sdk_lists_filters_and_reads(qb: QuickBooks, sandbox: Any) -> None:
    control = sandbox.vendors["quickbooks"].control
    everyone = control.records("Customer")
    active = Customer.all(qb=qb, max_results=1000)
    assert {c.Id for c in active} == {c["Id"] for c in everyone if c["Active"]}
    inactive = Customer.filter(Active=False, qb=qb)
    assert inactive and all(c.DisplayName.endswith(" (deleted)") for c in inactive)
    named = Customer.filter(DisplayName=active[0].DisplayName, qb=qb)
    assert [c.Id for c in named] == [active[0].Id]
    assert Customer.count(qb=qb) == len(active)
    invoice = control.records("Invoice")[0]
    read = Invoice.get(invoice["Id"], qb=qb)
    assert read.DocNumber == invoice["DocNumber"] and read.CustomerRef.value == invoice["CustomerRef"]["value"]
    assert read.TotalAmt == Decimal(str(invoice["TotalAmt"])) and read.CurrencyRef.value == "EUR"
    with pytest.raises(ObjectNotFoundException):
        Invoice.get("1", qb=qb)


def test_sdk_pages_invoices_with_startposition(qb: QuickBooks, sandbox: Any) -> None:
    seen: list[str] = []
    start, size = 1, 25
    while True:
        page = Invoice.query(f"SELECT * FROM Invoice ORDERBY Metadata.LastUpdatedTime, Id STARTPOSITION {start} "
                             f"MAXRESULTS {size}", qb=qb)
        seen += [invoice.Id for invoice in page]
        if len(page) < size:
            break
        start += size
    assert len(seen) == len(set(seen)) == len(sandbox.vendors["quickbooks"].control.records("Invoice")) > size


def test_sdk_raises_the_validation_fault_of_a_refused_query(qb: QuickBooks) -> None:
    with pytest.raises(ValidationException) as refused:
        Invoice.where("Nonsense = 'x'", qb=qb)
    assert refused.value.error_code == 4001
