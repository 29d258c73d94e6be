{#- Staging SELECTs shared by the Zoho family (Zoho CRM and Bigin: same record shapes, other module names).
    Record times carry the org's offset (2026-03-01T11:00:00+01:00); lookups are {name, id} objects. -#}
{% import 'macros.sql' as m %}

{% macro customers(source, full) -%}
-- {{ source }} Accounts (Bigin's Companies) → staging.customers. SIREN, SIRET, VAT_Number,
-- E_invoicing_Address and Customer_Type are custom fields (API names from the field metadata); the
-- e-mail domain is the Website's host. The cursor is Modified_Time.
(
WITH account AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed(source, 'Accounts', full) }} AS current_account
)
SELECT {{ m.key(source, 'record_id') }} AS customer_key,
       '{{ source }}'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'Account_Name'") }} AS legal_name,
       upper({{ m.text("p->>'Customer_Type'") }}) AS customer_type,
       {{ m.compact("p->>'SIREN'") }} AS siren,
       {{ m.compact("p->>'SIRET'") }} AS siret,
       {{ m.compact("p->>'VAT_Number'") }} AS vat_number,
       lower(NULLIF(regexp_replace(btrim(p->>'Website'), '^([a-z]+://)?(www\.)?([^/:]+).*$', '\3', 'i'), '')) AS email_domain,
       {{ m.text("p->>'Phone'") }} AS phone,
       {{ m.text("p->>'Billing_Street'") }} AS billing_street,
       {{ m.text("p->>'Billing_City'") }} AS billing_city,
       {{ m.text("p->>'Billing_Code'") }} AS billing_postcode,
       {{ m.country_code("p->>'Billing_Country'") }}::char(2) AS billing_country_code,
       {{ m.text("p->>'Billing_Country'") }} AS billing_country_raw,
       {{ m.text("p->>'Shipping_Street'") }} AS delivery_street,
       {{ m.text("p->>'Shipping_City'") }} AS delivery_city,
       {{ m.text("p->>'Shipping_Code'") }} AS delivery_postcode,
       {{ m.country_code("p->>'Shipping_Country'") }}::char(2) AS delivery_country_code,
       NULLIF(regexp_replace(p->>'E_invoicing_Address', '\s', '', 'g'), '') AS einvoicing_address,
       {{ m.text("p->>'Industry'") }} AS industry,
       {{ m.timestamp("p->>'Created_Time'") }} AS source_created_at,
       cursor_value AS source_updated_at
  FROM account
)
{%- endmacro %}

{% macro contacts(source, full) -%}
-- {{ source }} Contacts → staging.contacts; Account_Name is the employer lookup. The cursor is Modified_Time.
(
SELECT {{ m.key(source, 'record_id') }} AS contact_key,
       '{{ source }}'::text AS source_system,
       record_id AS source_id,
       {{ m.key(source, m.text("payload->'Account_Name'->>'id'")) }} AS customer_key,
       {{ m.text("payload->>'First_Name'") }} AS first_name,
       COALESCE({{ m.text("payload->>'Last_Name'") }}, {{ m.text("payload->>'Full_Name'") }}) AS last_name,
       lower({{ m.text("payload->>'Email'") }}) AS email,
       {{ m.text("payload->>'Phone'") }} AS phone,
       {{ m.text("payload->>'Title'") }} AS job_title,
       cursor_value AS source_updated_at
  FROM {{ m.changed(source, 'Contacts', full) }} AS current_contact
)
{%- endmacro %}

{% macro deals(source, module, full) -%}
-- {{ source }} {{ module }} → staging.deals. Orgs rename stages, so closed and won come from the stage
-- metadata the extract attaches (stage_metadata from the Stage picklist): won is forecast type
-- 'Closed Won' (probability 100 when the type is missing), closed any 'Closed …' type. Zoho keeps no
-- win time: Closing_Date is the close date and, for a won deal, the won date. The cursor is Modified_Time.
(
WITH deal AS (
    SELECT record_id, cursor_value, payload AS p, payload->'stage_metadata'->>'forecast_type' AS forecast_type,
           CASE WHEN payload->'stage_metadata'->>'probability' ~ '^[0-9]+(\.[0-9]+)?$'
                THEN (payload->'stage_metadata'->>'probability')::numeric END AS probability,
           {{ m.text("payload->>'Description'") }} AS description
      FROM {{ m.changed(source, module, full) }} AS current_deal
)
SELECT {{ m.key(source, 'record_id') }} AS deal_key,
       '{{ source }}'::text AS source_system,
       record_id AS source_id,
       {{ m.key(source, m.text("p->'Account_Name'->>'id'")) }} AS customer_key,
       {{ m.text("p->>'Deal_Name'") }} AS name,
       {{ m.number("p->>'Amount'", 16) }} AS amount,
       CASE WHEN btrim(p->>'Currency') ~* '^[a-z]{3}$' THEN upper(btrim(p->>'Currency')) END::char(3) AS currency,
       {{ m.text("p->>'Stage'") }} AS stage,
       COALESCE(forecast_type LIKE 'Closed%', probability IN (0, 100), false) AS is_closed,
       COALESCE(forecast_type = 'Closed Won', probability = 100, false) AS is_won,
       {{ m.date("p->>'Closing_Date'") }} AS close_date,
       CASE WHEN COALESCE(forecast_type = 'Closed Won', probability = 100, false)
            THEN {{ m.date("p->>'Closing_Date'") }} END AS won_date,
       {{ m.key(source, m.text("p->'Owner'->>'id'")) }} AS owner_person_key,
       description,
       substring(description FROM '\mPRJ-[0-9]{4}-[0-9]{3}\M') AS project_code,
       {{ m.timestamp("p->>'Created_Time'") }} AS source_created_at,
       cursor_value AS source_updated_at
  FROM deal
)
{%- endmacro %}

{% macro products(source, full) -%}
-- {{ source }} Products → staging.products. Tax is a list of tax names ("TVA - 20.0 %"): the VAT rate is
-- the percentage in the first; Product_Active says whether it is sold. The cursor is Modified_Time.
(
SELECT {{ m.key(source, 'record_id') }} AS product_key,
       '{{ source }}'::text AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'Product_Name'") }} AS name,
       {{ m.text("payload->>'Product_Code'") }} AS sku,
       {{ m.text("payload->>'Product_Category'") }} AS family,
       {{ m.text("payload->>'Usage_Unit'") }} AS unit,
       {{ m.number("payload->>'Unit_Price'", 16) }} AS unit_price,
       {{ m.number("substring(payload->'Tax'->>0 FROM '([0-9]+(\\.[0-9]+)?) *%')", 3) }} AS vat_rate,
       COALESCE((payload->>'Product_Active')::boolean, true) AS is_active,
       cursor_value AS source_updated_at
  FROM {{ m.changed(source, 'Products', full) }} AS current_product
)
{%- endmacro %}

{% macro people(source, full) -%}
-- {{ source }} users → staging.people (record owners). Users are deactivated, never deleted. The cursor is Modified_Time.
(
SELECT {{ m.key(source, 'record_id') }} AS person_key,
       '{{ source }}'::text AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'full_name'") }} AS full_name,
       lower({{ m.text("payload->>'email'") }}) AS email,
       COALESCE(payload->>'status' = 'active', true) AS is_active,
       cursor_value AS source_updated_at
  FROM {{ m.changed(source, 'users', full) }} AS current_zoho_user
)
{%- endmacro %}
