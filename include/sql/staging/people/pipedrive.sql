{% import 'macros.sql' as m %}
-- Pipedrive user (API v1 /users) → staging.people: the company's users (owner_id of organizations and
-- deals). Users are never deleted, only deactivated (active_flag). The cursor is modified.
(
WITH company_user AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('pipedrive', 'users', full) }} AS current_company_user
)
SELECT {{ m.key('pipedrive', 'record_id') }} AS person_key,
       'pipedrive'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'name'") }} AS full_name,
       lower({{ m.text("p->>'email'") }}) AS email,
       COALESCE((p->>'active_flag')::boolean, true) AS is_active,
       cursor_value AS source_updated_at
  FROM company_user
)
