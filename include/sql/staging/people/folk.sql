{% import 'macros.sql' as m %}
-- folk workspace user (public API v1 /users) → staging.people: the creators of companies and people.
-- A user removed from the workspace is no longer listed and leaves staging. The cursor is observedAt.
(
WITH workspace_user AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('folk', 'users', full) }} AS current_workspace_user
)
SELECT {{ m.key('folk', 'record_id') }} AS person_key,
       'folk'::text AS source_system,
       record_id AS source_id,
       {{ m.text("p->>'fullName'") }} AS full_name,
       lower({{ m.text("p->>'email'") }}) AS email,
       true AS is_active,
       cursor_value AS source_updated_at
  FROM workspace_user
)
