{% import 'macros.sql' as m %}
-- QuickBooks Online Customer → staging.ledger_customers. French bookkeepers write the SIREN or the VAT number in
-- Notes ("SIREN 552 100 554", "Siren : 552100554", "TVA FR40552100554"); QuickBooks masks PrimaryTaxIdentifier
-- to its last four characters, so it is not read. A number is kept only when its checksum holds
-- (reference.siren_valid / fr_vat_valid, python-stdnum's rules); one that fails is named in identifier_problem.
-- Inactive customers are kept (QuickBooks appends " (deleted)" to their name: removed here).
(
SELECT {{ m.key('quickbooks', 'c.record_id') }} AS ledger_customer_key,
       'quickbooks'::text AS source_system,
       c.record_id AS source_id,
       c.display_name,
       c.company_name,
       reference.normalise(coalesce(c.company_name, c.display_name)) AS normalised_name,
       CASE WHEN reference.siren_valid(c.siren) THEN c.siren
            WHEN reference.fr_vat_valid(c.vat) THEN right(c.vat, 9) END AS siren,
       CASE WHEN reference.fr_vat_valid(c.vat) THEN c.vat END AS vat_number,
       NULLIF(concat_ws('; ',
              CASE WHEN NOT reference.siren_valid(c.siren) THEN 'SIREN ' || c.siren || ' in Notes fails its checksum' END,
              CASE WHEN NOT reference.fr_vat_valid(c.vat) THEN 'VAT number ' || c.vat || ' in Notes fails its checksum' END),
              '') AS identifier_problem,
       c.is_active,
       c.cursor_value AS source_updated_at
  FROM (SELECT cur.record_id, cur.cursor_value,
               {{ m.text("regexp_replace(cur.payload->>'DisplayName', ' \\(deleted\\)$', '')") }} AS display_name,
               {{ m.text("cur.payload->>'CompanyName'") }} AS company_name,
               {{ m.compact("substring(cur.payload->>'Notes' from '(?i)siren\\s*:?\\s*([0-9](?:[ .]?[0-9]){8})')") }} AS siren,
               {{ m.compact("substring(upper(cur.payload->>'Notes') from '\\m(FR\\s?[0-9A-Z]{2}(?:\\s?[0-9]){9})')") }} AS vat,
               COALESCE(cur.payload->'Active' <> 'false'::jsonb, true) AS is_active
          FROM {{ m.changed('quickbooks', 'customers', full) }} AS cur) AS c
)
