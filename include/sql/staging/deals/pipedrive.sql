{% import 'macros.sql' as m %}
-- Pipedrive deal (API v2) → staging.deals. value is a JSON number (kept exact by the extract); status is
-- open, won or lost (deleted deals are tombstones): won is status 'won', closed is won or lost. The
-- stage is the pipeline stage id for open deals and the status once closed. close_date is the day of
-- close_time (RFC 3339, dated in Europe/Paris where the business runs), else expected_close_date;
-- won_date the day of won_time. The description is the custom field named Description
-- (custom_fields_by_name, added by the extract). The cursor is update_time.
(
WITH deal AS (
    SELECT record_id, cursor_value, payload AS p, lower({{ m.text("payload->>'status'") }}) AS status,
           {{ m.text("payload->'custom_fields_by_name'->>'Description'") }} AS description
      FROM {{ m.changed('pipedrive', 'deals', full) }} AS current_deal
)
SELECT {{ m.key('pipedrive', 'record_id') }} AS deal_key,
       'pipedrive'::text AS source_system,
       record_id AS source_id,
       {{ m.key('pipedrive', m.text("p->>'org_id'")) }} AS customer_key,
       {{ m.text("p->>'title'") }} AS name,
       {{ m.number("p->>'value'", 16) }} AS amount,
       CASE WHEN btrim(p->>'currency') ~* '^[a-z]{3}$' THEN upper(btrim(p->>'currency')) END::char(3) AS currency,
       CASE WHEN status = 'open' THEN 'stage ' || (p->>'stage_id') ELSE status END AS stage,
       status IN ('won', 'lost') AS is_closed,
       status = 'won' AS is_won,
       COALESCE(({{ m.timestamp("p->>'close_time'") }} AT TIME ZONE 'Europe/Paris')::date,
                {{ m.date("p->>'expected_close_date'") }}) AS close_date,
       CASE WHEN status = 'won' THEN ({{ m.timestamp("p->>'won_time'") }} AT TIME ZONE 'Europe/Paris')::date END AS won_date,
       {{ m.key('pipedrive', m.text("p->>'owner_id'")) }} AS owner_person_key,
       description,
       substring(description FROM '\mPRJ-[0-9]{4}-[0-9]{3}\M') AS project_code,
       {{ m.timestamp("p->>'add_time'") }} AS source_created_at,
       cursor_value AS source_updated_at
  FROM deal
)
