{% import 'macros.sql' as m %}
-- Zoho Projects time logs: total_minutes (else the 'HH:MM' hours text) on the log's date, by its owner
-- (zpuid), on a task (module type 'task') of a project. Billable: bill_status 'Billable' unless the
-- log's approval was rejected (a rejected log is not billed); 'Non Billable' is not billable. A pending
-- approval does not hold the hours back: portals without approvals leave every log pending.
SELECT {{ m.key('zoho_projects', 'e.record_id') }} AS time_entry_key,
       'zoho_projects' AS source_system,
       e.record_id AS source_id,
       {{ m.key('zoho_projects', "e.payload#>>'{project,id}'") }} AS project_key,
       CASE WHEN e.payload#>>'{module,type}' = 'task'
            THEN {{ m.key('zoho_projects', "e.payload#>>'{module,id}'") }} END AS task_key,
       {{ m.key('zoho_projects', "e.payload#>>'{owner,zpuid}'") }} AS person_key,
       {{ m.date("e.payload->>'date'") }} AS entry_date,
       CASE WHEN e.payload->>'total_minutes' ~ '^-?[0-9]+(\.[0-9]+)?$'
                THEN round((e.payload->>'total_minutes')::numeric / 60, 2)
            WHEN e.payload->>'hours' ~ '^[0-9]{1,4}:[0-5][0-9]$'
                THEN round(split_part(e.payload->>'hours', ':', 1)::numeric
                           + split_part(e.payload->>'hours', ':', 2)::numeric / 60, 2)
       END AS hours,
       CASE WHEN e.payload->>'approval_status' = 'Rejected' THEN false
            WHEN e.payload->>'bill_status' = 'Billable' THEN true
            WHEN e.payload->>'bill_status' = 'Non Billable' THEN false
       END AS billable,
       {{ m.text("e.payload->>'notes'") }} AS description,
       e.cursor_value AS source_updated_at
  FROM {{ m.changed('zoho_projects', 'timelogs', full) }} AS e
