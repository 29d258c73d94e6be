{% import 'macros.sql' as m %}
-- Zoho Projects milestones: end_date is the planned date; status 'completed' (else 'notcompleted')
-- says it was reached, completed_time when.
SELECT {{ m.key('zoho_projects', 'ms.record_id') }} AS milestone_key,
       'zoho_projects' AS source_system,
       ms.record_id AS source_id,
       {{ m.key('zoho_projects', "ms.payload#>>'{project,id}'") }} AS project_key,
       {{ m.text("ms.payload->>'name'") }} AS name,
       {{ m.date("ms.payload->>'end_date'") }} AS due_date,
       CASE WHEN ms.payload->>'status' = 'completed' THEN {{ m.timestamp("ms.payload->>'completed_time'") }}
       END AS completed_at,
       CASE WHEN ms.payload->>'status' = 'completed' THEN 'done' ELSE 'open' END AS status,
       ms.cursor_value AS source_updated_at
  FROM {{ m.changed('zoho_projects', 'milestones', full) }} AS ms
