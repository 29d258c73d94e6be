{% import 'macros.sql' as m %}
-- Microsoft Planner plans (basic plans, Microsoft Graph). Planner has no custom fields: the CRM link is
-- what users attach to a task, an external reference (plannerTaskDetails.references, a link) to the deal's
-- record in the CRM. Reference keys are URLs with '%', '.', ':', '@' and '#' percent-encoded (Graph's
-- rule), decoded here, then read by shape: Dynamics 365 'main.aspx?etn=opportunity&id=<guid>' →
-- 'dynamics', Salesforce '/Opportunity/<Id>' (Lightning '/lightning/r/Opportunity/<Id>/view' or
-- Classic '/<Id>') → 'salesforce', HubSpot '/record/0-3/<deal id>' → 'hubspot'. The plan's link is the
-- one its live tasks reference most often (on a tie the smallest, so a rebuild is stable); a plan
-- without one resolves by name. Plans have no status, dates nor billable default.
(WITH reference_link AS (
    SELECT t.payload->>'planId' AS plan_id,
           replace(replace(replace(replace(replace(r.key, '%3A', ':'), '%2E', '.'), '%40', '@'), '%23', '#'),
                   '%25', '%') AS url
      FROM {{ m.current('planner', 'task_details') }} AS d
      JOIN {{ m.current('planner', 'tasks') }} AS t ON t.record_id = d.record_id
     CROSS JOIN LATERAL jsonb_each(
               CASE WHEN jsonb_typeof(d.payload->'references') = 'object' THEN d.payload->'references' END) AS r
),
deal_link AS (
    SELECT plan_id, crm_system,
           CASE crm_system
             WHEN 'dynamics' THEN lower(substring(url FROM
                 '[?&]id=(?:%7[Bb]|\{)?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})'))
             WHEN 'salesforce' THEN substring(url FROM '/(006[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?)(?:[/?#]|$)')
             WHEN 'hubspot' THEN substring(url FROM '/record/0-3/([0-9]+)')
           END AS crm_deal_id
      FROM (SELECT plan_id, url,
                   CASE WHEN url ~* '[?&]etn=opportunity(&|$)' THEN 'dynamics'
                        WHEN url ~ '(force\.com|salesforce\.com)/' THEN 'salesforce'
                        WHEN url ~ 'hubspot\.com/.*/record/0-3/' THEN 'hubspot'
                   END AS crm_system
              FROM reference_link) AS typed
),
plan_link AS (
    SELECT DISTINCT ON (plan_id) plan_id, crm_system, crm_deal_id
      FROM (SELECT plan_id, crm_system, crm_deal_id, count(*) AS tasks
              FROM deal_link WHERE crm_system IS NOT NULL AND crm_deal_id IS NOT NULL
             GROUP BY plan_id, crm_system, crm_deal_id) AS counted
     ORDER BY plan_id, tasks DESC, crm_system, crm_deal_id
)
SELECT {{ m.key('planner', 'p.record_id') }} AS project_key,
       'planner' AS source_system,
       p.record_id AS source_id,
       {{ m.text("p.payload->>'title'") }} AS name,
       NULL::text AS description,
       l.crm_system,
       l.crm_deal_id,
       'active' AS status,
       NULL::boolean AS billable,
       NULL::date AS start_date,
       NULL::date AS due_date,
       {{ m.timestamp("p.payload->>'createdDateTime'") }} AS source_created_at,
       p.cursor_value AS source_updated_at
  FROM {{ m.changed('planner', 'plans', full) }} AS p
  LEFT JOIN plan_link AS l ON l.plan_id = p.record_id)
