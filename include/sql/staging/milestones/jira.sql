{% import 'macros.sql' as m %}
{% set site_time_zone = 'Europe/Paris' %}
-- Jira Cloud versions as milestones. releaseDate is the planned date; a released version is done,
-- and as Jira keeps only the release day, completed_at is the start of that day in the site's time
-- zone ({{ site_time_zone }}).
(WITH version AS (
    SELECT v.record_id, v.cursor_value, v.payload,
           v.payload->'released' = 'true' AS is_released,
           CASE WHEN v.payload->>'releaseDate' ~ '^\d{4}-\d{2}-\d{2}$' THEN (v.payload->>'releaseDate')::date
           END AS release_date
      FROM {{ m.changed('jira', 'versions', full) }} AS v
)
SELECT {{ m.key('jira', 'record_id') }} AS milestone_key,
       'jira' AS source_system,
       record_id AS source_id,
       {{ m.key('jira', "payload->>'projectId'") }} AS project_key,
       {{ m.text("payload->>'name'") }} AS name,
       release_date AS due_date,
       CASE WHEN is_released THEN release_date::timestamp AT TIME ZONE '{{ site_time_zone }}' END AS completed_at,
       CASE WHEN is_released THEN 'done' ELSE 'open' END AS status,
       cursor_value AS source_updated_at
  FROM version)
