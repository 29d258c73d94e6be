"""Custom fields made over the vendors' metadata APIs: Salesforce's Tooling ``CustomField`` and Dataverse's
``EntityDefinitions(…)/Attributes``, then written through the data API with their types enforced."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from passerelle_sandbox.server import Sandbox
from tests.sandbox.test_dynamics_emulator import Dataverse, odata_code
from tests.sandbox.test_dynamics_writes import send
from tests.sandbox.test_salesforce_writes import authorized

TOOLING = "/services/data/v62.0/tooling/sobjects/CustomField"
ATTRIBUTES = "EntityDefinitions(LogicalName='opportunity')/Attributes"


def label(text: str) -> dict[str, Any]:
    return {"@odata.type": "Microsoft.Dynamics.CRM.Label",
            "LocalizedLabels": [{"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text,
                                 "LanguageCode": 1036}]}


def test_a_salesforce_custom_field_is_described_written_and_not_made_twice(sandbox: Sandbox) -> None:
    session, base = authorized(sandbox)
    field = {"FullName": "Opportunity.Heures_Test__c",
             "Metadata": {"label": "Heures test", "type": "Number", "precision": 18, "scale": 2}}
    made = session.post(f"{base}{TOOLING}", json=field)
    assert made.status_code == 201 and made.json()["success"] and made.json()["id"].startswith("00N")
    described = session.get(f"{base}/services/data/v62.0/sobjects/Opportunity/describe").json()["fields"]
    mine = next(f for f in described if f["name"] == "Heures_Test__c")
    assert (mine["type"], mine["custom"], mine["updateable"]) == ("double", True, True)
    opportunity = sandbox.vendors["salesforce"].control.records("Opportunity")[0]["Id"]
    wrong = session.patch(f"{base}/services/data/v62.0/composite/sobjects", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Opportunity"}, "id": opportunity, "Heures_Test__c": "douze"}]})
    assert wrong.json()[0]["errors"][0]["statusCode"] == "JSON_PARSER_ERROR"
    again = session.post(f"{base}{TOOLING}", json=field)
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"


@pytest.mark.parametrize("metadata", [
    {"label": "Sans précision", "type": "Number"},
    {"label": "Texte sans longueur", "type": "Text"},
    {"label": "Type inconnu", "type": "Hologram"},
])
def test_a_salesforce_field_definition_salesforce_refuses(sandbox: Sandbox, metadata: dict[str, Any]) -> None:
    session, base = authorized(sandbox)
    refused = session.post(f"{base}{TOOLING}", json={"FullName": "Opportunity.Refuse__c", "Metadata": metadata})
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_a_dataverse_column_is_listed_typed_and_not_made_twice(sandbox: Sandbox) -> None:
    dv = Dataverse(sandbox)
    column = {"@odata.type": "Microsoft.Dynamics.CRM.DecimalAttributeMetadata", "SchemaName": "psl_HeuresTest",
              "DisplayName": label("Heures test"), "Precision": 2}
    made = send(dv, "POST", ATTRIBUTES, column)
    assert made.status_code == 204 and "/Attributes(" in made.headers["OData-EntityId"]
    listed = dv.get(f"{dv.base}/api/data/v9.2/{ATTRIBUTES}", **{"$select": "LogicalName,AttributeType"}).json()["value"]
    assert {"LogicalName": "psl_heurestest", "AttributeType": "Decimal", "MetadataId": listed[-1]["MetadataId"]} in listed
    opportunity = sandbox.vendors["dynamics"].control.records("opportunities")[0]["opportunityid"]
    written = send(dv, "PATCH", f"opportunities({opportunity})", {"psl_heurestest": Decimal("12.50")}, **{"If-Match": "*"})
    assert written.status_code == 204
    wrong = send(dv, "PATCH", f"opportunities({opportunity})", {"psl_heurestest": "douze"}, **{"If-Match": "*"})
    assert wrong.status_code == 400 and "Edm.Decimal" in wrong.json()["error"]["message"]
    held = next(r for r in sandbox.vendors["dynamics"].control.records("opportunities")
                if r["opportunityid"] == opportunity)
    assert Decimal(str(held["psl_heurestest"])) == Decimal("12.50")  # the refused write changed nothing
    again = send(dv, "POST", ATTRIBUTES, column)
    assert again.status_code == 400 and odata_code(again) == "0x80044363"


def test_a_dataverse_column_without_a_publisher_prefix_is_refused(sandbox: Sandbox) -> None:
    dv = Dataverse(sandbox)
    refused = send(dv, "POST", ATTRIBUTES, {"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                                            "SchemaName": "passerelle_Projet", "DisplayName": label("Projet"),
                                            "MaxLength": 255})
    assert refused.status_code == 400 and "customization prefix" in refused.json()["error"]["message"]
