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
UNION ALL
-- Deal epics (raw jira.deal_epics: epics labelled passerelle-affaire): each is the project of one CRM deal,
-- named by the issue property passerelle.crm = {"crm", "dealId"}, or else by a label
-- <crm>:deal:<deal id>:project (the key the sync stamps). Keyed jira:epic:<issue id>, apart from Jira projects.
-- Completed when its status category is done; started the day it was created (as Jira writes it, in the
-- site's time); due on its due date.
(WITH epic AS (
    SELECT e.record_id, e.cursor_value, e.payload->'fields' AS f, e.payload#>'{properties,passerelle.crm}' AS crm_link,
           (SELECT regexp_match(label #>> '{}', '^([a-z_]+):deal:(.+):project$')
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(e.payload#>'{fields,labels}') = 'array'
                                             THEN e.payload#>'{fields,labels}' END) AS label
             WHERE label #>> '{}' ~ '^[a-z_]+:deal:.+:project$' LIMIT 1) AS key_label
      FROM {{ m.current('jira', 'deal_epics') }} AS e
)
SELECT {{ m.key('jira', "'epic:' || record_id") }} AS project_key,
       'jira' AS source_system,
       record_id AS source_id,
       {{ m.text("f->>'summary'") }} AS name,
       NULL AS description,
       lower(coalesce({{ m.text("crm_link->>'crm'") }}, key_label[1])) AS crm_system,
       coalesce({{ m.text("crm_link->>'dealId'") }}, key_label[2]) AS crm_deal_id,
       CASE WHEN f#>>'{status,statusCategory,key}' = 'done' THEN 'completed' ELSE 'active' END AS status,
       NULL::boolean AS billable,
       CASE WHEN f->>'created' ~ '^\d{4}-\d{2}-\d{2}T' THEN left(f->>'created', 10)::date END AS start_date,
       CASE WHEN f->>'duedate' ~ '^\d{4}-\d{2}-\d{2}$' THEN (f->>'duedate')::date END AS due_date,
       CASE WHEN f->>'created' ~ '^\d{4}-\d{2}-\d{2}T' THEN (f->>'created')::timestamptz END AS source_created_at,
       cursor_value AS source_updated_at
  FROM epic)
