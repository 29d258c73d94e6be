{% import 'macros.sql' as m %}
-- monday.com boards are the projects. The connector turns an archived board into a tombstone, yet an
-- archived board is closed, not gone: its items and time stay live in raw and belong to it. So this
-- model keeps the latest version of a board whose state is 'archived' (status 'archived') and drops
-- only deleted boards. The CRM link is the text column titled 'Affaire CRM' / 'CRM deal' (id
-- 'crm_deal' in the template) on the board's live items, holding 'salesforce:<Opportunity Id>' /
-- 'hubspot:<deal id>': the most frequent value (on a tie, the latest updated item's), split at its first
-- ':' (no '<system>:' prefix: kept whole in crm_deal_id, crm_system NULL, for validation to flag).
-- Boards carry no dates nor a billable default (billability is per item).
-- CTEs marked MATERIALIZED are computed once: raw.records may have no statistics right after a load,
-- and the planner would otherwise re-run them for every row they are joined to.
(WITH board AS MATERIALIZED (
    SELECT record_id, cursor_value, payload
      FROM {{ m.latest('monday', 'boards') }} AS latest
     WHERE NOT is_deleted OR payload->>'state' = 'archived'
),
crm_column AS MATERIALIZED (
    SELECT b.record_id AS board_id, col->>'id' AS column_id
      FROM board AS b
     CROSS JOIN LATERAL jsonb_array_elements(
               CASE WHEN jsonb_typeof(b.payload->'columns') = 'array' THEN b.payload->'columns' END
           ) AS col
     WHERE col->>'id' = 'crm_deal' OR reference.normalise(col->>'title') IN ('affaire crm', 'crm deal')
),
item_link AS (
    SELECT i.payload#>>'{board,id}' AS board_id, {{ m.text("v->>'text'") }} AS link, i.cursor_value
      FROM {{ m.current('monday', 'items') }} AS i
     CROSS JOIN LATERAL jsonb_array_elements(
               CASE WHEN jsonb_typeof(i.payload->'column_values') = 'array' THEN i.payload->'column_values' END
           ) AS v
      JOIN crm_column ON crm_column.board_id = i.payload#>>'{board,id}' AND crm_column.column_id = v->>'id'
),
board_link AS MATERIALIZED (
    SELECT DISTINCT ON (board_id) board_id, link
      FROM (SELECT board_id, link, count(*) AS items, max(cursor_value) AS latest
              FROM item_link WHERE link IS NOT NULL GROUP BY board_id, link) AS counted
     ORDER BY board_id, items DESC, latest DESC, link
)
SELECT {{ m.key('monday', 'b.record_id') }} AS project_key,
       'monday' AS source_system,
       b.record_id AS source_id,
       {{ m.text("b.payload->>'name'") }} AS name,
       {{ m.text("b.payload->>'description'") }} AS description,
       CASE WHEN l.link ~ '^[A-Za-z_]+\s*:' THEN lower(btrim(split_part(l.link, ':', 1))) END AS crm_system,
       CASE WHEN l.link ~ '^[A-Za-z_]+\s*:' THEN {{ m.text("substr(l.link, strpos(l.link, ':') + 1)") }}
            ELSE l.link
       END AS crm_deal_id,
       CASE WHEN b.payload->>'state' = 'archived' THEN 'archived' ELSE 'active' END AS status,
       NULL::boolean AS billable,
       NULL::date AS start_date,
       NULL::date AS due_date,
       CASE WHEN b.payload->>'created_at' ~ '^\d{4}-\d{2}-\d{2}T' THEN (b.payload->>'created_at')::timestamptz
       END AS source_created_at,
       b.cursor_value AS source_updated_at
  FROM board AS b
  LEFT JOIN board_link AS l ON l.board_id = b.record_id)
