-- staging.tasks: Tasks/issues/cards/items of the projects, with status and completion.
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/tasks/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.tasks;

INSERT INTO staging.tasks (
    task_key, source_system, source_id, project_key, name, status, completed_at,
    assignee_person_key, due_date, source_updated_at
)
{% include 'staging/tasks/trello.sql' %}
UNION ALL
{% include 'staging/tasks/asana.sql' %}
UNION ALL
{% include 'staging/tasks/jira.sql' %}
UNION ALL
{% include 'staging/tasks/monday.sql' %}
UNION ALL
{% include 'staging/tasks/zoho_projects.sql' %}
UNION ALL
{% include 'staging/tasks/planner.sql' %}
UNION ALL
{% include 'staging/tasks/project_for_the_web.sql' %};

ANALYZE staging.tasks;
