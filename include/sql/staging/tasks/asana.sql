{% import 'macros.sql' as m %}
-- Asana tasks (every subtype but 'milestone', which staging.milestones takes). The project is the
-- first membership's. Status: a completed task is done; otherwise the board section says it
-- ('Terminé' done, 'En cours' in progress, 'À faire' or any other section to do). completed_at is
-- kept only while the task is completed (a reopened task keeps no completion time).
(WITH task AS (
    SELECT t.record_id, t.cursor_value, t.payload,
           t.payload->'completed' = 'true' AS is_completed,
           reference.normalise(t.payload#>>'{memberships,0,section,name}') AS section
      FROM {{ m.changed('asana', 'tasks', full) }} AS t
     WHERE t.payload->>'resource_subtype' IS DISTINCT FROM 'milestone'
)
SELECT {{ m.key('asana', 'record_id') }} AS task_key,
       'asana' AS source_system,
       record_id AS source_id,
       {{ m.key('asana', "payload#>>'{memberships,0,project,gid}'") }} AS project_key,
       {{ m.text("payload->>'name'") }} AS name,
       CASE WHEN is_completed OR section = 'termine' THEN 'done'
            WHEN section = 'en cours' THEN 'in_progress'
            ELSE 'todo'
       END AS status,
       CASE WHEN is_completed AND payload->>'completed_at' ~ '^\d{4}-\d{2}-\d{2}T'
            THEN (payload->>'completed_at')::timestamptz
       END AS completed_at,
       {{ m.key('asana', "payload#>>'{assignee,gid}'") }} AS assignee_person_key,
       {{ m.date("payload->>'due_on'") }} AS due_date,
       cursor_value AS source_updated_at
  FROM task)
