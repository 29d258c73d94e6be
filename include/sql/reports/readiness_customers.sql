-- The customers marts.customer_readiness reports on, as a temporary table of the rebuild's transaction
-- (readiness_customers, dropped at commit): every customer of staging.customers and every customer held
-- in quality.quarantine (its open entries for staging.customers, fields read back from row_data), since a
-- quarantined customer is the one most in need of a fix. Each row carries what issuing would build the
-- buyer from (the staging.customers columns, the first contact e-mail, whether the country is in the EU)
-- and its open quarantine entries; passerelle.reports.readiness runs issuing's checks on it and then
-- reports/customer_readiness.sql builds the mart.
SET LOCAL work_mem = '128MB';  -- the de-duplicating sort of customers stays in memory

CREATE TEMPORARY TABLE readiness_customers ON COMMIT DROP AS
WITH open_entries AS (
    -- row_data is a JSON array when several staged rows shared the key (a duplicate): keep the first.
    SELECT table_name, record_key, rule, reason, quarantined_at,
           CASE jsonb_typeof(row_data) WHEN 'array' THEN row_data->0 ELSE row_data END AS row_data
      FROM quality.quarantine
     WHERE table_name = 'staging.customers' AND released_at IS NULL
),
held AS (
    SELECT record_key,
           array_agg(rule ORDER BY rule, reason) AS rules,
           array_agg(reason ORDER BY rule, reason) AS reasons,
           (array_agg(row_data ORDER BY quarantined_at DESC))[1] AS row_data
      FROM open_entries
     GROUP BY record_key
),
customers AS (
    -- Before validation runs staging may hold a key twice; the latest version stands for it.
    SELECT DISTINCT ON (customer_key) *
      FROM (SELECT c.* FROM staging.customers AS c
            UNION ALL
            SELECT r.* FROM held AS h
             CROSS JOIN LATERAL jsonb_populate_record(NULL::staging.customers, h.row_data) AS r
             WHERE NOT EXISTS (SELECT FROM staging.customers AS s WHERE s.customer_key = h.record_key)) AS every_customer
     ORDER BY customer_key, source_updated_at DESC NULLS LAST
),
emails AS (
    -- The buyer's e-mail (BT-49 scheme EM outside the French directory), chosen as issuing chooses it.
    SELECT customer_key, min(email) AS email FROM staging.contacts GROUP BY customer_key
)
SELECT c.*, e.email, country.is_eu,
       h.record_key IS NOT NULL AS in_quarantine,
       coalesce(h.rules, '{}') AS quarantine_rules,
       coalesce(h.reasons, '{}') AS quarantine_reasons
  FROM customers AS c
  LEFT JOIN held AS h ON h.record_key = c.customer_key
  LEFT JOIN emails AS e ON e.customer_key = c.customer_key
  LEFT JOIN reference.countries AS country ON country.country_code = c.billing_country_code;
