{% import 'macros.sql' as m %}
-- Dynamics 365 systemuser (Dataverse Web API) → staging.people: the org's users (_ownerid_value of
-- accounts and opportunities). Users are disabled (isdisabled), not deleted. The cursor is modifiedon.
(
SELECT {{ m.key('dynamics', 'record_id') }} AS person_key,
       'dynamics'::text AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'fullname'") }} AS full_name,
       lower({{ m.text("payload->>'internalemailaddress'") }}) AS email,
       NOT COALESCE((payload->>'isdisabled')::boolean, false) AS is_active,
       cursor_value AS source_updated_at
  FROM {{ m.changed('dynamics', 'systemusers', full) }} AS current_systemuser
)
