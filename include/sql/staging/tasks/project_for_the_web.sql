{% import 'macros.sql' as m %}
-- Project for the web tasks (Dataverse msdyn_projecttask), milestones excepted (staging.milestones takes
-- msdyn_ismilestone). msdyn_progress is a fraction: 1 done, above 0 in progress. Dataverse keeps no
-- completion time, but raw keeps every version: a task was completed at the modification time of its
-- first version at progress 1 after its last version below 1 (so a reopened task loses it). Resource
-- assignments are another table: the assignee stays NULL.
(WITH task AS (
    SELECT t.record_id, t.cursor_value, t.payload,
           {{ m.number("t.payload->>'msdyn_progress'") }} AS progress
      FROM {{ m.changed('project_for_the_web', 'msdyn_projecttasks', full) }} AS t
     WHERE t.payload->>'msdyn_ismilestone' IS DISTINCT FROM 'true'
)
SELECT {{ m.key('project_for_the_web', 'record_id') }} AS task_key,
       'project_for_the_web' AS source_system,
       record_id AS source_id,
       {{ m.key('project_for_the_web', "payload->>'_msdyn_project_value'") }} AS project_key,
       {{ m.text("payload->>'msdyn_subject'") }} AS name,
       CASE WHEN progress >= 1 THEN 'done' WHEN progress > 0 THEN 'in_progress' ELSE 'todo' END AS status,
       CASE WHEN progress >= 1 THEN (
           SELECT min(v.cursor_value) FROM raw.records AS v
            WHERE v.source = 'project_for_the_web' AND v.stream = 'msdyn_projecttasks' AND v.record_id = task.record_id
              AND NOT v.is_deleted AND {{ m.number("v.payload->>'msdyn_progress'") }} >= 1
              AND v.cursor_value > coalesce((
                  SELECT max(b.cursor_value) FROM raw.records AS b
                   WHERE b.source = 'project_for_the_web' AND b.stream = 'msdyn_projecttasks'
                     AND b.record_id = task.record_id AND NOT b.is_deleted
                     AND coalesce({{ m.number("b.payload->>'msdyn_progress'") }}, 0) < 1), '-infinity'))
       END AS completed_at,
       NULL::text AS assignee_person_key,
       {{ m.date("payload->>'msdyn_finish'") }} AS due_date,
       cursor_value AS source_updated_at
  FROM task)
