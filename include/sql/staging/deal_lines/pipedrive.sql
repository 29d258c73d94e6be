{% import 'macros.sql' as m %}
-- Pipedrive deal product (API v2) → staging.deal_lines. The extract lists each deal's current products
-- under product_ids; only products a current deal lists are staged, so a product removed from a deal
-- (or on a deleted deal) leaves with the deal's next version. item_price is the unit price, discount a
-- percentage when discount_type is 'percentage' (an amount otherwise: converted to a percentage of
-- quantity × price), sum the discounted net amount, tax the VAT rate in percent. Pipedrive keeps no
-- service date on deal products (NULL). The cursor is update_time.
(
WITH deal_product AS (
    SELECT record_id, cursor_value, payload AS p,
           {{ m.number("payload->>'quantity'", 14) }} AS quantity,
           {{ m.number("payload->>'item_price'", 14) }} AS unit_price,
           {{ m.number("payload->>'discount'", 14) }} AS discount
      FROM {{ m.changed('pipedrive', 'deal_products', full) }} AS current_deal_product
),
deal_link AS (
    SELECT DISTINCT deal.record_id AS deal_id, linked.product_id
      FROM {{ m.current('pipedrive', 'deals') }} AS deal
     CROSS JOIN LATERAL jsonb_array_elements_text(
               CASE WHEN jsonb_typeof(deal.payload->'product_ids') = 'array'
                    THEN deal.payload->'product_ids' ELSE '[]'::jsonb END
           ) AS linked(product_id)
)
SELECT {{ m.key('pipedrive', 'deal_product.record_id') }} AS deal_line_key,
       'pipedrive'::text AS source_system,
       deal_product.record_id AS source_id,
       {{ m.key('pipedrive', 'deal_link.deal_id') }} AS deal_key,
       {{ m.key('pipedrive', m.text("p->>'product_id'")) }} AS product_key,
       {{ m.text("p->>'name'") }} AS name,
       {{ m.text("p->>'comments'") }} AS description,
       quantity,
       unit_price,
       CASE WHEN coalesce(p->>'discount_type', 'percentage') = 'percentage' THEN discount
            WHEN quantity * unit_price > 0 THEN round(discount * 100 / (quantity * unit_price), 2)
       END AS discount_percent,
       {{ m.number("p->>'sum'", 16) }} AS line_amount,
       {{ m.number("p->>'tax'", 3) }} AS vat_rate,
       NULL::date AS service_date,
       deal_product.cursor_value AS source_updated_at
  FROM deal_product
  JOIN deal_link ON deal_link.product_id = deal_product.record_id
                AND deal_link.deal_id = deal_product.p->>'deal_id'
)
