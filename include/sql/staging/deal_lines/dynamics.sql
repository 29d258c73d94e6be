{% import 'macros.sql' as m %}
-- Dynamics 365 opportunityproduct (Dataverse Web API) → staging.deal_lines. Money and quantities are JSON
-- numbers (4 and 5 decimal places) read exact: baseamount = quantity × priceperunit, manualdiscountamount
-- (and volumediscountamount) come off it, tax is an amount, extendedamount includes it. The net amount is
-- extendedamount − tax; the discount a percentage of baseamount; the VAT rate the product's <prefix>_vatrate
-- column, else tax over the net amount. productdescription names a write-in line. Dataverse keeps no
-- service date on opportunity lines (NULL). The cursor is modifiedon.
(
WITH line AS (
    SELECT record_id, cursor_value, payload AS p,
           {{ m.number("payload->>'baseamount'", 14) }} AS base,
           {{ m.number("payload->>'manualdiscountamount'", 14) }} AS discount,
           {{ m.number("payload->>'tax'", 14) }} AS tax,
           {{ m.number("payload->>'extendedamount'", 14) }} AS extended
      FROM {{ m.changed('dynamics', 'opportunityproducts', full) }} AS current_line
),
product_rate AS (
    SELECT record_id, (SELECT {{ m.number('f.value', 3) }} FROM jsonb_each_text(payload) AS f
                        WHERE f.key ~ '^[a-z0-9]+_vatrate$' LIMIT 1) AS vat_rate
      FROM {{ m.current('dynamics', 'products') }} AS current_product
)
SELECT {{ m.key('dynamics', 'line.record_id') }} AS deal_line_key,
       'dynamics'::text AS source_system,
       line.record_id AS source_id,
       {{ m.key('dynamics', m.text("p->>'_opportunityid_value'")) }} AS deal_key,
       {{ m.key('dynamics', m.text("p->>'_productid_value'")) }} AS product_key,
       COALESCE({{ m.text("p->>'_productid_value@OData.Community.Display.V1.FormattedValue'") }},
                {{ m.text("p->>'productdescription'") }}) AS name,
       {{ m.text("p->>'productdescription'") }} AS description,
       {{ m.number("p->>'quantity'", 14) }} AS quantity,
       {{ m.number("p->>'priceperunit'", 14) }} AS unit_price,
       CASE WHEN base > 0 AND abs(COALESCE(discount, 0)) < base * 10  -- NUMERIC(5,2): beyond ±999.99 % is unreadable
            THEN round(COALESCE(discount, 0) * 100 / base, 2) END AS discount_percent,
       extended - COALESCE(tax, 0) AS line_amount,
       COALESCE(product_rate.vat_rate,
                CASE WHEN tax >= 0 AND tax < extended - tax THEN round(tax * 100 / (extended - tax), 1) END) AS vat_rate,
       NULL::date AS service_date,
       line.cursor_value AS source_updated_at
  FROM line
  LEFT JOIN product_rate ON product_rate.record_id = line.p->>'_productid_value'
)
