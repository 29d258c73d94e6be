{% import 'macros.sql' as m %}
-- Salesforce Contact → staging.contacts. AccountId names the customer's Account; the cursor is
-- SystemModstamp.
(
WITH contact AS (
    SELECT record_id, cursor_value, payload AS p
      FROM {{ m.changed('salesforce', 'Contact', full) }} AS current_contact
)
SELECT {{ m.key('salesforce', 'record_id') }} AS contact_key,
       'salesforce'::text AS source_system,
       record_id AS source_id,
       {{ m.key('salesforce', m.text("p->>'AccountId'")) }} AS customer_key,
       {{ m.text("p->>'FirstName'") }} AS first_name,
       {{ m.text("p->>'LastName'") }} AS last_name,
       lower({{ m.text("p->>'Email'") }}) AS email,
       {{ m.text("p->>'Phone'") }} AS phone,
       {{ m.text("p->>'Title'") }} AS job_title,
       cursor_value AS source_updated_at
  FROM contact
)
