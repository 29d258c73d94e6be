{% import 'macros.sql' as m %}
-- Zoho CRM quote line (Quoted_Items of Quotes) → staging.deal_lines. v8 has no line-items module: each
-- current deal's lines are those of its latest quote (Deal_Name lookup). List_Price is the unit price,
-- Total the gross amount (quantity × price), Discount an amount (turned into a percentage of Total),
-- Total_After_Discount the net line amount, Line_Tax[0].percentage the VAT rate. Zoho keeps no service
-- date on quote lines (NULL). The cursor is the quote's Modified_Time.
(
WITH quote AS (
    SELECT DISTINCT ON (q.payload->'Deal_Name'->>'id') q.record_id, q.cursor_value, q.payload
      FROM {{ m.current('zoho_crm', 'Quotes') }} AS q
      JOIN {{ m.current('zoho_crm', 'Deals') }} AS deal ON deal.record_id = q.payload->'Deal_Name'->>'id'
     ORDER BY q.payload->'Deal_Name'->>'id', q.cursor_value DESC, q.record_id DESC
),
item AS (
    SELECT quote.cursor_value, quote.payload->'Deal_Name'->>'id' AS deal_id, i AS p,
           {{ m.number("i->>'Quantity'", 14) }} AS quantity,
           {{ m.number("i->>'List_Price'", 14) }} AS unit_price,
           {{ m.number("i->>'Total'", 16) }} AS gross,
           {{ m.number("i->>'Discount'", 16) }} AS discount
      FROM quote
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(quote.payload->'Quoted_Items') = 'array'
                                                  THEN quote.payload->'Quoted_Items' ELSE '[]'::jsonb END) AS x(i)
)
SELECT {{ m.key('zoho_crm', "p->>'id'") }} AS deal_line_key,
       'zoho_crm'::text AS source_system,
       p->>'id' AS source_id,
       {{ m.key('zoho_crm', 'deal_id') }} AS deal_key,
       {{ m.key('zoho_crm', m.text("p->'Product_Name'->>'id'")) }} AS product_key,
       {{ m.text("p->'Product_Name'->>'name'") }} AS name,
       {{ m.text("p->>'Description'") }} AS description,
       quantity,
       unit_price,
       CASE WHEN coalesce(discount, 0) = 0 THEN 0
            WHEN gross > 0 THEN round(discount * 100 / gross, 2)
       END AS discount_percent,
       {{ m.number("p->>'Total_After_Discount'", 16) }} AS line_amount,
       {{ m.number("p->'Line_Tax'->0->>'percentage'", 3) }} AS vat_rate,
       NULL::date AS service_date,
       cursor_value AS source_updated_at
  FROM item
)
