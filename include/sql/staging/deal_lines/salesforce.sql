{% import 'macros.sql' as m %}
-- Salesforce OpportunityLineItem → staging.deal_lines. Each line names its Opportunity and Product2.
-- Numbers are JSON numbers read as exact NUMERIC: Quantity, UnitPrice, Discount (percent) and
-- TotalPrice (net amount Salesforce computed); VAT_Rate__c is a custom percent field (0 for reverse
-- charge / export). ServiceDate is a plain date. The cursor is SystemModstamp.
(
WITH line AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('salesforce', 'OpportunityLineItem', full) }} AS current_line
)
SELECT {{ m.key('salesforce', 'record_id') }} AS deal_line_key,
       'salesforce'::text AS source_system,
       record_id AS source_id,
       {{ m.key('salesforce', m.text("p->>'OpportunityId'")) }} AS deal_key,
       {{ m.key('salesforce', m.text("p->>'Product2Id'")) }} AS product_key,
       {{ m.text("p->>'Name'") }} AS name,
       {{ m.text("p->>'Description'") }} AS description,
       {{ m.number("p->>'Quantity'", 14) }} AS quantity,
       {{ m.number("p->>'UnitPrice'", 14) }} AS unit_price,
       {{ m.number("p->>'Discount'", 3) }} AS discount_percent,
       {{ m.number("p->>'TotalPrice'", 16) }} AS line_amount,
       {{ m.number("p->>'VAT_Rate__c'", 3) }} AS vat_rate,
       CASE WHEN p->>'ServiceDate' ~ '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$' THEN (p->>'ServiceDate')::date END AS service_date,
       cursor_value AS source_updated_at
  FROM line
)
