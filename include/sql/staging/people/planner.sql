{% import 'macros.sql' as m %}
-- Microsoft 365 directory users (Microsoft Graph /users): the assignees of Planner tasks. The e-mail is
-- the mailbox, else the sign-in name; accountEnabled false is a disabled account.
SELECT {{ m.key('planner', 'u.record_id') }} AS person_key,
       'planner' AS source_system,
       u.record_id AS source_id,
       {{ m.text("u.payload->>'displayName'") }} AS full_name,
       lower(coalesce({{ m.text("u.payload->>'mail'") }}, {{ m.text("u.payload->>'userPrincipalName'") }})) AS email,
       CASE u.payload->>'accountEnabled' WHEN 'true' THEN true WHEN 'false' THEN false END AS is_active,
       u.cursor_value AS source_updated_at
  FROM {{ m.changed('planner', 'users', full) }} AS u
