{% import 'macros.sql' as m %}
-- Asana projects. The text custom field 'CRM deal' holds the id of the won deal the project delivers,
-- as the CRM writes it and without naming the CRM, so the CRM is told by the id's shape: a Salesforce
-- Opportunity Id is 15 or 18 letters/digits starting with its key prefix '006', a HubSpot deal id is
-- all digits (HubSpot ids never start with 0, so the Salesforce test goes first). An id of any other
-- shape is kept with crm_system NULL for validation to flag. The enum custom field 'Billable'
-- (Oui/Non) is the project's default billability. Archived wins over completed for the status.
(WITH project AS (
    SELECT p.record_id, p.cursor_value, p.payload,
           (SELECT {{ m.text("coalesce(f->>'text_value', f->>'display_value')") }}
              FROM jsonb_array_elements(p.payload->'custom_fields') AS f
             WHERE reference.normalise(f->>'name') = 'crm deal' LIMIT 1) AS crm_deal_id,
           (SELECT reference.normalise(coalesce(f#>>'{enum_value,name}', f->>'display_value'))
              FROM jsonb_array_elements(p.payload->'custom_fields') AS f
             WHERE reference.normalise(f->>'name') = 'billable' LIMIT 1) AS billable_option
      FROM {{ m.changed('asana', 'projects', full) }} AS p
)
SELECT {{ m.key('asana', 'record_id') }} AS project_key,
       'asana' AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'name'") }} AS name,
       {{ m.text("payload->>'notes'") }} AS description,
       CASE WHEN crm_deal_id ~ '^006([A-Za-z0-9]{12}|[A-Za-z0-9]{15})$' THEN 'salesforce'
            WHEN crm_deal_id ~ '^[0-9]+$' THEN 'hubspot'
       END AS crm_system,
       crm_deal_id,
       CASE WHEN payload->'archived' = 'true' THEN 'archived'
            WHEN payload->'completed' = 'true' THEN 'completed'
            ELSE 'active'
       END AS status,
       CASE WHEN billable_option IN ('oui', 'yes') THEN true
            WHEN billable_option IN ('non', 'no') THEN false
       END AS billable,
       {{ m.date("payload->>'start_on'") }} AS start_date,
       {{ m.date("payload->>'due_on'") }} AS due_date,
       CASE WHEN payload->>'created_at' ~ '^\d{4}-\d{2}-\d{2}T' THEN (payload->>'created_at')::timestamptz
       END AS source_created_at,
       cursor_value AS source_updated_at
  FROM project)
