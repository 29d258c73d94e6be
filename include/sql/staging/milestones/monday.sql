{% import 'macros.sql' as m %}
-- monday.com milestones are the items of the group titled 'Jalons' / 'Milestones' (current group title
-- from the groups stream, else the one the item carries); archived and deleted items are tombstones,
-- so they are gone. A milestone is done when its status is one monday marks done (is_done); it is then
-- reached on its 'Date de fin' column (id 'date_done' in the template) at midnight Europe/Paris, or at
-- the item's last update when that date is empty. The template has no planned-date column: due_date
-- stays NULL.
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH item AS MATERIALIZED (
    SELECT i.record_id, i.cursor_value, i.payload, i.payload#>>'{board,id}' AS board_id,
           CASE WHEN jsonb_typeof(i.payload->'column_values') = 'array' THEN i.payload->'column_values' END AS columns
      FROM {{ m.current('monday', 'items') }} AS i
      LEFT JOIN {{ m.current('monday', 'groups') }} AS g
        ON g.record_id = (i.payload#>>'{board,id}') || ':' || (i.payload#>>'{group,id}')
     WHERE reference.normalise(coalesce(g.payload->>'title', i.payload#>>'{group,title}')) IN ('jalons', 'milestones')
),
board_column AS MATERIALIZED (
    SELECT board_id, column_id
      FROM {{ m.monday_board_columns() }} AS col  -- archived boards too
     WHERE column_type = 'date'
       AND (column_id = 'date_done' OR title IN ('date de fin', 'date done'))
),
milestone AS (
    SELECT item.*,
           coalesce((SELECT v->'is_done' = 'true' FROM jsonb_array_elements(item.columns) AS v
                      WHERE v->>'type' = 'status' ORDER BY v->>'id' = 'status' DESC, v->>'id' LIMIT 1),
                    false) AS is_done,
           (SELECT v->>'date' FROM jsonb_array_elements(item.columns) AS v
              JOIN board_column AS bc ON bc.board_id = item.board_id AND bc.column_id = v->>'id'
             WHERE v->>'date' ~ '^\d{4}-\d{2}-\d{2}$' ORDER BY v->>'id' LIMIT 1) AS date_done
      FROM item
)
SELECT {{ m.key('monday', 'record_id') }} AS milestone_key,
       'monday' AS source_system,
       record_id AS source_id,
       {{ m.key('monday', 'board_id') }} AS project_key,
       {{ m.text("payload->>'name'") }} AS name,
       NULL::date AS due_date,
       CASE WHEN is_done THEN coalesce(date_done::date::timestamp AT TIME ZONE 'Europe/Paris', cursor_value)
       END AS completed_at,
       CASE WHEN is_done THEN 'done' ELSE 'open' END AS status,
       cursor_value AS source_updated_at
  FROM milestone)
