{% import 'macros.sql' as m %}
{% set site_time_zone = 'Europe/Paris' %}
-- Jira Cloud worklogs: timeSpentSeconds by author on an issue; the project is the issue's (NULL
-- while the issue is not in raw or was deleted): its deal epic's when it is under one, and time logged on
-- the deal epic itself is the project's, with no task. started carries its offset (…+0100); the day
-- worked is its date in the site's time zone ({{ site_time_zone }}), not in UTC. Billable is the
-- worklog property passerelle.billing = {"billable": true|false}; without it the tool does not say
-- and billable stays NULL. The comment is Atlassian Document Format: its text nodes, one line per
-- top-level block. Negative or odd durations are kept for validation; a duration of more than 11
-- digits of seconds (which hours NUMERIC(10,2) cannot hold) is staged NULL instead of failing the model.
(WITH issue_project AS MATERIALIZED {{ m.jira_issue_projects() }},
worklog AS (
    SELECT w.record_id, w.cursor_value, w.payload,
           CASE jsonb_typeof(w.payload->'properties')
                WHEN 'array' THEN (SELECT p->'value' FROM jsonb_array_elements(w.payload->'properties') AS p
                                    WHERE p->>'key' = 'passerelle.billing' LIMIT 1)
                WHEN 'object' THEN w.payload#>'{properties,passerelle.billing}'
           END AS billing,
           CASE jsonb_typeof(w.payload->'comment')
                WHEN 'string' THEN w.payload->>'comment'
                WHEN 'object' THEN (
                    SELECT string_agg(block_text.line, E'\n' ORDER BY b.block_no)
                      FROM jsonb_array_elements(w.payload#>'{comment,content}') WITH ORDINALITY AS b(block, block_no)
                     CROSS JOIN LATERAL (
                           SELECT string_agg(t.node #>> '{}', '' ORDER BY t.node_no) AS line
                             FROM jsonb_path_query(b.block, 'strict $.** ? (@.type == "text").text', '{}', true)
                                  WITH ORDINALITY AS t(node, node_no)) AS block_text)
           END AS comment_text
      FROM {{ m.changed('jira', 'worklogs', full) }} AS w
)
SELECT {{ m.key('jira', 'w.record_id') }} AS time_entry_key,
       'jira' AS source_system,
       w.record_id AS source_id,
       ip.project_key,
       CASE WHEN NOT coalesce(ip.is_deal_epic, false) THEN {{ m.key('jira', "w.payload->>'issueId'") }} END AS task_key,
       {{ m.key('jira', "w.payload#>>'{author,accountId}'") }} AS person_key,
       CASE WHEN w.payload->>'started' ~ '^\d{4}-\d{2}-\d{2}T'
            THEN ((w.payload->>'started')::timestamptz AT TIME ZONE '{{ site_time_zone }}')::date
       END AS entry_date,
       CASE WHEN w.payload->>'timeSpentSeconds' ~ '^-?[0-9]{1,11}(\.[0-9]+)?$'  -- beyond: implausible, NULL
            THEN round((w.payload->>'timeSpentSeconds')::numeric / 3600, 2)
       END AS hours,
       CASE lower(w.billing->>'billable') WHEN 'true' THEN true WHEN 'false' THEN false END AS billable,
       {{ m.text('w.comment_text') }} AS description,
       w.cursor_value AS source_updated_at
  FROM worklog AS w
  LEFT JOIN issue_project AS ip ON ip.issue_id = w.payload->>'issueId')
