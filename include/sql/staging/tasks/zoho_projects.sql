{% import 'macros.sql' as m %}
-- Zoho Projects tasks and subtasks (the stream holds both; a subtask names its parent_task). Status:
-- a status of the closed type is done, 'In Progress' in progress, any other open status to do.
-- completed_at is kept only while the task is closed. The assignee is the first owner (zpuid).
SELECT {{ m.key('zoho_projects', 't.record_id') }} AS task_key,
       'zoho_projects' AS source_system,
       t.record_id AS source_id,
       {{ m.key('zoho_projects', "t.payload#>>'{project,id}'") }} AS project_key,
       {{ m.text("t.payload->>'name'") }} AS name,
       CASE WHEN t.payload#>'{status,is_closed}' = 'true' THEN 'done'
            WHEN reference.normalise(t.payload#>>'{status,name}') = 'in progress' THEN 'in_progress'
            ELSE 'todo'
       END AS status,
       CASE WHEN t.payload#>'{status,is_closed}' = 'true' THEN {{ m.timestamp("t.payload->>'completed_time'") }}
       END AS completed_at,
       {{ m.key('zoho_projects', "t.payload#>>'{owners,0,zpuid}'") }} AS assignee_person_key,
       {{ m.date("t.payload->>'end_date'") }} AS due_date,
       t.cursor_value AS source_updated_at
  FROM {{ m.changed('zoho_projects', 'tasks', full) }} AS t
