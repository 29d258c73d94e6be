{% import 'macros.sql' as m %}
-- QuickBooks Online Item (Accounting API v3) → staging.products. Sku is the SKU, UnitPrice the list price,
-- Type (Service, NonInventory, Inventory...) the family; Active false items are kept, flagged. QuickBooks
-- France taxes through a TaxCode reference, not a rate on the item: vat_rate stays NULL here. The cursor
-- is MetaData.LastUpdatedTime.
(
SELECT {{ m.key('quickbooks', 'record_id') }} AS product_key,
       'quickbooks'::text AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'Name'") }} AS name,
       {{ m.text("payload->>'Sku'") }} AS sku,
       {{ m.text("payload->>'Type'") }} AS family,
       NULL::text AS unit,
       {{ m.number("payload->>'UnitPrice'", 16) }} AS unit_price,
       NULL::numeric AS vat_rate,
       COALESCE(payload->'Active' <> 'false'::jsonb, true) AS is_active,
       cursor_value AS source_updated_at
  FROM {{ m.changed('quickbooks', 'items', full) }} AS current_item
)
