{% import 'macros.sql' as m %}
-- Salesforce Account → staging.customers.
-- The org keeps the French invoicing identifiers in custom fields: Customer_Type__c (B2B, B2B_INTL,
-- B2C), SIREN__c, SIRET__c, VAT_Number__c and Electronic_Address__c (e-invoicing address, BT-49).
-- Website is typed freely ("www.example.fr", "https://example.fr/contact"): the domain is the host
-- without scheme, www. or path. With State and Country Picklists enabled BillingCountryCode holds the
-- ISO code; records written through the API may carry only the BillingCountry text, which is then
-- looked up in reference.country_aliases. Shipping* is the delivery address. The cursor is
-- SystemModstamp. The e-invoicing address only loses its blanks: it may be a SIREN, a Peppol id or an e-mail.
(
WITH account AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('salesforce', 'Account', full) }} AS current_account
)
SELECT {{ m.key('salesforce', 'record_id') }} AS customer_key,
       'salesforce'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'Name'") }} AS legal_name,
       upper({{ m.text("p->>'Customer_Type__c'") }}) AS customer_type,
       {{ m.compact("p->>'SIREN__c'") }} AS siren,
       {{ m.compact("p->>'SIRET__c'") }} AS siret,
       {{ m.compact("p->>'VAT_Number__c'") }} AS vat_number,
       lower(NULLIF(regexp_replace(btrim(p->>'Website'), '^([a-z][a-z0-9+.-]*://)?(www\.)?([^/:?#]*).*$', '\3', 'i'), ''))
           AS email_domain,
       {{ m.text("p->>'Phone'") }} AS phone,
       {{ m.text("p->>'BillingStreet'") }} AS billing_street,
       {{ m.text("p->>'BillingCity'") }} AS billing_city,
       {{ m.text("p->>'BillingPostalCode'") }} AS billing_postcode,
       COALESCE({{ m.country_code("p->>'BillingCountryCode'") }}, {{ m.country_code("p->>'BillingCountry'") }})::char(2)
           AS billing_country_code,
       COALESCE({{ m.text("p->>'BillingCountry'") }}, {{ m.text("p->>'BillingCountryCode'") }}) AS billing_country_raw,
       {{ m.text("p->>'ShippingStreet'") }} AS delivery_street,
       {{ m.text("p->>'ShippingCity'") }} AS delivery_city,
       {{ m.text("p->>'ShippingPostalCode'") }} AS delivery_postcode,
       COALESCE({{ m.country_code("p->>'ShippingCountryCode'") }}, {{ m.country_code("p->>'ShippingCountry'") }})::char(2)
           AS delivery_country_code,
       NULLIF(regexp_replace(p->>'Electronic_Address__c', '\s', '', 'g'), '') AS einvoicing_address,
       {{ m.text("p->>'Industry'") }} AS industry,
       (p->>'CreatedDate')::timestamptz AS source_created_at,
       cursor_value AS source_updated_at
  FROM account
)
