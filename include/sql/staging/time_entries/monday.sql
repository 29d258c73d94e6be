{% import 'macros.sql' as m %}
-- monday.com time entries are the time-tracking sessions (one raw record per session of an item's
-- time-tracking column). The person is the user who started the session; entry_date is the day the
-- session started in Europe/Paris (the connector's 'date' is the UTC day, used only when started_at is
-- missing); hours = duration in seconds / 3600 rounded to 2 decimals (end - start when the connector
-- gave no duration; NULL for a running session). monday has no billable flag: the item's checkbox
-- column titled 'Facturable' / 'Billable' (id 'billable') marks all its sessions billable, read from
-- the item's current version and board columns (else the copy the connector put on the session);
-- NULL when the board has no such column. The task is the item, unless the item is a milestone; the
-- description is the item's name. Sessions of a deleted or archived item are tombstones: gone.
-- Teams that do not use the tracker log hours by hand in a numbers column titled 'Heures' / 'Hours' (id
-- 'hours'): an item with such a value and no tracked session is one entry (key 'monday:hours:<item id>'),
-- hours read from the column's text (the digits as typed; monday's Float 'number' is not exact) rounded
-- to 2 decimals, NULL beyond seven integer digits or when not a plain number (for validation to flag);
-- the person is the item's first person, the date the item's creation day in Europe/Paris.
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH session AS (
    SELECT record_id, cursor_value, payload
      FROM {{ m.current('monday', 'time_tracking') }} AS s
),
hours_column AS MATERIALIZED (
    SELECT board_id, column_id
      FROM {{ m.monday_board_columns() }} AS col  -- archived boards too
     WHERE column_type = 'numbers'
       AND (column_id = 'hours' OR title IN ('heures', 'hours'))
),
billable_column AS MATERIALIZED (
    SELECT board_id, column_id
      FROM {{ m.monday_board_columns() }} AS col  -- archived boards too
     WHERE column_type = 'checkbox'
       AND (column_id IN ('billable', 'facturable')
         OR title IN ('facturable', 'billable'))
),
item AS MATERIALIZED (
    SELECT i.record_id, i.cursor_value,
           reference.normalise(coalesce(g.payload->>'title', i.payload#>>'{group,title}')) IN ('jalons', 'milestones')
               AS is_milestone,
           (SELECT bool_or(v->'checked' = 'true')
              FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(i.payload->'column_values') = 'array' THEN i.payload->'column_values' END
                   ) AS v
              JOIN billable_column AS bc ON bc.board_id = i.payload#>>'{board,id}' AND bc.column_id = v->>'id'
             WHERE v->>'type' = 'checkbox') AS billable,
           (SELECT btrim(v->>'text') FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(i.payload->'column_values') = 'array' THEN i.payload->'column_values' END
                   ) AS v
              JOIN hours_column AS hc ON hc.board_id = i.payload#>>'{board,id}' AND hc.column_id = v->>'id'
             WHERE v->>'type' = 'numbers' AND {{ m.text("v->>'text'") }} IS NOT NULL
             ORDER BY v->>'id' = 'hours' DESC, v->>'id' LIMIT 1) AS hours_text
      FROM {{ m.current('monday', 'items') }} AS i
      LEFT JOIN {{ m.current('monday', 'groups') }} AS g
        ON g.record_id = (i.payload#>>'{board,id}') || ':' || (i.payload#>>'{group,id}')
),
timed AS (
    SELECT s.*,
           CASE WHEN s.payload->>'started_at' ~ '^\d{4}-\d{2}-\d{2}T' THEN (s.payload->>'started_at')::timestamptz
           END AS started_at,
           CASE WHEN s.payload->>'ended_at' ~ '^\d{4}-\d{2}-\d{2}T' THEN (s.payload->>'ended_at')::timestamptz
           END AS ended_at,
           CASE WHEN s.payload->>'duration_seconds' ~ '^-?[0-9]{1,11}$' THEN (s.payload->>'duration_seconds')::numeric
           END AS seconds
      FROM session AS s
)
SELECT {{ m.key('monday', 't.record_id') }} AS time_entry_key,
       'monday' AS source_system,
       t.record_id AS source_id,
       {{ m.key('monday', "t.payload->>'board_id'") }} AS project_key,
       CASE WHEN item.is_milestone IS NOT TRUE THEN {{ m.key('monday', "t.payload->>'item_id'") }} END AS task_key,
       {{ m.key('monday', "t.payload->>'person_id'") }} AS person_key,
       coalesce((t.started_at AT TIME ZONE 'Europe/Paris')::date,
                {{ m.date("t.payload->>'date'") }}) AS entry_date,
       round(coalesce(t.seconds, extract(epoch FROM t.ended_at - t.started_at)) / 3600, 2) AS hours,
       coalesce(item.billable,
                CASE t.payload->>'billable' WHEN 'true' THEN true WHEN 'false' THEN false END) AS billable,
       {{ m.text("t.payload->>'item_name'") }} AS description,
       t.cursor_value AS source_updated_at
  FROM timed AS t
  LEFT JOIN item ON item.record_id = t.payload->>'item_id'
UNION ALL
SELECT {{ m.key('monday', "'hours:' || i.record_id") }} AS time_entry_key,
       'monday' AS source_system,
       i.record_id AS source_id,
       {{ m.key('monday', "i.payload#>>'{board,id}'") }} AS project_key,
       CASE WHEN item.is_milestone IS NOT TRUE THEN {{ m.key('monday', 'i.record_id') }} END AS task_key,
       {{ m.key('monday', 'person.id') }} AS person_key,
       CASE WHEN i.payload->>'created_at' ~ '^\d{4}-\d{2}-\d{2}T'
            THEN ((i.payload->>'created_at')::timestamptz AT TIME ZONE 'Europe/Paris')::date
       END AS entry_date,
       CASE WHEN item.hours_text ~ '^-?[0-9]{1,7}(\.[0-9]+)?$' THEN round(item.hours_text::numeric, 2) END AS hours,
       item.billable,
       {{ m.text("i.payload->>'name'") }} AS description,
       i.cursor_value AS source_updated_at
  FROM item
  JOIN raw.records AS i  -- the item's current version, by its key: only items with logged hours
    ON i.source = 'monday' AND i.stream = 'items' AND i.record_id = item.record_id
   AND i.cursor_value = item.cursor_value AND NOT i.is_deleted
  LEFT JOIN LATERAL (
        SELECT p->>'id' AS id
          FROM jsonb_array_elements(
                   CASE WHEN jsonb_typeof(i.payload->'column_values') = 'array' THEN i.payload->'column_values' END
               ) AS v
         CROSS JOIN LATERAL jsonb_array_elements(
                   CASE WHEN jsonb_typeof(v->'persons_and_teams') = 'array' THEN v->'persons_and_teams' END
               ) WITH ORDINALITY AS person(p, position)
         WHERE v->>'type' = 'people' AND p->>'kind' IS DISTINCT FROM 'team'
         ORDER BY v->>'id' = 'person' DESC, v->>'id', person.position LIMIT 1
       ) AS person ON true
 WHERE item.hours_text IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM session AS s WHERE s.payload->>'item_id' = item.record_id))