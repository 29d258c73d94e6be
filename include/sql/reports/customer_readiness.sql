-- marts.customer_readiness: whether each customer can be invoiced electronically, and what to fix if not.
-- One row per customer of staging.customers and per customer held in quality.quarantine (its open
-- entries for staging.customers, fields read back from row_data): a quarantined customer is the one most
-- in need of a fix, so leaving it out would hide exactly what the report is for. Run after validation.
--
-- The SIREN, SIRET and French VAT checks are the reference.* functions of migration 0006, which follow
-- python-stdnum rule for rule (the report tests compare them on thousands of numbers): plain arithmetic on
-- digits, so they run here, set-based, in the same transaction as the rebuild, with no Python round trip.
-- Foreign VAT numbers have one check-digit algorithm per country; rather than rewrite stdnum in SQL, their
-- validity is the verdict of the quality suite, which runs stdnum on every VAT number and quarantines a
-- failure under customers.vat_number_checksum.
--
-- The classification is the processing rule invoicing gives the customer (passerelle.invoicing.vat
-- .processing_rule): B2C for individuals, B2BINT for companies outside France, B2B otherwise.
-- Rebuilt whole (DELETE + INSERT) in one transaction: readers see the previous rows until commit.
SET LOCAL work_mem = '128MB';  -- the de-duplicating sort of customers stays in memory
-- The identifier checks are long expressions: the cost estimate reaches the JIT threshold, and compiling
-- them takes longer than it saves (5 s instead of 4 s for 100 000 customers).
SET LOCAL jit = off;
DELETE FROM marts.customer_readiness;

INSERT INTO marts.customer_readiness (
    customer_key, source_system, legal_name, customer_type, classification, billing_country_code, is_eu,
    siren, siret, vat_number, siren_valid, siret_valid, siret_matches_siren, vat_valid, vat_matches_siren,
    expected_vat_number, address_complete, einvoicing_address_present, in_quarantine, quarantine_rules,
    missing, ready, open_deals, won_deals
)
WITH open_entries AS (
    -- row_data is a JSON array when several staged rows shared the key (a duplicate): keep the first.
    SELECT table_name, record_key, rule, reason, quarantined_at,
           CASE jsonb_typeof(row_data) WHEN 'array' THEN row_data->0 ELSE row_data END AS row_data
      FROM quality.quarantine
     WHERE table_name IN ('staging.customers', 'staging.deals') AND released_at IS NULL
),
held AS (
    SELECT record_key,
           array_agg(rule ORDER BY rule) AS rules,
           -- Rules this model does not check itself are reported with the quality suite's own reason.
           coalesce(array_agg('quarantined: ' || reason ORDER BY rule) FILTER (WHERE rule NOT IN (
               'customers.siren_checksum', 'customers.siret_checksum', 'customers.vat_number_checksum',
               'customers.billing_country_known')), '{}') AS other_problems,
           bool_or(rule = 'customers.vat_number_checksum') AS vat_rejected,
           (array_agg(row_data ORDER BY quarantined_at DESC))[1] AS row_data
      FROM open_entries
     WHERE table_name = 'staging.customers'
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
deals AS (
    SELECT customer_key, is_closed, is_won FROM staging.deals
    UNION ALL
    SELECT r.customer_key, r.is_closed, r.is_won
      FROM (SELECT DISTINCT ON (record_key) record_key, row_data FROM open_entries
             WHERE table_name = 'staging.deals' ORDER BY record_key, quarantined_at DESC) AS q
     CROSS JOIN LATERAL jsonb_populate_record(NULL::staging.deals, q.row_data) AS r
     WHERE NOT EXISTS (SELECT FROM staging.deals AS d WHERE d.deal_key = q.record_key)
),
deal_counts AS (
    SELECT customer_key, count(*) FILTER (WHERE NOT coalesce(is_closed, false)) AS open_deals,
           count(*) FILTER (WHERE is_won) AS won_deals
      FROM deals GROUP BY customer_key
),
-- MATERIALIZED: the checks are read several times below (flags, missing items, ready); inlined, every
-- mention would run the identifier functions again (twice the time).
checked AS MATERIALIZED (
    SELECT c.customer_key, c.source_system, c.legal_name, c.customer_type, c.siren, c.siret, c.vat_number,
           c.billing_street, c.billing_postcode, c.billing_city, c.billing_country_code, c.billing_country_raw,
           country.is_eu,
           CASE WHEN c.customer_type = 'B2C' THEN 'B2C'
                WHEN c.customer_type = 'B2B_INTL' OR c.billing_country_code <> 'FR' THEN 'B2BINT'
                ELSE 'B2B' END AS classification,
           reference.siren_valid(c.siren) AS siren_valid,
           reference.siret_valid(c.siret) AS siret_valid,
           left(c.siret, 9) = c.siren AS siret_matches_siren,
           CASE WHEN c.vat_number LIKE 'FR%' THEN reference.fr_vat_valid(c.vat_number)
                WHEN c.vat_number IS NOT NULL THEN NOT coalesce(h.vat_rejected, false) END AS vat_valid,
           CASE WHEN c.vat_number IS NOT NULL THEN c.vat_number = reference.fr_vat_number(c.siren) END
               AS vat_matches_siren,
           reference.fr_vat_number(c.siren) AS expected_vat_number,
           c.billing_street IS NOT NULL AND c.billing_postcode IS NOT NULL AND c.billing_city IS NOT NULL
               AND c.billing_country_code IS NOT NULL AS address_complete,
           c.einvoicing_address IS NOT NULL AS einvoicing_address_present,
           h.record_key IS NOT NULL AS in_quarantine,
           coalesce(h.rules, '{}') AS quarantine_rules,
           coalesce(h.other_problems, '{}') AS other_problems,
           coalesce(d.open_deals, 0) AS open_deals, coalesce(d.won_deals, 0) AS won_deals
      FROM customers AS c
      LEFT JOIN held AS h ON h.record_key = c.customer_key
      LEFT JOIN reference.countries AS country ON country.country_code = c.billing_country_code
      LEFT JOIN deal_counts AS d ON d.customer_key = c.customer_key
),
judged AS (
    SELECT checked.*,
           array_remove(ARRAY[
               CASE WHEN customer_type IS NULL AND siren IS NULL THEN 'customer type: missing (B2B, B2B_INTL or B2C)'
                    WHEN customer_type NOT IN ('B2B', 'B2B_INTL', 'B2C')
                    THEN format('customer type: unknown %L (B2B, B2B_INTL or B2C)', customer_type) END,
               CASE WHEN siren IS NULL AND classification = 'B2B' THEN 'SIREN: missing'
                    WHEN siren !~ '^[0-9]{9}$' THEN format('SIREN: %L is not 9 digits', siren)
                    WHEN NOT siren_valid THEN format('SIREN: %L has an invalid check digit', siren) END,
               CASE WHEN siret !~ '^[0-9]{14}$' THEN format('SIRET: %L is not 14 digits', siret)
                    WHEN NOT siret_valid THEN format('SIRET: %L has an invalid check digit', siret) END,
               CASE WHEN NOT siret_matches_siren THEN format('SIRET: %L does not start with the SIREN', siret) END,
               CASE WHEN vat_number IS NULL AND classification = 'B2BINT' AND is_eu
                    THEN 'VAT number: missing (required for an EU company)'
                    WHEN NOT vat_valid THEN format('VAT number: %L is invalid', vat_number) END,
               CASE WHEN NOT vat_matches_siren
                    THEN format('VAT number: %L does not match the SIREN (expected %s)', vat_number,
                                expected_vat_number) END,
               CASE WHEN billing_street IS NULL THEN 'billing street: missing' END,
               CASE WHEN billing_postcode IS NULL THEN 'billing postcode: missing' END,
               CASE WHEN billing_city IS NULL THEN 'billing city: missing' END,
               CASE WHEN billing_country_code IS NULL AND billing_country_raw IS NULL THEN 'billing country: missing'
                    WHEN billing_country_code IS NULL
                    THEN format('billing country: %L is not a known country', billing_country_raw) END,
               CASE WHEN classification = 'B2B' AND NOT einvoicing_address_present
                    THEN 'e-invoicing address (BT-49): missing' END
           ], NULL) || other_problems AS missing
      FROM checked
)
SELECT customer_key, source_system, legal_name, customer_type, classification, billing_country_code, is_eu,
       siren, siret, vat_number, siren_valid, siret_valid, siret_matches_siren, vat_valid, vat_matches_siren,
       expected_vat_number, address_complete, einvoicing_address_present, in_quarantine, quarantine_rules,
       missing, cardinality(missing) = 0 AND NOT in_quarantine, open_deals, won_deals
  FROM judged;

ANALYZE marts.customer_readiness;
