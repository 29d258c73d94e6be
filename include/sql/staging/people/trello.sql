{% import 'macros.sql' as m %}
-- Trello members of the boards (the people of time entries and card assignments). Trello shows no
-- e-mail address of other members nor whether their account is active: both stay NULL.
SELECT {{ m.key('trello', 'record_id') }} AS person_key,
       'trello' AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'fullName'") }} AS full_name,
       lower({{ m.text("payload->>'email'") }}) AS email,
       NULL::boolean AS is_active,
       cursor_value AS source_updated_at
  FROM {{ m.changed('trello', 'members', full) }} AS member
