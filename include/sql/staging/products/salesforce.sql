{% import 'macros.sql' as m %}
-- Salesforce Product2 → staging.products. Prices live in pricebook entries, not on the product, so the
-- catalogue has no list price here (unit_price NULL). VAT_Rate__c is a custom percent field;
-- QuantityUnitOfMeasure holds the unit (heure, jour, forfait...). The cursor is SystemModstamp.
(
WITH product AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('salesforce', 'Product2', full) }} AS current_product
)
SELECT {{ m.key('salesforce', 'record_id') }} AS product_key,
       'salesforce'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'Name'") }} AS name,
       {{ m.text("p->>'ProductCode'") }} AS sku,
       {{ m.text("p->>'Family'") }} AS family,
       {{ m.text("p->>'QuantityUnitOfMeasure'") }} AS unit,
       NULL::numeric(18,2) AS unit_price,
       {{ m.number("p->>'VAT_Rate__c'", 3) }} AS vat_rate,
       (p->>'IsActive')::boolean AS is_active,
       cursor_value AS source_updated_at
  FROM product
)
