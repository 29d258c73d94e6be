{% import 'macros.sql' as m %}
-- HubSpot owner → staging.people: the portal's sales owners (hubspot_owner_id of companies and deals).
-- Owners have no properties envelope; a deactivated user's owner is archived, which the extract
-- stores as a tombstone, so a live owner is active. The cursor is updatedAt.
(
WITH owner AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('hubspot', 'owners', full) }} AS current_owner
)
SELECT {{ m.key('hubspot', 'record_id') }} AS person_key,
       'hubspot'::text AS source_system,
       record_id AS source_id,
       NULLIF(concat_ws(' ', {{ m.text("p->>'firstName'") }}, {{ m.text("p->>'lastName'") }}), '') AS full_name,
       lower({{ m.text("p->>'email'") }}) AS email,
       NOT COALESCE((p->>'archived')::boolean, false) AS is_active,
       cursor_value AS source_updated_at
  FROM owner
)
