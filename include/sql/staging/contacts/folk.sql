{% import 'macros.sql' as m %}
-- folk person (public API v1) → staging.contacts. The employer is the first of the person's companies;
-- emails and phones are lists of strings (the first is taken). The cursor is observedAt (no
-- modification time in folk).
(
WITH person AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('folk', 'people', full) }} AS current_person
)
SELECT {{ m.key('folk', 'record_id') }} AS contact_key,
       'folk'::text AS source_system,
       record_id AS source_id,
       {{ m.key('folk', m.text("CASE WHEN jsonb_typeof(p->'companies') = 'array' THEN p->'companies'->0->>'id' END")) }}
           AS customer_key,
       {{ m.text("p->>'firstName'") }} AS first_name,
       COALESCE({{ m.text("p->>'lastName'") }}, {{ m.text("p->>'fullName'") }}) AS last_name,
       lower({{ m.text("CASE WHEN jsonb_typeof(p->'emails') = 'array' THEN p->'emails'->>0 END") }}) AS email,
       {{ m.text("CASE WHEN jsonb_typeof(p->'phones') = 'array' THEN p->'phones'->>0 END") }} AS phone,
       {{ m.text("p->>'jobTitle'") }} AS job_title,
       cursor_value AS source_updated_at
  FROM person
)
