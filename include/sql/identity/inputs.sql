{#- Identity resolution inputs as temporary tables: one row per key (staging keys carry no UNIQUE
    constraint, and a source duplicate must not give a project two outcomes), names normalised once,
    analysed so the planner sees real row counts in the joins that follow. -#}
{#- Legal-form suffixes, normalised (reference.normalise turns "S.r.l." into "s r l" and
    "GmbH & Co. KG" into "gmbh co kg"): the French forms and those of the foreign customers. -#}
{%- set legal_forms = [
    "sa", "sas", "sasu", "sarl", "eurl", "sci", "snc", "selarl", "scop",
    "gmbh co kg", "gmbh", "ag", "kg", "srl", "s r l", "spa", "s p a", "bv", "nv",
] -%}
DROP TABLE IF EXISTS pg_temp.identity_projects, pg_temp.identity_customers, pg_temp.identity_deals;

CREATE TEMPORARY TABLE identity_projects AS
SELECT DISTINCT ON (project_key)
       project_key, name,
       lower(btrim(crm_system)) AS crm_system,
       NULLIF(btrim(crm_deal_id), '') AS crm_deal_id,
       string_to_array(reference.normalise(name), ' ') AS words,
       concat_ws(' ', name, description) AS free_text
  FROM staging.projects
 ORDER BY project_key, source_updated_at DESC NULLS LAST;

CREATE TEMPORARY TABLE identity_customers AS
SELECT customer_key, legal_name, customer_type, siren, siret, upper(vat_number) AS vat_number,
       lower(email_domain) AS email_domain, full_name,
       -- The name without its legal form: "Travaux Vallet SA" is written "Travaux Vallet" in project names.
       NULLIF(regexp_replace(full_name, ' ({{ legal_forms | join("|") }})$', ''), full_name) AS core_name
  FROM (SELECT DISTINCT ON (customer_key) *, reference.normalise(legal_name) AS full_name
          FROM staging.customers
         ORDER BY customer_key, source_updated_at DESC NULLS LAST) AS latest;

CREATE TEMPORARY TABLE identity_deals AS
SELECT DISTINCT ON (deal_key)
       deal_key, source_system, source_id, customer_key, name, is_won,
       -- Deal names are '<customer> - <topic>'; the topic is what a project name repeats.
       reference.normalise(CASE WHEN strpos(name, ' - ') > 0 THEN substr(name, strpos(name, ' - ') + 3) END) AS topic
  FROM staging.deals
 ORDER BY deal_key, source_updated_at DESC NULLS LAST;

ANALYZE identity_projects, identity_customers, identity_deals;
