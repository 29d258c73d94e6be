"""What the project-tool datasets share: the won CRM deals that projects are created from."""

from __future__ import annotations

from typing import Any


def won_deals(crm: dict[str, Any], per_crm: int) -> list[dict[str, Any]]:
    """Won deals of both CRMs (``crm``, ``deal_id``, ``deal``, ``customer``), oldest id first, ``per_crm`` of each."""
    deals: list[dict[str, Any]] = []
    sf = crm.get("salesforce", {}).get("objects", {})
    accounts = {a["Id"]: a["Name"] for a in sf.get("Account", [])}
    sf_won = sorted((o for o in sf.get("Opportunity", []) if o.get("StageName") == "Closed Won"), key=lambda o: o["Id"])
    for opp in sf_won[:per_crm]:
        deals.append({"crm": "salesforce", "deal_id": opp["Id"], "deal": opp["Name"],
                      "customer": accounts.get(opp.get("AccountId"), opp["Name"].split(" - ")[0])})
    hs = crm.get("hubspot", {})
    companies = {c["id"]: c["properties"].get("name") for c in hs.get("objects", {}).get("companies", [])}
    company_of = {a["from_id"]: a["to_id"] for a in hs.get("associations", [])
                  if a["from_type"] == "deals" and a["to_type"] == "companies"}
    hs_won = sorted((d for d in hs.get("objects", {}).get("deals", []) if d["properties"].get("dealstage") == "closedwon"),
                    key=lambda d: int(d["id"]))
    for deal in hs_won[:per_crm]:
        name = deal["properties"].get("dealname") or ""
        deals.append({"crm": "hubspot", "deal_id": deal["id"], "deal": name,
                      "customer": companies.get(company_of.get(deal["id"])) or name.split(" - ")[0]})
    return deals
