"""Render a :class:`~passerelle_sandbox.dataset_model.Crm` as Salesforce REST records.

Field names and value types follow what the REST API returns: numbers as JSON numbers, dates as
``YYYY-MM-DD``, datetimes as ISO-8601 with milliseconds, absent values as ``null``.
"""

from __future__ import annotations

import random
from typing import Any

from passerelle_sandbox.dataset_ids import SALESFORCE_PODS, SF_PREFIXES, SalesforceIds
from passerelle_sandbox.dataset_model import Crm, Customer, Deal, Line, Person
from passerelle_sandbox.dataset_refdata import CATALOGUE, EXCHANGE_RATES
from passerelle_sandbox.dataset_time import Stamps, iso_date, iso_ms

Record = dict[str, Any]


def audit_fields(stamps: Stamps) -> Record:
    modified = iso_ms(stamps.modified)
    return {
        "CreatedDate": iso_ms(stamps.created),
        "LastModifiedDate": modified,
        "SystemModstamp": modified,
        "IsDeleted": False,
    }


def account_record(customer: Customer, account_id: str, owner_id: str) -> Record:
    billing, shipping = customer.billing, customer.shipping
    return {
        "Id": account_id,
        "Name": customer.name,
        "BillingStreet": billing.street,
        "BillingCity": billing.city,
        "BillingPostalCode": billing.postcode,
        "BillingCountry": billing.country,
        "BillingCountryCode": billing.country_code,
        "ShippingStreet": shipping.street,
        "ShippingCity": shipping.city,
        "ShippingPostalCode": shipping.postcode,
        "ShippingCountry": shipping.country,
        "Phone": customer.phone,
        "Website": f"www.{customer.domain}" if customer.domain else None,
        "Industry": customer.industry.salesforce if customer.industry else None,
        "Type": "Customer",
        "OwnerId": owner_id,
        "SIREN__c": customer.siren,
        "SIRET__c": customer.siret,
        "VAT_Number__c": customer.vat,
        "Electronic_Address__c": customer.einvoicing,
        "Customer_Type__c": customer.kind,
        **audit_fields(customer.stamps),
    }


def contact_record(person: Person, customer: Customer, contact_id: str, account_id: str, owner_id: str) -> Record:
    address = customer.billing
    return {
        "Id": contact_id,
        "AccountId": account_id,
        "FirstName": person.first_name,
        "LastName": person.last_name,
        "Email": person.email,
        "Phone": person.phone,
        "Title": person.title,
        "MailingStreet": address.street,
        "MailingCity": address.city,
        "MailingPostalCode": address.postcode,
        "MailingCountry": address.country,
        "OwnerId": owner_id,
        **audit_fields(person.stamps),
    }


def user_record(person: Person, user_id: str) -> Record:
    return {
        "Id": user_id,
        "Username": person.email,
        "Email": person.email,
        "FirstName": person.first_name,
        "LastName": person.last_name,
        "IsActive": True,
        **audit_fields(person.stamps),
    }


def product_record(index: int, stamps: Stamps, product_id: str) -> Record:
    product = CATALOGUE[index]
    return {
        "Id": product_id,
        "Name": product.name,
        "ProductCode": product.code,
        "Family": product.family,
        "Description": product.description,
        "IsActive": True,
        "QuantityUnitOfMeasure": product.unit,
        "VAT_Rate__c": float(product.vat_rate),
        **audit_fields(stamps),
    }


class SalesforceRenderer:
    """Assigns ids in creation order and builds every object list of one org."""

    def __init__(self, rng: random.Random) -> None:
        pod = rng.choice(SALESFORCE_PODS)
        self.ids = {name: SalesforceIds(prefix, pod, rng) for name, prefix in SF_PREFIXES.items()}
        self.org_id = self.ids["Organization"]()
        self.pricebook_id = self.ids["Pricebook2"]()
        self.objects: dict[str, list[Record]] = {
            name: [] for name in ("Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "User")
        }
        self.anomalies: list[Record] = []

    def render(self, crm: Crm) -> Record:
        user_ids = [self._add("User", user_record(user, self.ids["User"]())) for user in crm.users]
        product_ids = [
            self._add("Product2", product_record(index, stamps, self.ids["Product2"]()))
            for index, stamps in enumerate(crm.product_stamps)
        ]
        entry_ids = {
            (index, currency): self.ids["PricebookEntry"]()
            for index in range(len(CATALOGUE))
            for currency in EXCHANGE_RATES
        }
        for customer in crm.customers:
            self._customer(customer, user_ids, product_ids, entry_ids)
        return {"org_id": self.org_id, "objects": self.objects}

    def _add(self, name: str, record: Record) -> str:
        self.objects[name].append(record)
        return str(record["Id"])

    def _customer(
        self,
        customer: Customer,
        user_ids: list[str],
        product_ids: list[str],
        entry_ids: dict[tuple[int, str], str],
    ) -> None:
        owner_id = user_ids[customer.owner]
        account_id = self._add("Account", account_record(customer, self.ids["Account"](), owner_id))
        if customer.anomaly:
            self.anomalies.append(
                {"vendor": "salesforce", "object": "Account", "id": account_id, "problem": customer.anomaly}
            )
        for person in customer.contacts:
            self._add("Contact", contact_record(person, customer, self.ids["Contact"](), account_id, owner_id))
        for deal in customer.deals:
            opportunity_id = self._add("Opportunity", self._opportunity(deal, account_id, user_ids))
            for line in deal.lines:
                record = self._line(line, deal, opportunity_id, product_ids, entry_ids)
                self._add("OpportunityLineItem", record)

    def _opportunity(self, deal: Deal, account_id: str, user_ids: list[str]) -> Record:
        stage = deal.stage
        return {
            "Id": self.ids["Opportunity"](),
            "Name": deal.name,
            "AccountId": account_id,
            "Amount": float(deal.amount),
            "CurrencyIsoCode": deal.currency,
            "StageName": stage.salesforce,
            "CloseDate": iso_date(deal.close_day),
            "IsClosed": stage.is_closed,
            "IsWon": stage.is_won,
            "Probability": stage.probability,
            "OwnerId": user_ids[deal.owner],
            "Pricebook2Id": self.pricebook_id,
            "Description": deal.description,
            **audit_fields(deal.stamps),
        }

    def _line(
        self,
        line: Line,
        deal: Deal,
        opportunity_id: str,
        product_ids: list[str],
        entry_ids: dict[tuple[int, str], str],
    ) -> Record:
        return {
            "Id": self.ids["OpportunityLineItem"](),
            "OpportunityId": opportunity_id,
            "Product2Id": product_ids[line.product_index],
            "PricebookEntryId": entry_ids[(line.product_index, deal.currency)],
            "Name": f"{deal.name} {line.product.name}",
            "Quantity": float(line.quantity),
            "UnitPrice": float(line.unit_price),
            "TotalPrice": float(line.total),
            "Discount": float(line.discount),
            "Description": line.description,
            "ServiceDate": iso_date(line.service_day) if line.service_day is not None else None,
            "VAT_Rate__c": float(line.vat_rate),
            **audit_fields(line.stamps),
        }


def render_salesforce(crm: Crm, seed: int) -> tuple[Record, list[Record]]:
    """The ``salesforce`` section of the dataset and its anomalies."""
    renderer = SalesforceRenderer(random.Random(f"passerelle:{seed}:salesforce:ids"))
    return renderer.render(crm), renderer.anomalies
