{% import 'macros.sql' as m %}
-- Jira Cloud issues, each in its deal epic's project when it is under one (a deal epic is a project, not a
-- task: it is left out). The status category decides the status (new → todo, indeterminate →
-- in_progress, done → done; any other category is left NULL for validation). completed_at is the
-- resolution date of a done issue: Jira writes 2026-02-10T09:15:23.000+0100, an offset Postgres
-- reads as such. Workflows that leave a resolution on reopened issues give no completion time.
(WITH issue AS (
    SELECT i.record_id, i.cursor_value, i.payload->'fields' AS f,
           CASE coalesce(i.payload#>>'{fields,status,statusCategory,key}',
                         i.payload#>>'{fields,statusCategory,key}')
                WHEN 'new' THEN 'todo'
                WHEN 'indeterminate' THEN 'in_progress'
                WHEN 'done' THEN 'done'
           END AS status
      FROM {{ m.current('jira', 'issues') }} AS i
),
issue_project AS MATERIALIZED {{ m.jira_issue_projects() }}
SELECT {{ m.key('jira', 'record_id') }} AS task_key,
       'jira' AS source_system,
       record_id AS source_id,
       ip.project_key,
       {{ m.text("f->>'summary'") }} AS name,
       status,
       CASE WHEN status = 'done' AND f->>'resolutiondate' ~ '^\d{4}-\d{2}-\d{2}T'
            THEN (f->>'resolutiondate')::timestamptz
       END AS completed_at,
       {{ m.key('jira', "f#>>'{assignee,accountId}'") }} AS assignee_person_key,
       CASE WHEN f->>'duedate' ~ '^\d{4}-\d{2}-\d{2}$' THEN (f->>'duedate')::date END AS due_date,
       cursor_value AS source_updated_at
  FROM issue
  JOIN issue_project AS ip ON ip.issue_id = issue.record_id
 WHERE NOT ip.is_deal_epic)
