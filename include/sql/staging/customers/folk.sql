{% import 'macros.sql' as m %}
-- folk company (public API v1) → staging.customers.
-- Custom field values are grouped by group id and keyed by field name ({grp_…: {"SIREN": …}}): every
-- group's values are read by normalised name: SIREN, SIRET, VAT number (or "TVA intracommunautaire",
-- "Numéro de TVA"), E-invoicing address ("Adresse de facturation électronique") and Customer type
-- ("Type de client"). folk keeps one-line addresses ("street, postcode city, country"): the first one
-- is split at its commas, the postcode being the leading words holding a digit. The domain comes from
-- the first URL, the phone is the first one. folk has no modification time: the cursor is observedAt,
-- the end of the window whose listing first showed this version.
(
WITH company AS (
    SELECT record_id, cursor_value, payload AS p,
           string_to_array(CASE WHEN jsonb_typeof(payload->'addresses') = 'array'
                                THEN payload->'addresses'->>0 END, ', ') AS address,
           (SELECT jsonb_object_agg(reference.normalise(f.key), f.value)
              FROM jsonb_each(CASE WHEN jsonb_typeof(payload->'customFieldValues') = 'object'
                                   THEN payload->'customFieldValues' ELSE '{}'::jsonb END) AS g,
                   jsonb_each_text(CASE WHEN jsonb_typeof(g.value) = 'object' THEN g.value ELSE '{}'::jsonb END) AS f
             WHERE f.value IS NOT NULL) AS cf
      FROM {{ m.changed('folk', 'companies', full) }} AS current_company
),
located AS (
    SELECT c.*, cardinality(address) AS parts,
           CASE WHEN cardinality(address) >= 2 THEN address[cardinality(address) - 1] END AS town,
           regexp_match(CASE WHEN cardinality(address) >= 2 THEN address[cardinality(address) - 1] END,
                        '^((?:\S*\d\S*\s+)*\S*\d\S*)\s+(\D.*)$') AS postcode_city
      FROM company c
)
SELECT {{ m.key('folk', 'record_id') }} AS customer_key,
       'folk'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'name'") }} AS legal_name,
       upper({{ m.text("coalesce(cf->>'customer type', cf->>'type de client')") }}) AS customer_type,
       {{ m.compact("cf->>'siren'") }} AS siren,
       {{ m.compact("cf->>'siret'") }} AS siret,
       {{ m.compact("coalesce(cf->>'vat number', cf->>'vat', cf->>'tva intracommunautaire', cf->>'numero de tva')") }}
           AS vat_number,
       lower(NULLIF(regexp_replace(btrim(CASE WHEN jsonb_typeof(p->'urls') = 'array' THEN p->'urls'->>0 END),
                                   '^([a-z][a-z0-9+.-]*://)?(www\.)?([^/:?#]*).*$', '\3', 'i'), '')) AS email_domain,
       {{ m.text("CASE WHEN jsonb_typeof(p->'phones') = 'array' THEN p->'phones'->>0 END") }} AS phone,
       {{ m.text("CASE WHEN parts >= 3 THEN array_to_string(address[1:parts - 2], ', ') END") }} AS billing_street,
       {{ m.text("coalesce(postcode_city[2], town)") }} AS billing_city,
       {{ m.text("postcode_city[1]") }} AS billing_postcode,
       {{ m.country_code("address[parts]") }}::char(2) AS billing_country_code,
       {{ m.text("address[parts]") }} AS billing_country_raw,
       NULL::text AS delivery_street,
       NULL::text AS delivery_city,
       NULL::text AS delivery_postcode,
       NULL::char(2) AS delivery_country_code,
       NULLIF(regexp_replace(coalesce(cf->>'e invoicing address', cf->>'einvoicing address',
                                      cf->>'adresse de facturation electronique'), '\s', '', 'g'), '') AS einvoicing_address,
       {{ m.text("p->>'industry'") }} AS industry,
       {{ m.timestamp("p->>'createdAt'") }} AS source_created_at,
       cursor_value AS source_updated_at
  FROM located
)
