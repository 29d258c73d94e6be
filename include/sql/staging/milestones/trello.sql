{% import 'macros.sql' as m %}
-- Trello milestones are the cards of the list 'Jalons' (labelled 'Jalon'; the list decides). The
-- planned date is the day of 'due' in Europe/Paris; a milestone is done when its due date is marked
-- complete ('dueComplete'), and completed_at is then the newest updateCard action setting dueComplete
-- (falling back to the card's last activity). Closed cards are archived, not deleted, so they stay.
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH list AS MATERIALIZED (
    SELECT record_id AS list_id
      FROM {{ m.current('trello', 'lists') }} AS l
     WHERE reference.normalise(l.payload->>'name') = 'jalons'
),
card AS (
    SELECT c.record_id, c.cursor_value, c.payload, c.payload->'dueComplete' = 'true' AS is_done
      FROM {{ m.changed('trello', 'cards', full) }} AS c
      JOIN list ON list.list_id = c.payload->>'idList'
),
completion AS MATERIALIZED (
    SELECT a.payload#>>'{data,card,id}' AS card_id, max(a.cursor_value) AS completed_at
      FROM raw.records AS a
     WHERE a.source = 'trello' AND a.stream = 'actions' AND NOT a.is_deleted
       AND a.payload->>'type' = 'updateCard' AND a.payload#>'{data,card,dueComplete}' = 'true'
     GROUP BY 1
)
SELECT {{ m.key('trello', 'c.record_id') }} AS milestone_key,
       'trello' AS source_system,
       c.record_id AS source_id,
       {{ m.key('trello', "c.payload->>'idBoard'") }} AS project_key,
       {{ m.text("c.payload->>'name'") }} AS name,
       CASE WHEN c.payload->>'due' ~ '^\d{4}-\d{2}-\d{2}T'
            THEN ((c.payload->>'due')::timestamptz AT TIME ZONE 'Europe/Paris')::date
       END AS due_date,
       CASE WHEN c.is_done THEN coalesce(completion.completed_at, c.cursor_value) END AS completed_at,
       CASE WHEN c.is_done THEN 'done' ELSE 'open' END AS status,
       c.cursor_value AS source_updated_at
  FROM card AS c
  LEFT JOIN completion ON completion.card_id = c.record_id)
