{% import 'macros.sql' as m %}
-- HubSpot deal → staging.deals. Properties are strings: amount ("12170.10"), deal_currency_code,
-- dealstage (stage id of the default pipeline: closedwon is won and closed, closedlost is closed),
-- hubspot_owner_id (an owner, staging.people). The customer is not a property: the extract stores the
-- v4 deal→company associations under associations.companies, the first one is the customer.
-- closedate is a timestamp: HubSpot stores a picked date as midnight UTC (its date is taken in UTC);
-- any other time is a moment, dated in Europe/Paris where the business runs.
-- The cursor is hs_lastmodifieddate.
(
WITH deal AS (
    SELECT record_id, cursor_value, payload AS p, payload->'properties' AS prop,
           {{ m.text("payload->'properties'->>'dealstage'") }} AS stage,
           CASE WHEN payload->'properties'->>'closedate' ~ '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]'
                THEN (payload->'properties'->>'closedate')::timestamptz END AS closed_at,
           {{ m.text("payload->'properties'->>'description'") }} AS description,
           payload->'associations'->'companies'->>0 AS company_id
      FROM {{ m.current('hubspot', 'deals') }} AS current_deal
),
dated AS (
    SELECT deal.*,
           CASE WHEN (closed_at AT TIME ZONE 'UTC')::time = time '00:00' THEN (closed_at AT TIME ZONE 'UTC')::date
                ELSE (closed_at AT TIME ZONE 'Europe/Paris')::date END AS close_date
      FROM deal
)
SELECT {{ m.key('hubspot', 'record_id') }} AS deal_key,
       'hubspot'::text AS source_system,
       record_id AS source_id,
       {{ m.key('hubspot', m.text('company_id')) }} AS customer_key,
       {{ m.text("prop->>'dealname'") }} AS name,
       {{ m.number("prop->>'amount'", 16) }} AS amount,
       CASE WHEN btrim(prop->>'deal_currency_code') ~* '^[a-z]{3}$' THEN upper(btrim(prop->>'deal_currency_code')) END::char(3)
           AS currency,
       stage,
       stage IN ('closedwon', 'closedlost') AS is_closed,
       stage = 'closedwon' AS is_won,
       close_date,
       CASE WHEN stage = 'closedwon' THEN close_date END AS won_date,
       {{ m.key('hubspot', m.text("prop->>'hubspot_owner_id'")) }} AS owner_person_key,
       description,
       substring(description FROM '\mPRJ-[0-9]{4}-[0-9]{3}\M') AS project_code,
       (p->>'createdAt')::timestamptz AS source_created_at,
       cursor_value AS source_updated_at
  FROM dated
)
