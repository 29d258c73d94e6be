"""The delivery writer of each CRM: what the apply of delivery → CRM needs from a vendor.

Every writer ``provision``s the deal fields (creating those the vendor's API lets it create, else naming
what the set-up must create) and ``update``s deals with ``(deal id, {neutral key: text})`` pairs in the
vendor's batches, one refused deal never stopping the others. Deal-update calls are audited with the
operation ``update_deals`` (what the apply counts).
"""

from __future__ import annotations

from typing import Any, Protocol

from passerelle.sync.deal_fields import BatchOutcome
from passerelle.sync.dynamics_deals import PREFIX, DynamicsDeals
from passerelle.sync.hubspot_deals import HubSpotDeals
from passerelle.sync.pipedrive_deals import PipedriveDeals
from passerelle.sync.salesforce_deals import SalesforceDeals, salesforce_rest
from passerelle.sync.vendor_calls import VendorWriter
from passerelle.sync.zoho_deals import ZohoDeals


class CrmWriter(Protocol):
    def provision(self) -> list[str]: ...

    def update(self, changes: list[tuple[str, dict[str, str]]]) -> BatchOutcome: ...


def writer_for(crm: str, api: Any, conn: Any, run_id: str) -> CrmWriter:
    """``crm``'s writer, writing through its connector's API object (audited in ``sync.writes``)."""
    if crm == "salesforce":
        return SalesforceDeals(VendorWriter(salesforce_rest(api), conn, run_id, crm))
    writer = VendorWriter(api, conn, run_id, crm)
    if crm == "hubspot":
        return HubSpotDeals(writer)
    if crm == "zoho_crm":
        return ZohoDeals(writer, module="Deals")
    if crm == "bigin":
        return ZohoDeals(writer, module="Pipelines")
    if crm == "pipedrive":
        return PipedriveDeals(writer)
    if crm == "dynamics":
        return DynamicsDeals(writer, prefix=str(api.option("publisher_prefix", PREFIX)))
    raise ValueError(f"no delivery writer for {crm}")
