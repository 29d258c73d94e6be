{% import 'macros.sql' as m %}
-- HubSpot product library → staging.products. Properties are strings: price (list price), hs_sku,
-- hs_tax_rate (percent). HubSpot has neither product families nor units of measure (NULL), and no
-- active flag: a product still in the library (not archived) is sellable. The cursor is
-- hs_lastmodifieddate.
(
WITH product AS (
    SELECT record_id, cursor_value, payload AS p, payload->'properties' AS prop
      FROM {{ m.changed('hubspot', 'products', full) }} AS current_product
)
SELECT {{ m.key('hubspot', 'record_id') }} AS product_key,
       'hubspot'::text AS source_system,
       record_id AS source_id,
       {{ m.text("prop->>'name'") }} AS name,
       {{ m.text("prop->>'hs_sku'") }} AS sku,
       NULL::text AS family,
       NULL::text AS unit,
       {{ m.number("prop->>'price'", 16) }} AS unit_price,
       {{ m.number("prop->>'hs_tax_rate'", 3) }} AS vat_rate,
       NOT COALESCE((p->>'archived')::boolean, false) AS is_active,
       cursor_value AS source_updated_at
  FROM product
)
