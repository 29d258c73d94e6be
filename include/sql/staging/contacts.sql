{% import 'macros.sql' as build %}{{ build.build_start() }}
{% import 'macros.sql' as m %}
-- staging.contacts: People at customers (latest version, deletions removed).
-- Incremental, in one transaction (readers see the old rows until commit): only the rows of the records
-- that loads after the model's watermarks touched are deleted and rebuilt (see the macros in macros.sql;
-- params.full_refresh rebuilds everything). ``sources`` names each source's driver stream (a row per
-- record of it) and the other streams its SQL reads. One SELECT per source system in
-- staging/contacts/<source>.sql, each returning exactly these columns in this order.
{% set sources = [
    {'source': 'salesforce', 'driver': 'Contact', 'reads': []},
    {'source': 'hubspot', 'driver': 'contacts', 'reads': []},
    {'source': 'pipedrive', 'driver': 'persons', 'reads': []},
    {'source': 'zoho_crm', 'driver': 'Contacts', 'reads': []},
    {'source': 'bigin', 'driver': 'Contacts', 'reads': []},
    {'source': 'folk', 'driver': 'people', 'reads': []},
    {'source': 'dynamics', 'driver': 'contacts', 'reads': []},
] %}
{% set full = m.is_full_refresh(params) == 'full' %}
SET LOCAL work_mem = '128MB';  -- the latest-version sorts stay in memory
{{ m.incremental_start('contacts', 'staging.contacts', sources, full) }}

INSERT INTO staging.contacts (
    contact_key, source_system, source_id, customer_key, first_name, last_name, email, phone,
    job_title, source_updated_at
)
SELECT * FROM ({% include 'staging/contacts/salesforce.sql' %}) AS salesforce WHERE {{ m.runs(sources[0], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/contacts/hubspot.sql' %}) AS hubspot WHERE {{ m.runs(sources[1], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/contacts/pipedrive.sql' %}) AS pipedrive WHERE {{ m.runs(sources[2], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/contacts/zoho_crm.sql' %}) AS zoho_crm WHERE {{ m.runs(sources[3], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/contacts/bigin.sql' %}) AS bigin WHERE {{ m.runs(sources[4], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/contacts/folk.sql' %}) AS folk WHERE {{ m.runs(sources[5], full) }}
UNION ALL
SELECT * FROM ({% include 'staging/contacts/dynamics.sql' %}) AS dynamics WHERE {{ m.runs(sources[6], full) }};

{{ m.incremental_finish('contacts', full) }}
{% if full %}ANALYZE staging.contacts;{% endif %}
{{ build.record_horizon('staging.contacts') }}
