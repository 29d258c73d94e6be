{% import 'macros.sql' as m %}
-- HubSpot deal → staging.deals. Properties are strings: amount ("12170.10"), deal_currency_code,
-- pipeline and dealstage (ids: "default"/"closedwon" in HubSpot's default pipeline, numbers in
-- pipelines a portal creates), hubspot_owner_id (an owner, staging.people). The customer is not a property: the extract stores the
-- v4 deal→company associations under associations.companies, the first one is the customer.
-- closedate is a timestamp: HubSpot stores a picked date as midnight UTC (its date is taken in UTC);
-- any other time is a moment, dated in Europe/Paris where the business runs.
-- The cursor is hs_lastmodifieddate.
-- Won and lost come from the stage's own metadata in the deal_pipelines stream, never from its id or
-- label: a deal is closed when its stage says isClosed "true", won when that closed stage has
-- probability 1 (lost: 0). A stage the warehouse does not know (yet) leaves both unknown (NULL).
(
WITH stage_meta AS (  -- one row per (pipeline, stage), even if a payload repeated a stage
    SELECT DISTINCT ON (pl.record_id, st->>'id') pl.record_id AS pipeline_id, st->>'id' AS stage_id,
           lower(btrim(st->'metadata'->>'isClosed')) = 'true' AS closed,
           {{ m.number("st->'metadata'->>'probability'", 3) }} AS probability
      FROM {{ m.current('hubspot', 'deal_pipelines') }} AS pl
     CROSS JOIN LATERAL jsonb_array_elements(
               CASE WHEN jsonb_typeof(pl.payload->'stages') = 'array' THEN pl.payload->'stages' END) AS st
),
deal AS (
    SELECT record_id, cursor_value, payload AS p, payload->'properties' AS prop,
           {{ m.text("payload->'properties'->>'dealstage'") }} AS stage,
           {{ m.text("payload->'properties'->>'pipeline'") }} AS pipeline,
           CASE WHEN payload->'properties'->>'closedate' ~ '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]'
                THEN (payload->'properties'->>'closedate')::timestamptz END AS closed_at,
           {{ m.text("payload->'properties'->>'description'") }} AS description,
           payload->'associations'->'companies'->>0 AS company_id
      FROM {{ m.changed('hubspot', 'deals', full) }} AS current_deal
),
dated AS (
    SELECT deal.*,
           CASE WHEN (closed_at AT TIME ZONE 'UTC')::time = time '00:00' THEN (closed_at AT TIME ZONE 'UTC')::date
                ELSE (closed_at AT TIME ZONE 'Europe/Paris')::date END AS close_date,
           sm.closed AS is_closed,
           sm.closed AND sm.probability = 1 AS is_won
      FROM deal
      LEFT JOIN stage_meta AS sm ON sm.pipeline_id = deal.pipeline AND sm.stage_id = deal.stage
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
       is_closed,
       is_won,
       close_date,
       CASE WHEN is_won THEN close_date END AS won_date,
       {{ m.key('hubspot', m.text("prop->>'hubspot_owner_id'")) }} AS owner_person_key,
       description,
       substring(description FROM '\mPRJ-[0-9]{4}-[0-9]{3}\M') AS project_code,
       (p->>'createdAt')::timestamptz AS source_created_at,
       cursor_value AS source_updated_at
  FROM dated
)
