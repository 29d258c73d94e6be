{% import 'macros.sql' as m %}
-- Salesforce User → staging.people: the org's sales users (Opportunity.OwnerId). Users are never
-- deleted, only deactivated (IsActive). The cursor is SystemModstamp.
(
WITH sales_user AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('salesforce', 'User', full) }} AS current_user_record
)
SELECT {{ m.key('salesforce', 'record_id') }} AS person_key,
       'salesforce'::text AS source_system,
       record_id AS source_id,
       COALESCE({{ m.text("p->>'Name'") }},
                NULLIF(concat_ws(' ', {{ m.text("p->>'FirstName'") }}, {{ m.text("p->>'LastName'") }}), '')) AS full_name,
       lower({{ m.text("p->>'Email'") }}) AS email,
       (p->>'IsActive')::boolean AS is_active,
       cursor_value AS source_updated_at
  FROM sales_user
)
