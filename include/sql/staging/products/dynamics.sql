{% import 'macros.sql' as m %}
-- Dynamics 365 product (Dataverse Web API) → staging.products. productnumber is the SKU, price the list
-- price, the unit the default unit's FormattedValue label; statecode 0 is active (1 retired, 2 draft,
-- 3 under revision). Dataverse has no VAT on products: a <prefix>_vatrate column holds it, as for the
-- identifiers of accounts. The cursor is modifiedon.
(
SELECT {{ m.key('dynamics', 'record_id') }} AS product_key,
       'dynamics'::text AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'name'") }} AS name,
       {{ m.text("payload->>'productnumber'") }} AS sku,
       {{ m.text("payload->>'_parentproductid_value@OData.Community.Display.V1.FormattedValue'") }} AS family,
       {{ m.text("payload->>'_defaultuomid_value@OData.Community.Display.V1.FormattedValue'") }} AS unit,
       {{ m.number("payload->>'price'", 16) }} AS unit_price,
       (SELECT {{ m.number('f.value', 3) }} FROM jsonb_each_text(payload) AS f
         WHERE f.key ~ '^[a-z0-9]+_vatrate$' LIMIT 1) AS vat_rate,
       COALESCE(payload->>'statecode' = '0', true) AS is_active,
       cursor_value AS source_updated_at
  FROM {{ m.changed('dynamics', 'products', full) }} AS current_product
)
