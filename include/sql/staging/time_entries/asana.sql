{% import 'macros.sql' as m %}
-- Asana time tracking entries: duration_minutes on the day entered_on, by created_by, on a task,
-- attributable to a project (else the task's first project). Billable: the entry's billable_status
-- decides when it says 'billable' or 'nonBillable'; 'notApplicable' or no status falls back to the
-- project's 'Billable' custom field (Oui/Non), NULL when neither says. Negative or odd durations are
-- kept for validation; a duration that is not a number becomes NULL hours.
(WITH task_project AS MATERIALIZED (
    SELECT t.record_id AS task_gid, t.payload#>>'{memberships,0,project,gid}' AS project_gid
      FROM {{ m.current('asana', 'tasks') }} AS t
),
project_billable AS MATERIALIZED (
    SELECT DISTINCT ON (p.record_id) p.record_id AS project_gid,
           CASE reference.normalise(coalesce(f#>>'{enum_value,name}', f->>'display_value'))
                WHEN 'oui' THEN true WHEN 'yes' THEN true
                WHEN 'non' THEN false WHEN 'no' THEN false
           END AS billable
      FROM {{ m.current('asana', 'projects') }} AS p
      CROSS JOIN LATERAL jsonb_array_elements(p.payload->'custom_fields') AS f
     WHERE reference.normalise(f->>'name') = 'billable'
     ORDER BY p.record_id
),
entry AS (
    SELECT e.record_id, e.cursor_value, e.payload,
           coalesce(e.payload#>>'{attributable_to,gid}', tp.project_gid) AS project_gid
      FROM {{ m.changed('asana', 'time_entries', full) }} AS e
      LEFT JOIN task_project AS tp ON tp.task_gid = e.payload#>>'{task,gid}'
)
SELECT {{ m.key('asana', 'e.record_id') }} AS time_entry_key,
       'asana' AS source_system,
       e.record_id AS source_id,
       {{ m.key('asana', 'e.project_gid') }} AS project_key,
       {{ m.key('asana', "e.payload#>>'{task,gid}'") }} AS task_key,
       {{ m.key('asana', "e.payload#>>'{created_by,gid}'") }} AS person_key,
       CASE WHEN e.payload->>'entered_on' ~ '^\d{4}-\d{2}-\d{2}$' THEN (e.payload->>'entered_on')::date
       END AS entry_date,
       CASE WHEN e.payload->>'duration_minutes' ~ '^-?[0-9]+(\.[0-9]+)?$'
            THEN round((e.payload->>'duration_minutes')::numeric / 60, 2)
       END AS hours,
       CASE e.payload->>'billable_status'
            WHEN 'billable' THEN true
            WHEN 'nonBillable' THEN false
            ELSE pb.billable
       END AS billable,
       {{ m.text("e.payload->>'description'") }} AS description,
       e.cursor_value AS source_updated_at
  FROM entry AS e
  LEFT JOIN project_billable AS pb ON pb.project_gid = e.project_gid)
