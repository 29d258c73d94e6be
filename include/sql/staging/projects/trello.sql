{% import 'macros.sql' as m %}
-- Trello boards are the projects: a closed board is archived (Trello never says a board is completed).
-- The CRM link is the text custom field 'CRM deal' ('salesforce:<Opportunity Id>' / 'hubspot:<deal id>').
-- Trello custom fields live on cards, so the board's link is the value its live cards carry (closed
-- cards included): the most frequent one (on a tie, the most recently active card's). It is split at its
-- first ':' into crm_system (lower case) and crm_deal_id; a value without a '<system>:' prefix is
-- kept whole in crm_deal_id with crm_system NULL, for validation to flag. Boards carry no start or due
-- date nor a billable default; their creation time is the one stamped in their ObjectId.
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH board AS (
    SELECT record_id, cursor_value, payload FROM {{ m.changed('trello', 'boards', full) }} AS b
),
crm_field AS MATERIALIZED (
    SELECT record_id AS field_id
      FROM {{ m.current('trello', 'custom_fields') }} AS f
     WHERE reference.normalise(f.payload->>'name') = 'crm deal'
),
card_link AS (
    SELECT c.payload->>'idBoard' AS board_id, {{ m.text("item->'value'->>'text'") }} AS link, c.cursor_value
      FROM {{ m.current('trello', 'cards') }} AS c
     CROSS JOIN LATERAL jsonb_array_elements(
               CASE WHEN jsonb_typeof(c.payload->'customFieldItems') = 'array' THEN c.payload->'customFieldItems' END
           ) AS item
      JOIN crm_field ON crm_field.field_id = item->>'idCustomField'
),
board_link AS MATERIALIZED (
    SELECT DISTINCT ON (board_id) board_id, link
      FROM (SELECT board_id, link, count(*) AS cards, max(cursor_value) AS latest
              FROM card_link WHERE link IS NOT NULL GROUP BY board_id, link) AS counted
     ORDER BY board_id, cards DESC, latest DESC, link
)
SELECT {{ m.key('trello', 'b.record_id') }} AS project_key,
       'trello' AS source_system,
       b.record_id AS source_id,
       {{ m.text("b.payload->>'name'") }} AS name,
       {{ m.text("b.payload->>'desc'") }} AS description,
       CASE WHEN l.link ~ '^[A-Za-z_]+\s*:' THEN lower(btrim(split_part(l.link, ':', 1))) END AS crm_system,
       CASE WHEN l.link ~ '^[A-Za-z_]+\s*:' THEN {{ m.text("substr(l.link, strpos(l.link, ':') + 1)") }}
            ELSE l.link
       END AS crm_deal_id,
       CASE WHEN b.payload->'closed' = 'true' THEN 'archived' ELSE 'active' END AS status,
       NULL::boolean AS billable,
       NULL::date AS start_date,
       NULL::date AS due_date,
       CASE WHEN b.record_id ~ '^[0-9a-f]{24}$'
            THEN to_timestamp(('x' || left(b.record_id, 8))::bit(32)::bigint)
       END AS source_created_at,
       b.cursor_value AS source_updated_at
  FROM board AS b
  LEFT JOIN board_link AS l ON l.board_id = b.record_id)
