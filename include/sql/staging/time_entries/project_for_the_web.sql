{% import 'macros.sql' as m %}
-- Project Operations time entries (Dataverse msdyn_timeentry): msdyn_duration minutes of work on the day
-- msdyn_date (a date-only column), entered by the record's owner, a user of the same Dataverse org (its
-- person is the Dynamics 365 systemuser: 'dynamics:<systemuserid>'). Only work is kept (msdyn_type
-- 192350000; absence and vacation are not delivery) and cancelled entries (msdyn_entrystatus 192350004)
-- are left out. Billability is decided in Project Operations on the actuals, not on the entry: billable
-- stays NULL for the billing rules to decide.
SELECT {{ m.key('project_for_the_web', 'e.record_id') }} AS time_entry_key,
       'project_for_the_web' AS source_system,
       e.record_id AS source_id,
       {{ m.key('project_for_the_web', "e.payload->>'_msdyn_project_value'") }} AS project_key,
       {{ m.key('project_for_the_web', "e.payload->>'_msdyn_projecttask_value'") }} AS task_key,
       {{ m.key('dynamics', "e.payload->>'_ownerid_value'") }} AS person_key,
       {{ m.date("e.payload->>'msdyn_date'") }} AS entry_date,
       round({{ m.number("e.payload->>'msdyn_duration'") }} / 60, 2) AS hours,
       NULL::boolean AS billable,
       coalesce({{ m.text("e.payload->>'msdyn_externaldescription'") }}, {{ m.text("e.payload->>'msdyn_description'") }})
           AS description,
       e.cursor_value AS source_updated_at
  FROM {{ m.changed('project_for_the_web', 'msdyn_timeentries', full) }} AS e
 WHERE coalesce(e.payload->>'msdyn_type', '192350000') = '192350000'
   AND e.payload->>'msdyn_entrystatus' IS DISTINCT FROM '192350004'
