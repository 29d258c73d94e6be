{% import 'macros.sql' as m %}
-- monday.com items are tasks, except the items of the group titled 'Jalons' / 'Milestones' (current
-- group title from the groups stream, else the one the item carries). Archived and deleted items are
-- tombstones, so they are gone. Status column: a status monday marks done (is_done) is done, the label
-- 'En cours' / 'Working on it' in progress, anything else (or no status) to do. completed_at, for a done
-- item only, is its 'Date de fin' column (id 'date_done' in the template) at midnight Europe/Paris, or
-- the item's last update when that date is empty. The assignee is the first person of the people
-- column. The template has no due-date column: due_date stays NULL.
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH item AS MATERIALIZED (
    SELECT i.record_id, i.cursor_value, i.payload, i.payload#>>'{board,id}' AS board_id,
           reference.normalise(coalesce(g.payload->>'title', i.payload#>>'{group,title}')) AS group_title,
           CASE WHEN jsonb_typeof(i.payload->'column_values') = 'array' THEN i.payload->'column_values' END AS columns
      FROM {{ m.current('monday', 'items') }} AS i
      LEFT JOIN {{ m.current('monday', 'groups') }} AS g
        ON g.record_id = (i.payload#>>'{board,id}') || ':' || (i.payload#>>'{group,id}')
),
board_column AS MATERIALIZED (
    SELECT board_id, column_id
      FROM {{ m.monday_board_columns() }} AS col  -- archived boards too
     WHERE column_type = 'date'
       AND (column_id = 'date_done' OR title IN ('date de fin', 'date done'))
),
task AS (
    SELECT item.record_id, item.cursor_value, item.payload, item.board_id,
           (SELECT v FROM jsonb_array_elements(item.columns) AS v
             WHERE v->>'type' = 'status' ORDER BY v->>'id' = 'status' DESC, v->>'id' LIMIT 1) AS status,
           (SELECT p->>'id' FROM jsonb_array_elements(item.columns) AS v
                   CROSS JOIN LATERAL jsonb_array_elements(
                         CASE WHEN jsonb_typeof(v->'persons_and_teams') = 'array' THEN v->'persons_and_teams' END
                   ) WITH ORDINALITY AS person(p, position)
             WHERE v->>'type' = 'people' AND p->>'kind' IS DISTINCT FROM 'team'
             ORDER BY v->>'id' = 'person' DESC, v->>'id', person.position LIMIT 1) AS person_id,
           (SELECT v->>'date' FROM jsonb_array_elements(item.columns) AS v
              JOIN board_column AS bc ON bc.board_id = item.board_id AND bc.column_id = v->>'id'
             WHERE v->>'date' ~ '^\d{4}-\d{2}-\d{2}$' ORDER BY v->>'id' LIMIT 1) AS date_done
      FROM item
     WHERE item.group_title IS NULL OR item.group_title NOT IN ('jalons', 'milestones')
),
classified AS (
    SELECT task.*,
           CASE WHEN status->'is_done' = 'true' THEN 'done'
                WHEN reference.normalise(status->>'label') IN ('en cours', 'working on it') THEN 'in_progress'
                ELSE 'todo'
           END AS task_status
      FROM task
)
SELECT {{ m.key('monday', 'record_id') }} AS task_key,
       'monday' AS source_system,
       record_id AS source_id,
       {{ m.key('monday', 'board_id') }} AS project_key,
       {{ m.text("payload->>'name'") }} AS name,
       task_status AS status,
       CASE WHEN task_status = 'done'
            THEN coalesce(date_done::date::timestamp AT TIME ZONE 'Europe/Paris', cursor_value)
       END AS completed_at,
       {{ m.key('monday', 'person_id') }} AS assignee_person_key,
       NULL::date AS due_date,
       cursor_value AS source_updated_at
  FROM classified)
