{% import 'macros.sql' as m %}
-- Dynamics 365 account (Dataverse Web API) → staging.customers.
-- French identifiers are custom columns named with the org's publisher prefix (pa_siren, new_siren...):
-- any <prefix>_siren, _siret, _vatnumber, _einvoicingaddress and _customertype column is read, so another
-- prefix works too. address1_* is the billing address, address2_* the delivery address (countries as
-- text); the domain is websiteurl's host. Option sets (industrycode) are read through their
-- FormattedValue label kept in raw. The cursor is modifiedon.
(
WITH account AS (
    SELECT record_id, cursor_value, payload AS p,
           (SELECT jsonb_object_agg(substring(f.key FROM '_([a-z]+)$'), f.value)
              FROM jsonb_each_text(payload) AS f
             WHERE f.key ~ '^[a-z0-9]+_(siren|siret|vatnumber|einvoicingaddress|customertype)$') AS cf
      FROM {{ m.changed('dynamics', 'accounts', full) }} AS current_account
)
SELECT {{ m.key('dynamics', 'record_id') }} AS customer_key,
       'dynamics'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'name'") }} AS legal_name,
       upper({{ m.text("cf->>'customertype'") }}) AS customer_type,
       {{ m.compact("cf->>'siren'") }} AS siren,
       {{ m.compact("cf->>'siret'") }} AS siret,
       {{ m.compact("cf->>'vatnumber'") }} AS vat_number,
       lower(NULLIF(regexp_replace(btrim(p->>'websiteurl'), '^([a-z][a-z0-9+.-]*://)?(www\.)?([^/:?#]*).*$', '\3', 'i'), ''))
           AS email_domain,
       {{ m.text("p->>'telephone1'") }} AS phone,
       {{ m.text("p->>'address1_line1'") }} AS billing_street,
       {{ m.text("p->>'address1_city'") }} AS billing_city,
       {{ m.text("p->>'address1_postalcode'") }} AS billing_postcode,
       {{ m.country_code("p->>'address1_country'") }}::char(2) AS billing_country_code,
       {{ m.text("p->>'address1_country'") }} AS billing_country_raw,
       {{ m.text("p->>'address2_line1'") }} AS delivery_street,
       {{ m.text("p->>'address2_city'") }} AS delivery_city,
       {{ m.text("p->>'address2_postalcode'") }} AS delivery_postcode,
       {{ m.country_code("p->>'address2_country'") }}::char(2) AS delivery_country_code,
       NULLIF(regexp_replace(cf->>'einvoicingaddress', '\s', '', 'g'), '') AS einvoicing_address,
       {{ m.text("p->>'industrycode@OData.Community.Display.V1.FormattedValue'") }} AS industry,
       {{ m.timestamp("p->>'createdon'") }} AS source_created_at,
       cursor_value AS source_updated_at
  FROM account
)
