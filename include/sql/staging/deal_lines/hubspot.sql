{% import 'macros.sql' as m %}
-- HubSpot line item → staging.deal_lines. A line item carries no deal id: the deal lists its line items
-- under associations.line_items (v4 associations stored by the extract), so the current deals'
-- associations are joined to the current line items. A line item listed by two deals yields two rows
-- with the same key, and one listed by no live deal gets deal_key NULL: both reach validation.
-- Properties are strings: quantity, price (unit price), hs_discount_percentage, amount (net amount
-- HubSpot computed), hs_tax_rate (percent), hs_product_id (the product library item). HubSpot keeps no
-- service date on line items (NULL). The cursor is hs_lastmodifieddate.
(
WITH line_item AS (
    SELECT record_id, cursor_value, payload->'properties' AS prop
      FROM {{ m.changed('hubspot', 'line_items', full) }} AS current_line_item
),
deal_link AS (
    SELECT DISTINCT deal.record_id AS deal_id, linked.line_item_id
      FROM {{ m.current('hubspot', 'deals') }} AS deal
     CROSS JOIN LATERAL jsonb_array_elements_text(
               CASE WHEN jsonb_typeof(deal.payload->'associations'->'line_items') = 'array'
                    THEN deal.payload->'associations'->'line_items' ELSE '[]'::jsonb END
           ) AS linked(line_item_id)
)
SELECT {{ m.key('hubspot', 'line_item.record_id') }} AS deal_line_key,
       'hubspot'::text AS source_system,
       line_item.record_id AS source_id,
       {{ m.key('hubspot', 'deal_link.deal_id') }} AS deal_key,
       {{ m.key('hubspot', m.text("prop->>'hs_product_id'")) }} AS product_key,
       {{ m.text("prop->>'name'") }} AS name,
       {{ m.text("prop->>'description'") }} AS description,
       {{ m.number("prop->>'quantity'", 14) }} AS quantity,
       {{ m.number("prop->>'price'", 14) }} AS unit_price,
       {{ m.number("prop->>'hs_discount_percentage'", 3) }} AS discount_percent,
       {{ m.number("prop->>'amount'", 16) }} AS line_amount,
       {{ m.number("prop->>'hs_tax_rate'", 3) }} AS vat_rate,
       NULL::date AS service_date,
       line_item.cursor_value AS source_updated_at
  FROM line_item
  LEFT JOIN deal_link ON deal_link.line_item_id = line_item.record_id
)
