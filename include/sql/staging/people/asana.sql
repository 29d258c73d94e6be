{% import 'macros.sql' as m %}
-- Asana workspace members. The users list says nothing about deactivation, so is_active stays NULL.
SELECT {{ m.key('asana', 'u.record_id') }} AS person_key,
       'asana' AS source_system,
       u.record_id AS source_id,
       {{ m.text("u.payload->>'name'") }} AS full_name,
       lower({{ m.text("u.payload->>'email'") }}) AS email,
       NULL::boolean AS is_active,
       u.cursor_value AS source_updated_at
  FROM {{ m.changed('asana', 'users', full) }} AS u
