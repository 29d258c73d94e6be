{% import 'macros.sql' as m %}
-- Jira Cloud users, keyed by accountId (app and deactivated accounts included, active says which).
-- emailAddress is NULL when the user's profile visibility hides it.
SELECT {{ m.key('jira', 'u.record_id') }} AS person_key,
       'jira' AS source_system,
       u.record_id AS source_id,
       {{ m.text("u.payload->>'displayName'") }} AS full_name,
       lower({{ m.text("u.payload->>'emailAddress'") }}) AS email,
       CASE jsonb_typeof(u.payload->'active') WHEN 'boolean' THEN (u.payload->>'active')::boolean END AS is_active,
       u.cursor_value AS source_updated_at
  FROM {{ m.changed('jira', 'users', full) }} AS u
