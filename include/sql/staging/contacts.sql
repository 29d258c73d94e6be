{% import 'macros.sql' as build %}{{ build.build_start() }}
-- staging.contacts: People at customers (latest version, deletions removed).
-- Rebuilt from raw in one transaction (readers see the old rows until commit). One SELECT per source
-- system in staging/contacts/<source>.sql, each returning exactly these columns in this order.
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
DELETE FROM staging.contacts;

INSERT INTO staging.contacts (
    contact_key, source_system, source_id, customer_key, first_name, last_name, email, phone,
    job_title, source_updated_at
)
{% include 'staging/contacts/salesforce.sql' %}
UNION ALL
{% include 'staging/contacts/hubspot.sql' %}
UNION ALL
{% include 'staging/contacts/pipedrive.sql' %}
UNION ALL
{% include 'staging/contacts/zoho_crm.sql' %}
UNION ALL
{% include 'staging/contacts/bigin.sql' %}
UNION ALL
{% include 'staging/contacts/folk.sql' %}
UNION ALL
{% include 'staging/contacts/dynamics.sql' %};

ANALYZE staging.contacts;
{{ build.record_horizon('staging.contacts') }}
