{% import 'macros.sql' as m %}
-- Jira Cloud projects. The CRM link is the project property passerelle.crm =
-- {"crm": "salesforce"|"hubspot", "dealId": ..., "customerId": ...}, which the connector keeps under
-- payload.properties. The CRM name is taken as written (lower case), not guessed from the id, so a
-- misspelt CRM reaches validation. Jira has no billable, start, due or creation date on a project;
-- a project is archived when Jira says so, active otherwise (trashed projects leave as tombstones).
(WITH project AS (
    SELECT p.record_id, p.cursor_value, p.payload, p.payload#>'{properties,passerelle.crm}' AS crm_link
      FROM {{ m.current('jira', 'projects') }} AS p
)
SELECT {{ m.key('jira', 'record_id') }} AS project_key,
       'jira' AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'name'") }} AS name,
       {{ m.text("payload->>'description'") }} AS description,
       lower({{ m.text("crm_link->>'crm'") }}) AS crm_system,
       {{ m.text("crm_link->>'dealId'") }} AS crm_deal_id,
       CASE WHEN payload->'archived' = 'true' THEN 'archived' ELSE 'active' END AS status,
       NULL::boolean AS billable,
       NULL::date AS start_date,
       NULL::date AS due_date,
       NULL::timestamptz AS source_created_at,
       cursor_value AS source_updated_at
  FROM project)
