{% import 'macros.sql' as m %}
-- Microsoft Planner milestones: basic plans have no milestone type, so the tasks of the bucket named
-- 'Jalons' are the plan's milestones (as Trello's and monday.com's 'Jalons'). A milestone is reached when
-- its task is complete (percentComplete 100, completedDateTime); dueDateTime is the planned day.
(WITH milestone AS (
    SELECT t.record_id, t.cursor_value, t.payload, t.payload->>'percentComplete' = '100' AS is_completed
      FROM {{ m.changed('planner', 'tasks', full) }} AS t
      JOIN {{ m.current('planner', 'buckets') }} AS b ON b.record_id = t.payload->>'bucketId'
     WHERE reference.normalise(b.payload->>'name') = 'jalons'
)
SELECT {{ m.key('planner', 'record_id') }} AS milestone_key,
       'planner' AS source_system,
       record_id AS source_id,
       {{ m.key('planner', "payload->>'planId'") }} AS project_key,
       {{ m.text("payload->>'title'") }} AS name,
       ({{ m.timestamp("payload->>'dueDateTime'") }} AT TIME ZONE 'Europe/Paris')::date AS due_date,
       CASE WHEN is_completed THEN {{ m.timestamp("payload->>'completedDateTime'") }} END AS completed_at,
       CASE WHEN is_completed THEN 'done' ELSE 'open' END AS status,
       cursor_value AS source_updated_at
  FROM milestone)
