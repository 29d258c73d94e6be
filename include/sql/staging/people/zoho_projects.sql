{% import 'macros.sql' as m %}
-- Zoho Projects portal users, keyed by zpuid (the id task owners and time logs name); status 'active'.
SELECT {{ m.key('zoho_projects', 'u.record_id') }} AS person_key,
       'zoho_projects' AS source_system,
       u.record_id AS source_id,
       {{ m.text("u.payload->>'name'") }} AS full_name,
       lower({{ m.text("u.payload->>'email'") }}) AS email,
       CASE u.payload->>'status' WHEN 'active' THEN true WHEN 'inactive' THEN false END AS is_active,
       u.cursor_value AS source_updated_at
  FROM {{ m.changed('zoho_projects', 'users', full) }} AS u
