{% import 'macros.sql' as m %}
-- HubSpot company → staging.customers.
-- Every property is a string. The portal adds custom properties customer_type (B2B, B2B_INTL, B2C),
-- siren, siret, vat_number and einvoicing_address (BT-49); domain is the company's web domain.
-- country is a name ("France", "Belgium"), mapped to ISO 3166 through reference.country_aliases.
-- HubSpot companies have a single address and no delivery address: the delivery columns are NULL.
-- The e-invoicing address only loses its blanks (SIREN, Peppol id or e-mail). The cursor is hs_lastmodifieddate.
(
WITH company AS (
    SELECT record_id, cursor_value, payload AS p, payload->'properties' AS prop
      FROM {{ m.changed('hubspot', 'companies', full) }} AS current_company
)
SELECT {{ m.key('hubspot', 'record_id') }} AS customer_key,
       'hubspot'::text AS source_system,
       record_id AS source_id,
       {{ m.text("prop->>'name'") }} AS legal_name,
       upper({{ m.text("prop->>'customer_type'") }}) AS customer_type,
       {{ m.compact("prop->>'siren'") }} AS siren,
       {{ m.compact("prop->>'siret'") }} AS siret,
       {{ m.compact("prop->>'vat_number'") }} AS vat_number,
       lower(NULLIF(regexp_replace(btrim(prop->>'domain'), '^([a-z][a-z0-9+.-]*://)?(www\.)?([^/:?#]*).*$', '\3', 'i'), ''))
           AS email_domain,
       {{ m.text("prop->>'phone'") }} AS phone,
       {{ m.text("prop->>'address'") }} AS billing_street,
       {{ m.text("prop->>'city'") }} AS billing_city,
       {{ m.text("prop->>'zip'") }} AS billing_postcode,
       {{ m.country_code("prop->>'country'") }}::char(2) AS billing_country_code,
       {{ m.text("prop->>'country'") }} AS billing_country_raw,
       NULL::text AS delivery_street,
       NULL::text AS delivery_city,
       NULL::text AS delivery_postcode,
       NULL::char(2) AS delivery_country_code,
       NULLIF(regexp_replace(prop->>'einvoicing_address', '\s', '', 'g'), '') AS einvoicing_address,
       {{ m.text("prop->>'industry'") }} AS industry,
       (p->>'createdAt')::timestamptz AS source_created_at,
       cursor_value AS source_updated_at
  FROM company
)
