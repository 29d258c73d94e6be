"""The Salesforce emulator's write, SOAP login and Bulk 2.0 answers, read over raw HTTPS.

What simple-salesforce hides (it turns bodies into exceptions or never sends the request): the SOAP
fault envelope, upsert's 204 before API v46, the ETag round trip, collection limits, the Bulk
API 2.0 locator and version rules, ingest job states and Bulk API 1.0's own error bodies.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import requests

from passerelle_sandbox.server import Sandbox

FAULT_NS = "urn:fault.partner.soap.sforce.com"


def http(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.verify = str(sandbox.ca_path)
    session.trust_env = False
    return session


def authorized(sandbox: Sandbox) -> tuple[requests.Session, str]:
    creds = sandbox.salesforce.credentials
    session = http(sandbox)
    grant = session.post(f"{creds['login_url']}/services/oauth2/token", data={
        "grant_type": "refresh_token", "client_id": creds["client_id"], "client_secret": creds["client_secret"],
        "refresh_token": creds["refresh_token"]}).json()
    session.headers["Authorization"] = f"Bearer {grant['access_token']}"
    return session, sandbox.salesforce.base_url


def soap_login(sandbox: Sandbox, username: str, password: str) -> requests.Response:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>{username}</n1:username>'
        f"<n1:password>{password}</n1:password></n1:login></env:Body></env:Envelope>"
    )
    return http(sandbox).post(f"{sandbox.salesforce.base_url}/services/Soap/u/62.0", data=envelope.encode(),
                              headers={"Content-Type": "text/xml", "SOAPAction": "login"})


def test_soap_login_answers_a_session_or_a_login_fault(sandbox: Sandbox) -> None:
    creds = sandbox.salesforce.credentials
    ok = soap_login(sandbox, creds["username"], creds["password"] + creds["security_token"])
    assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/xml")
    result = ElementTree.fromstring(ok.content).find(".//{urn:partner.soap.sforce.com}result")
    assert result is not None
    server_url = result.findtext("{urn:partner.soap.sforce.com}serverUrl") or ""
    assert server_url.startswith(f"{sandbox.salesforce.base_url}/services/Soap/u/62.0/00D")
    session_id = result.findtext("{urn:partner.soap.sforce.com}sessionId")
    rest = http(sandbox).get(f"{sandbox.salesforce.base_url}/services/data/v62.0/limits",
                             headers={"Authorization": f"Bearer {session_id}"})
    assert rest.status_code == 200

    refused = soap_login(sandbox, creds["username"], creds["password"])
    assert refused.status_code == 500
    fault = ElementTree.fromstring(refused.content).find(f".//{{{FAULT_NS}}}LoginFault")
    assert fault is not None and fault.findtext(f"{{{FAULT_NS}}}exceptionCode") == "INVALID_LOGIN"


def test_upsert_status_depends_on_the_api_version_and_etags_round_trip(sandbox: Sandbox) -> None:
    session, base = authorized(sandbox)
    account = next(r for r in sandbox.salesforce.control.records("Account") if r["SIRET__c"])
    old = session.patch(f"{base}/services/data/v45.0/sobjects/Account/SIRET__c/{account['SIRET__c']}",
                        json={"Phone": "1"})
    assert (old.status_code, old.content) == (204, b"")
    read = session.get(f"{base}/services/data/v62.0/sobjects/Account/{account['Id']}")
    tag = read.headers["ETag"]
    same = session.patch(f"{base}/services/data/v62.0/sobjects/Account/{account['Id']}", json={"Phone": "2"},
                         headers={"If-Match": tag})
    assert same.status_code == 204 and same.headers["ETag"] != tag
    stale = session.patch(f"{base}/services/data/v62.0/sobjects/Account/{account['Id']}", json={"Phone": "3"},
                          headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.json()[0]["errorCode"] == "PRECONDITION_FAILED"
    unknown = session.get(f"{base}/services/data/v62.0/sobjects/Account/{account['Id']}/Nothing/here/at/all")
    assert unknown.status_code == 404 and unknown.json() == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def test_collections_refuse_more_than_200_records(sandbox: Sandbox) -> None:
    session, base = authorized(sandbox)
    records: list[dict[str, Any]] = [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(201)]
    answer = session.post(f"{base}/services/data/v62.0/composite/sobjects", json={"records": records})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    created = session.post(f"{base}/services/data/v62.0/composite/sobjects", json={"records": records[:200]})
    assert created.status_code == 200 and all(r["success"] for r in created.json())


def test_bulk_query_locators_and_api_version(sandbox: Sandbox) -> None:
    session, base = authorized(sandbox)
    total = len(sandbox.salesforce.control.records("Account"))
    job = session.post(f"{base}/services/data/v62.0/jobs/query",
                       json={"operation": "query", "query": "SELECT Id FROM Account", "columnDelimiter": "PIPE",
                             "lineEnding": "CRLF"}).json()
    url = f"{base}/services/data/v62.0/jobs/query/{job['id']}"
    assert session.get(url).json()["state"] == "JobComplete"
    other_version = session.get(f"{base}/services/data/v61.0/jobs/query/{job['id']}")
    assert other_version.status_code == 409
    first = session.get(f"{url}/results", params={"maxRecords": total - 1})
    assert first.headers["Sforce-NumberOfRecords"] == str(total - 1) and first.headers["Sforce-Locator"] != "null"
    assert first.text.startswith('"Id"\r\n') and first.text.count("\r\n") == total
    last = session.get(f"{url}/results", params={"maxRecords": total, "locator": first.headers["Sforce-Locator"]})
    assert (last.headers["Sforce-NumberOfRecords"], last.headers["Sforce-Locator"]) == ("1", "null")
    bad = session.get(f"{url}/results", params={"locator": "!!"})
    assert bad.status_code == 400
    assert session.delete(url).status_code == 204 and session.get(url).status_code == 404


def test_cases_take_only_their_statuses_and_salesforce_stamps_their_closing(sandbox: Sandbox) -> None:
    session, base = authorized(sandbox)
    data = f"{base}/services/data/v62.0"
    account = sandbox.salesforce.control.records("Account")[0]["Id"]
    made = session.post(f"{data}/sobjects/Case", json={"Subject": "Accès", "Status": "New", "Type": "Request",
                                                       "AccountId": account})
    assert made.status_code == 201
    case_id = made.json()["id"]
    assert case_id.startswith("500")
    locked = session.patch(f"{data}/sobjects/Case/{case_id}", json={"IsClosed": True})
    assert locked.status_code == 400 and locked.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    bad = session.patch(f"{data}/sobjects/Case/{case_id}", json={"Status": "Fermé"})
    assert bad.status_code == 400
    assert bad.json() == [{"message": "Status: bad value for restricted picklist field: Fermé",
                           "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["Status"]}]
    sandbox.salesforce.control.advance(60)
    assert session.patch(f"{data}/sobjects/Case/{case_id}", json={"Status": "Closed"}).status_code == 204
    case = session.get(f"{data}/sobjects/Case/{case_id}").json()
    assert case["IsClosed"] is True and case["ClosedDate"] == case["LastModifiedDate"] > case["CreatedDate"]
    assert case["CaseNumber"]
    found = session.get(f"{data}/query", params={"q": "SELECT Id FROM Case WHERE IsClosed = true AND Type = 'Request'"})
    assert [r["Id"] for r in found.json()["records"]] == [case_id]
    orphan = session.post(f"{data}/sobjects/CaseComment", json={"CommentBody": "x"})
    assert orphan.status_code == 400 and orphan.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    comment = session.post(f"{data}/sobjects/CaseComment", json={"ParentId": case_id, "CommentBody": "Fait"})
    assert comment.status_code == 201 and comment.json()["id"].startswith("00a")


def test_bulk2_ingest_job_states_and_errors(sandbox: Sandbox) -> None:
    session, base = authorized(sandbox)
    jobs = f"{base}/services/data/v62.0/jobs/ingest"
    bad = session.post(jobs, json={"object": "Account", "operation": "merge"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDJOB"
    unknown = session.post(jobs, json={"object": "Nope__c", "operation": "insert"})
    assert unknown.status_code == 400 and "Nope__c" in unknown.json()[0]["message"]
    no_key = session.post(jobs, json={"object": "Account", "operation": "upsert"})
    assert no_key.status_code == 400

    sandbox.vendors["salesforce"].control.config(bulk_ingest_polls_in_progress=1)
    job = session.post(jobs, json={"object": "Account", "operation": "insert", "lineEnding": "CRLF"}).json()
    assert job["state"] == "Open" and job["externalIdFieldName"] is None
    early = session.get(f"{jobs}/{job['id']}/successfulResults")
    assert early.status_code == 409 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    upload = session.put(f"{jobs}/{job['id']}/batches", data='Name,Phone\r\n"Virgule, SA",01\r\n'.encode(),
                         headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201 and upload.content == b""
    assert session.get(f"{base}/services/data/v63.0/jobs/ingest/{job['id']}").status_code == 409
    closed = session.patch(f"{jobs}/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    late = session.put(f"{jobs}/{job['id']}/batches", data=b"Name\nX\n", headers={"Content-Type": "text/csv"})
    assert late.status_code == 409
    assert session.get(f"{jobs}/{job['id']}").json()["state"] == "InProgress"
    done = session.get(f"{jobs}/{job['id']}").json()
    assert (done["state"], done["numberRecordsProcessed"], done["numberRecordsFailed"]) == ("JobComplete", 1, 0)
    results = session.get(f"{jobs}/{job['id']}/successfulResults")
    assert results.headers["Content-Type"].startswith("text/csv")
    lines = results.text.split("\r\n")
    assert lines[0] == '"sf__Id","sf__Created","Name","Phone"' and lines[1].endswith('"true","Virgule, SA","01"')
    assert session.patch(f"{jobs}/{job['id']}", json={"state": "Aborted"}).status_code == 409
    assert job["id"] in {j["id"] for j in session.get(jobs).json()["records"]}
    assert session.delete(f"{jobs}/{job['id']}").status_code == 204


def test_bulk1_refuses_other_content_types_and_closed_jobs(sandbox: Sandbox) -> None:
    session, base = authorized(sandbox)
    token = session.headers.pop("Authorization").split(" ", 1)[1]
    async_jobs = f"{base}/services/async/62.0/job"
    headers = {"X-SFDC-Session": token, "Content-Type": "application/json"}
    xml = session.post(async_jobs, json={"operation": "insert", "object": "Account", "contentType": "XML"},
                       headers=headers)
    assert xml.status_code == 400 and xml.json()["exceptionCode"] == "InvalidJob"
    job = session.post(async_jobs, json={"operation": "insert", "object": "Account", "contentType": "JSON"},
                       headers=headers)
    assert job.status_code == 201 and job.json()["state"] == "Open"
    job_id = job.json()["id"]
    batch = session.post(f"{async_jobs}/{job_id}/batch", json=[{"Name": "Lot", "Colour__c": "bleu"}],
                         headers=headers).json()
    failed = session.get(f"{async_jobs}/{job_id}/batch/{batch['id']}", headers=headers).json()
    assert (failed["state"], failed["stateMessage"]) == ("Failed", "InvalidBatch : Field name not found : Colour__c")
    assert session.post(f"{async_jobs}/{job_id}", json={"state": "Closed"}, headers=headers).json()["state"] == "Closed"
    late = session.post(f"{async_jobs}/{job_id}/batch", json=[{"Name": "Trop tard"}], headers=headers)
    assert late.status_code == 400 and late.json()["exceptionCode"] == "InvalidJobState"
    no_session = session.get(f"{async_jobs}/{job_id}", headers={"Authorization": f"Bearer {token}"})
    assert no_session.status_code == 400 and no_session.json()["exceptionCode"] == "InvalidSessionId"
