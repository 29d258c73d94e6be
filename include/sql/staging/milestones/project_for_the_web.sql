{% import 'macros.sql' as m %}
-- Project for the web milestones: msdyn_projecttask rows with msdyn_ismilestone. Reached at progress 1,
-- at the modification time of the first version at 1 after the last below (Dataverse keeps no completion
-- time; raw keeps every version); msdyn_finish is the planned day.
(WITH milestone AS (
    SELECT t.record_id, t.cursor_value, t.payload,
           {{ m.number("t.payload->>'msdyn_progress'") }} >= 1 AS is_completed
      FROM {{ m.changed('project_for_the_web', 'msdyn_projecttasks', full) }} AS t
     WHERE t.payload->>'msdyn_ismilestone' = 'true'
)
SELECT {{ m.key('project_for_the_web', 'record_id') }} AS milestone_key,
       'project_for_the_web' AS source_system,
       record_id AS source_id,
       {{ m.key('project_for_the_web', "payload->>'_msdyn_project_value'") }} AS project_key,
       {{ m.text("payload->>'msdyn_subject'") }} AS name,
       {{ m.date("payload->>'msdyn_finish'") }} AS due_date,
       CASE WHEN is_completed THEN (
           SELECT min(v.cursor_value) FROM raw.records AS v
            WHERE v.source = 'project_for_the_web' AND v.stream = 'msdyn_projecttasks'
              AND v.record_id = milestone.record_id AND NOT v.is_deleted
              AND {{ m.number("v.payload->>'msdyn_progress'") }} >= 1
              AND v.cursor_value > coalesce((
                  SELECT max(b.cursor_value) FROM raw.records AS b
                   WHERE b.source = 'project_for_the_web' AND b.stream = 'msdyn_projecttasks'
                     AND b.record_id = milestone.record_id AND NOT b.is_deleted
                     AND coalesce({{ m.number("b.payload->>'msdyn_progress'") }}, 0) < 1), '-infinity'))
       END AS completed_at,
       CASE WHEN is_completed THEN 'done' ELSE 'open' END AS status,
       cursor_value AS source_updated_at
  FROM milestone)
