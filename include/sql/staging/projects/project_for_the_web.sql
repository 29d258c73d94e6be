{% import 'macros.sql' as m %}
-- Project for the web / Planner Premium projects (Dataverse msdyn_project). The deal is the org's custom
-- lookup to the opportunity, '_<prefix>_opportunityid_value' whatever the publisher prefix (pa_, new_...):
-- a Dynamics 365 opportunity of the same org, so crm_system 'dynamics'. Project Operations itself links
-- deals through project contracts; without the lookup the project resolves by name. statecode 1
-- (inactive: closed in Project Operations) is 'archived'; dates are the schedule's start and finish.
(WITH project AS (
    SELECT p.record_id, p.cursor_value, p.payload,
           (SELECT lower({{ m.text("e.value #>> '{}'") }})
              FROM jsonb_each(p.payload) AS e
             WHERE e.key ~ '^_[a-z0-9]+_opportunityid_value$' AND jsonb_typeof(e.value) = 'string'
             ORDER BY e.key LIMIT 1) AS opportunity_id
      FROM {{ m.changed('project_for_the_web', 'msdyn_projects', full) }} AS p
)
SELECT {{ m.key('project_for_the_web', 'record_id') }} AS project_key,
       'project_for_the_web' AS source_system,
       record_id AS source_id,
       {{ m.text("payload->>'msdyn_subject'") }} AS name,
       {{ m.text("payload->>'msdyn_description'") }} AS description,
       CASE WHEN opportunity_id IS NOT NULL THEN 'dynamics' END AS crm_system,
       opportunity_id AS crm_deal_id,
       CASE WHEN payload->>'statecode' = '1' THEN 'archived' ELSE 'active' END AS status,
       NULL::boolean AS billable,
       {{ m.date("payload->>'msdyn_scheduledstart'") }} AS start_date,
       {{ m.date("payload->>'msdyn_finish'") }} AS due_date,
       {{ m.timestamp("payload->>'createdon'") }} AS source_created_at,
       cursor_value AS source_updated_at
  FROM project)
