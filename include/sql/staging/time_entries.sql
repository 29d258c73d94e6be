-- staging.time_entries: Time spent: person, day, hours, billable flag (latest version, deletions removed).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/time_entries/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.time_entries;

INSERT INTO staging.time_entries (
    time_entry_key, source_system, source_id, project_key, task_key, person_key, entry_date, hours,
    billable, description, source_updated_at
)
{% include 'staging/time_entries/trello.sql' %}
UNION ALL
{% include 'staging/time_entries/asana.sql' %}
UNION ALL
{% include 'staging/time_entries/jira.sql' %}
UNION ALL
{% include 'staging/time_entries/monday.sql' %}
UNION ALL
{% include 'staging/time_entries/zoho_projects.sql' %}
UNION ALL
{% include 'staging/time_entries/project_for_the_web.sql' %};

ANALYZE staging.time_entries;
