{% import 'macros.sql' as m %}
-- Trello has no time tracking: a time entry is a card of the list 'Temps'. Its first member is the
-- person; the board's custom fields give the day ('Date worked', read as a day in Europe/Paris), the
-- duration ('Hours', a number kept exactly, rounded to 2 decimals) and the flag ('Billable').
-- Trello stores nothing for a checkbox never ticked, so a board that defines 'Billable' makes an
-- entry without a value non-billable; a board without the field leaves billable NULL. Values that
-- cannot be read (text in 'Hours', a malformed date) become NULL and the entry still reaches
-- validation; negative or zero hours are kept as they are. Closed (archived) cards stay.
-- The description is the card's description, or its title when it has none. No task is named.
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH field AS MATERIALIZED (
    SELECT record_id AS field_id, payload->>'idModel' AS board_id, reference.normalise(payload->>'name') AS name
      FROM {{ m.current('trello', 'custom_fields') }} AS f
),
list AS MATERIALIZED (
    SELECT record_id AS list_id
      FROM {{ m.current('trello', 'lists') }} AS l
     WHERE reference.normalise(l.payload->>'name') = 'temps'
),
entry AS MATERIALIZED (
    SELECT c.record_id, c.cursor_value, c.payload
      FROM {{ m.changed('trello', 'cards', full) }} AS c
      JOIN list ON list.list_id = c.payload->>'idList'
),
value AS MATERIALIZED (
    SELECT e.record_id,
           max(btrim(item->'value'->>'date')) FILTER (WHERE field.name = 'date worked') AS date_worked,
           max(btrim(item->'value'->>'number')) FILTER (WHERE field.name = 'hours') AS hours,
           bool_or(lower(item->'value'->>'checked') = 'true') FILTER (WHERE field.name = 'billable') AS billable
      FROM entry AS e
     CROSS JOIN LATERAL jsonb_array_elements(
               CASE WHEN jsonb_typeof(e.payload->'customFieldItems') = 'array' THEN e.payload->'customFieldItems' END
           ) AS item
      JOIN field ON field.field_id = item->>'idCustomField'
     GROUP BY e.record_id
),
billable_board AS MATERIALIZED (
    SELECT DISTINCT board_id FROM field WHERE name = 'billable'
)
SELECT {{ m.key('trello', 'e.record_id') }} AS time_entry_key,
       'trello' AS source_system,
       e.record_id AS source_id,
       {{ m.key('trello', "e.payload->>'idBoard'") }} AS project_key,
       NULL::text AS task_key,
       {{ m.key('trello', "e.payload#>>'{idMembers,0}'") }} AS person_key,
       CASE WHEN v.date_worked ~ '^\d{4}-\d{2}-\d{2}$' THEN v.date_worked::date
            WHEN v.date_worked ~ '^\d{4}-\d{2}-\d{2}T'
            THEN (v.date_worked::timestamptz AT TIME ZONE 'Europe/Paris')::date
       END AS entry_date,
       CASE WHEN v.hours ~ '^-?[0-9]{1,7}(\.[0-9]+)?$' THEN round(v.hours::numeric, 2) END AS hours,
       CASE WHEN v.billable IS NOT NULL THEN v.billable
            WHEN bb.board_id IS NOT NULL THEN false
       END AS billable,
       coalesce({{ m.text("e.payload->>'desc'") }}, {{ m.text("e.payload->>'name'") }}) AS description,
       e.cursor_value AS source_updated_at
  FROM entry AS e
  LEFT JOIN value AS v ON v.record_id = e.record_id
  LEFT JOIN billable_board AS bb ON bb.board_id = e.payload->>'idBoard')
