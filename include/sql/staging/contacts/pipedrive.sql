{% import 'macros.sql' as m %}
-- Pipedrive person (API v2) → staging.contacts. org_id is the employer; emails and phones are lists of
-- {value, primary, label}: the primary one is taken (else the first). The cursor is update_time.
(
WITH person AS (
    SELECT record_id, cursor_value, payload AS p,
           (SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(payload->'emails') = 'array'
                                                              THEN payload->'emails' ELSE '[]'::jsonb END)
                                    WITH ORDINALITY AS x(e, n)
             ORDER BY (e->>'primary' = 'true') DESC, n LIMIT 1) AS email,
           (SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(payload->'phones') = 'array'
                                                              THEN payload->'phones' ELSE '[]'::jsonb END)
                                    WITH ORDINALITY AS x(e, n)
             ORDER BY (e->>'primary' = 'true') DESC, n LIMIT 1) AS phone
      FROM {{ m.changed('pipedrive', 'persons', full) }} AS current_person
)
SELECT {{ m.key('pipedrive', 'record_id') }} AS contact_key,
       'pipedrive'::text AS source_system,
       record_id AS source_id,
       {{ m.key('pipedrive', m.text("p->>'org_id'")) }} AS customer_key,
       {{ m.text("p->>'first_name'") }} AS first_name,
       COALESCE({{ m.text("p->>'last_name'") }}, {{ m.text("p->>'name'") }}) AS last_name,
       lower({{ m.text('email') }}) AS email,
       {{ m.text('phone') }} AS phone,
       {{ m.text("p->>'job_title'") }} AS job_title,
       cursor_value AS source_updated_at
  FROM person
)
