{% import 'macros.sql' as m %}
-- Asana milestones: tasks with resource_subtype 'milestone'; completed / completed_at say when
-- the milestone was reached, due_on is the planned date.
(WITH milestone AS (
    SELECT t.record_id, t.cursor_value, t.payload, t.payload->'completed' = 'true' AS is_completed
      FROM {{ m.changed('asana', 'tasks', full) }} AS t
     WHERE t.payload->>'resource_subtype' = 'milestone'
)
SELECT {{ m.key('asana', 'record_id') }} AS milestone_key,
       'asana' AS source_system,
       record_id AS source_id,
       {{ m.key('asana', "payload#>>'{memberships,0,project,gid}'") }} AS project_key,
       {{ m.text("payload->>'name'") }} AS name,
       {{ m.date("payload->>'due_on'") }} AS due_date,
       CASE WHEN is_completed AND payload->>'completed_at' ~ '^\d{4}-\d{2}-\d{2}T'
            THEN (payload->>'completed_at')::timestamptz
       END AS completed_at,
       CASE WHEN is_completed THEN 'done' ELSE 'open' END AS status,
       cursor_value AS source_updated_at
  FROM milestone)
