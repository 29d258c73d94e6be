{% import 'macros.sql' as m %}
-- Microsoft Planner tasks, except those of the bucket named 'Jalons' (staging.milestones takes them).
-- Planner knows three states through percentComplete: 100 done (completedDateTime says when), 50 in
-- progress, 0 not started. The assignee is the first of the task's assignments (keys: Entra user ids);
-- due dates are instants (midnight in the plan's time zone), read as the day in Europe/Paris.
(WITH task AS (
    SELECT t.record_id, t.cursor_value, t.payload,
           CASE WHEN t.payload->>'percentComplete' ~ '^[0-9]+$' THEN (t.payload->>'percentComplete')::int END AS progress,
           (SELECT min(k) FROM jsonb_object_keys(CASE WHEN jsonb_typeof(t.payload->'assignments') = 'object'
                                                      THEN t.payload->'assignments' END) AS k) AS assignee_id
      FROM {{ m.changed('planner', 'tasks', full) }} AS t
      LEFT JOIN {{ m.current('planner', 'buckets') }} AS b ON b.record_id = t.payload->>'bucketId'
     WHERE reference.normalise(b.payload->>'name') IS DISTINCT FROM 'jalons'
)
SELECT {{ m.key('planner', 'record_id') }} AS task_key,
       'planner' AS source_system,
       record_id AS source_id,
       {{ m.key('planner', "payload->>'planId'") }} AS project_key,
       {{ m.text("payload->>'title'") }} AS name,
       CASE WHEN progress >= 100 THEN 'done' WHEN progress > 0 THEN 'in_progress' ELSE 'todo' END AS status,
       CASE WHEN progress >= 100 THEN {{ m.timestamp("payload->>'completedDateTime'") }} END AS completed_at,
       {{ m.key('planner', 'assignee_id') }} AS assignee_person_key,
       ({{ m.timestamp("payload->>'dueDateTime'") }} AT TIME ZONE 'Europe/Paris')::date AS due_date,
       cursor_value AS source_updated_at
  FROM task)
