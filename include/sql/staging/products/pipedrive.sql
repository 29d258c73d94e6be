{% import 'macros.sql' as m %}
-- Pipedrive product (API v2) → staging.products. code is the SKU, unit free text, tax the VAT rate in
-- percent; prices is a list of {price, currency}: the EUR price is the list price (else the first).
-- Deleted products are tombstones, so a current product is sellable. The cursor is update_time.
(
WITH product AS (
    SELECT record_id, cursor_value, payload AS p,
           (SELECT x.price->>'price' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(payload->'prices') = 'array'
                                                                    THEN payload->'prices' ELSE '[]'::jsonb END)
                                          WITH ORDINALITY AS x(price, n)
             ORDER BY (x.price->>'currency' = 'EUR') DESC, n LIMIT 1) AS price
      FROM {{ m.changed('pipedrive', 'products', full) }} AS current_product
)
SELECT {{ m.key('pipedrive', 'record_id') }} AS product_key,
       'pipedrive'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'name'") }} AS name,
       {{ m.text("p->>'code'") }} AS sku,
       NULL::text AS family,
       {{ m.text("p->>'unit'") }} AS unit,
       {{ m.number('price', 16) }} AS unit_price,
       {{ m.number("p->>'tax'", 3) }} AS vat_rate,
       true AS is_active,
       cursor_value AS source_updated_at
  FROM product
)
