{% import 'macros.sql' as m %}
-- Trello cards are tasks, except the cards of the lists 'Jalons' (milestones) and 'Temps' (time
-- entries). Closed cards are archived, not deleted, so they stay. Status is the card's list: 'Terminé'
-- done, 'En cours' in progress, 'À faire' or any other list to do (list names compared normalised).
-- completed_at, for a card in 'Terminé' only, is the date of the newest action that put the card in
-- that list (updateCard moving it there, or createCard/copyCard/... creating it there); without such
-- an action in raw it falls back to the card's last activity. The assignee is the card's first member;
-- the due date is the day of 'due' in Europe/Paris. Actions are immutable and never tombstoned, so
-- they are read from raw.records directly (filtered by type before any sort).
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH list AS MATERIALIZED (
    SELECT record_id AS list_id, reference.normalise(payload->>'name') AS list_name
      FROM {{ m.current('trello', 'lists') }} AS l
),
card AS (
    SELECT c.record_id, c.cursor_value, c.payload, list.list_name
      FROM {{ m.changed('trello', 'cards', full) }} AS c
      LEFT JOIN list ON list.list_id = c.payload->>'idList'
     WHERE list.list_name IS NULL OR list.list_name NOT IN ('jalons', 'temps')
),
landing AS MATERIALIZED (
    SELECT a.payload#>>'{data,card,id}' AS card_id,
           CASE WHEN a.payload->>'type' = 'updateCard' THEN a.payload#>>'{data,listAfter,id}'
                ELSE a.payload#>>'{data,list,id}'
           END AS list_id,
           max(a.cursor_value) AS landed_at
      FROM raw.records AS a
     WHERE a.source = 'trello' AND a.stream = 'actions' AND NOT a.is_deleted
       AND a.payload->>'type' IN ('updateCard', 'createCard', 'copyCard', 'moveCardToBoard',
                                  'convertToCardFromCheckItem')
     GROUP BY 1, 2
)
SELECT {{ m.key('trello', 'c.record_id') }} AS task_key,
       'trello' AS source_system,
       c.record_id AS source_id,
       {{ m.key('trello', "c.payload->>'idBoard'") }} AS project_key,
       {{ m.text("c.payload->>'name'") }} AS name,
       CASE c.list_name WHEN 'termine' THEN 'done' WHEN 'en cours' THEN 'in_progress' ELSE 'todo' END AS status,
       CASE WHEN c.list_name = 'termine' THEN coalesce(landing.landed_at, c.cursor_value) END AS completed_at,
       {{ m.key('trello', "c.payload#>>'{idMembers,0}'") }} AS assignee_person_key,
       CASE WHEN c.payload->>'due' ~ '^\d{4}-\d{2}-\d{2}T'
            THEN ((c.payload->>'due')::timestamptz AT TIME ZONE 'Europe/Paris')::date
       END AS due_date,
       c.cursor_value AS source_updated_at
  FROM card AS c
  LEFT JOIN landing ON landing.card_id = c.record_id AND landing.list_id = c.payload->>'idList')
