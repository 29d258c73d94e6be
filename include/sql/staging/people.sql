{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.people: Internal people: CRM users/owners and project-tool members (latest version).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/people/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.people;

INSERT INTO staging.people (
    person_key, source_system, source_id, full_name, email, is_active, source_updated_at
)
{% include 'staging/people/salesforce.sql' %}
UNION ALL
{% include 'staging/people/hubspot.sql' %}
UNION ALL
{% include 'staging/people/pipedrive.sql' %}
UNION ALL
{% include 'staging/people/zoho_crm.sql' %}
UNION ALL
{% include 'staging/people/bigin.sql' %}
UNION ALL
{% include 'staging/people/folk.sql' %}
UNION ALL
{% include 'staging/people/dynamics.sql' %}
UNION ALL
{% include 'staging/people/trello.sql' %}
UNION ALL
{% include 'staging/people/asana.sql' %}
UNION ALL
{% include 'staging/people/jira.sql' %}
UNION ALL
{% include 'staging/people/monday.sql' %}
UNION ALL
{% include 'staging/people/zoho_projects.sql' %}
UNION ALL
{% include 'staging/people/planner.sql' %};

ANALYZE staging.people;
{{ build.record_horizon('staging.people') }}
