{% import 'macros.sql' as m %}
-- Pipedrive organization (API v2) → staging.customers.
-- Custom fields are keyed by 40-hex hashes in custom_fields; the extract adds custom_fields_by_name
-- (the names from /v1/organizationFields), read here by normalised name: SIREN, SIRET, VAT number
-- (or "TVA intracommunautaire", "Numéro de TVA"), E-invoicing address ("Adresse de facturation
-- électronique") and Customer type ("Type de client": B2B, B2B_INTL, B2C). The single address is an
-- object (route, locality, postal_code, country as a name); there is no delivery address and no
-- domain (email_domain NULL) and no phone. The cursor is update_time.
(
WITH organization AS (
    SELECT record_id, cursor_value, payload AS p, payload->'address' AS address,
           (SELECT jsonb_object_agg(reference.normalise(f.key), f.value)
              FROM jsonb_each_text(CASE WHEN jsonb_typeof(payload->'custom_fields_by_name') = 'object'
                                        THEN payload->'custom_fields_by_name' ELSE '{}'::jsonb END) AS f) AS cf
      FROM {{ m.changed('pipedrive', 'organizations', full) }} AS current_organization
)
SELECT {{ m.key('pipedrive', 'record_id') }} AS customer_key,
       'pipedrive'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'name'") }} AS legal_name,
       upper({{ m.text("coalesce(cf->>'customer type', cf->>'type de client')") }}) AS customer_type,
       {{ m.compact("cf->>'siren'") }} AS siren,
       {{ m.compact("cf->>'siret'") }} AS siret,
       {{ m.compact("coalesce(cf->>'vat number', cf->>'vat', cf->>'tva intracommunautaire', cf->>'numero de tva')") }}
           AS vat_number,
       NULL::text AS email_domain,
       NULL::text AS phone,
       {{ m.text("address->>'route'") }} AS billing_street,
       {{ m.text("address->>'locality'") }} AS billing_city,
       {{ m.text("address->>'postal_code'") }} AS billing_postcode,
       {{ m.country_code("address->>'country'") }}::char(2) AS billing_country_code,
       {{ m.text("address->>'country'") }} AS billing_country_raw,
       NULL::text AS delivery_street,
       NULL::text AS delivery_city,
       NULL::text AS delivery_postcode,
       NULL::char(2) AS delivery_country_code,
       NULLIF(regexp_replace(coalesce(cf->>'e invoicing address', cf->>'einvoicing address',
                                      cf->>'adresse de facturation electronique'), '\s', '', 'g'), '') AS einvoicing_address,
       NULL::text AS industry,
       {{ m.timestamp("p->>'add_time'") }} AS source_created_at,
       cursor_value AS source_updated_at
  FROM organization
)
