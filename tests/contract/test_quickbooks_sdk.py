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
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException, ValidationException
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


# ------------------------------------------------------------------------------------------- writes


def test_sdk_creates_updates_and_sees_a_stale_synctoken(qb: QuickBooks, sandbox: Any) -> None:
    from quickbooks.objects.customer import Customer as SdkCustomer

    control = sandbox.vendors["quickbooks"].control
    customer = SdkCustomer()
    customer.DisplayName = "Atelier Passerelle Écriture SARL"
    created = customer.save(qb=qb)
    assert created.Id and created.SyncToken == "0"
    stored = control.record("Customer", created.Id)
    assert stored["DisplayName"] == customer.DisplayName
    assert stored["MetaData"]["LastModifiedByRef"] == {"value": "9130357992222136"}
    stale = SdkCustomer.get(created.Id, qb=qb)
    fresh = SdkCustomer.get(created.Id, qb=qb)
    fresh.CompanyName = "Atelier Passerelle"
    updated = fresh.save(qb=qb)
    assert updated.SyncToken == "1" and updated.CompanyName == "Atelier Passerelle"
    stale.CompanyName = "Écrasé"
    with pytest.raises(QuickbooksException) as refused:  # 5010 falls in none of the SDK's narrower ranges
        stale.save(qb=qb)
    assert refused.value.error_code == 5010 and refused.value.message == "Stale Object Error"
    assert control.record("Customer", created.Id)["CompanyName"] == "Atelier Passerelle"
    seen = SdkCustomer.query(f"SELECT * FROM Customer WHERE Metadata.LastUpdatedTime >= "
                             f"'{updated.MetaData['LastUpdatedTime']}'", qb=qb)
    assert created.Id in {c.Id for c in seen}
    changes = qb.change_data_capture(["Customer"], updated.MetaData["LastUpdatedTime"])
    assert created.Id in {c["Id"] for c in changes["CDCResponse"][0]["QueryResponse"][0]["Customer"]}


def test_sdk_refuses_a_duplicate_name_and_a_missing_line(qb: QuickBooks, sandbox: Any) -> None:
    from quickbooks.objects.customer import Customer as SdkCustomer

    taken = sandbox.vendors["quickbooks"].control.records("Customer")[0]["DisplayName"]
    twin = SdkCustomer()
    twin.DisplayName = taken
    with pytest.raises(QuickbooksException) as duplicate:
        twin.save(qb=qb)
    assert duplicate.value.error_code == 6240
    with pytest.raises(ValidationException) as missing:
        qb.create_object("Invoice", '{"CustomerRef": {"value": "1"}}')
    assert missing.value.error_code == 2020 and "Line" in missing.value.detail


def test_sdk_creates_voids_and_deletes_an_invoice(qb: QuickBooks, sandbox: Any) -> None:
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail

    control = sandbox.vendors["quickbooks"].control
    customer = next(c for c in control.records("Customer") if c["Active"])
    item = next(i for i in control.records("Item") if i["Active"])
    invoice = Invoice()
    invoice.CustomerRef = {"value": customer["Id"]}
    line = SalesItemLine()
    line.Amount = Decimal("300.00")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = {"value": item["Id"]}
    line.SalesItemLineDetail.Qty = Decimal("3")
    line.SalesItemLineDetail.UnitPrice = Decimal("100.00")
    invoice.Line = [line]
    created = invoice.save(qb=qb)
    assert created.Line[0].Amount == Decimal("300.00") and created.TotalAmt > Decimal("300.00")
    voided = Invoice.get(created.Id, qb=qb)
    voided.void(qb=qb)
    after = Invoice.get(created.Id, qb=qb)
    assert after.TotalAmt == Decimal("0.00") and after.PrivateNote == "Voided" and after.SyncToken == "1"
    after.delete(qb=qb)
    with pytest.raises(ObjectNotFoundException):
        Invoice.get(created.Id, qb=qb)
    gone = qb.change_data_capture(["Invoice"], after.MetaData.LastUpdatedTime)
    rows = gone["CDCResponse"][0]["QueryResponse"][0]["Invoice"]
    assert {"Id": created.Id, "status": "Deleted"}.items() <= next(r for r in rows if r["Id"] == created.Id).items()


def test_sdk_batch_reports_faults_per_item(qb: QuickBooks, sandbox: Any) -> None:
    from quickbooks.batch import batch_create, batch_update
    from quickbooks.objects.customer import Customer as SdkCustomer

    taken = sandbox.vendors["quickbooks"].control.records("Customer")[0]["DisplayName"]
    fresh = []
    for name in ("Batch Un SAS", taken, "Batch Deux SAS"):
        customer = SdkCustomer()
        customer.DisplayName = name
        fresh.append(customer)
    result = batch_create(fresh, qb=qb)
    assert sorted(c.DisplayName for c in result.successes) == ["Batch Deux SAS", "Batch Un SAS"]
    assert len(result.faults) == 1 and result.faults[0].Error[0].code == "6240"
    first = result.successes[0]
    first.CompanyName = "Batch"
    stale = SdkCustomer.get(result.successes[1].Id, qb=qb)
    stale.SyncToken = "7"
    second = batch_update([first, stale], qb=qb)
    assert len(second.successes) == 1 and second.faults[0].Error[0].code == "5010"
