{% import 'macros.sql' as m %}
-- monday.com users (the whole account's list, read every run); a disabled user is inactive.
SELECT {{ m.key('monday', 'record_id') }} AS person_key,
       'monday' AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'name'") }} AS full_name,
       lower({{ m.text("payload->>'email'") }}) AS email,
       CASE payload->>'enabled' WHEN 'true' THEN true WHEN 'false' THEN false END AS is_active,
       cursor_value AS source_updated_at
  FROM {{ m.changed('monday', 'users', full) }} AS member
