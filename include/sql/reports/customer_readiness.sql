-- marts.customer_readiness: whether each customer can be invoiced electronically, and what to fix if not.
-- One row per customer of readiness_customers (reports/readiness_customers.sql: staged customers and
-- customers held in quality.quarantine). Run after validation, by passerelle.reports.readiness, in the
-- transaction that filled the two temporary tables read here.
--
-- readiness_checks holds, per customer, the verdicts of issuing's own checker: the buyer is built as
-- invoicing builds it and passerelle.invoicing.checks runs on it (python-stdnum check digits of SIREN,
-- SIRET and VAT/tax number with the country's scheme, Flux 10 buyer identifier G6.28/G2.19, country
-- G2.01, text XML 1.0 cannot carry), with the processing rule invoicing gives the customer
-- (passerelle.invoicing.vat.processing_rule) as classification. Its findings are written into
-- ``missing`` worded as marts.held_invoices words them, so whatever issuing would hold the customer for,
-- the report says first. The items computed here are what the report asks beyond those checks (a
-- customer type, a SIREN and an e-invoicing address for a French company, a complete address); issuing holds a customer the report says is not ready
-- (PASSERELLE-READINESS), so the two never disagree silently.
-- Rebuilt whole (DELETE + INSERT) in one transaction: readers see the previous rows until commit.
DELETE FROM marts.customer_readiness;

INSERT INTO marts.customer_readiness (
    customer_key, source_system, legal_name, customer_type, classification, billing_country_code, is_eu,
    siren, siret, vat_number, siren_valid, siret_valid, siret_matches_siren, vat_valid, vat_matches_siren,
    expected_vat_number, address_complete, einvoicing_address_present, in_quarantine, quarantine_rules,
    missing, ready, open_deals, won_deals
)
WITH open_deals AS (
    SELECT DISTINCT ON (record_key) record_key,
           CASE jsonb_typeof(row_data) WHEN 'array' THEN row_data->0 ELSE row_data END AS row_data
      FROM quality.quarantine
     WHERE table_name = 'staging.deals' AND released_at IS NULL
     ORDER BY record_key, quarantined_at DESC
),
deals AS (
    SELECT customer_key, is_closed, is_won FROM staging.deals
    UNION ALL
    SELECT r.customer_key, r.is_closed, r.is_won
      FROM open_deals AS q
     CROSS JOIN LATERAL jsonb_populate_record(NULL::staging.deals, q.row_data) AS r
     WHERE NOT EXISTS (SELECT FROM staging.deals AS d WHERE d.deal_key = q.record_key)
),
deal_counts AS (
    SELECT customer_key, count(*) FILTER (WHERE NOT coalesce(is_closed, false)) AS open_deals,
           count(*) FILTER (WHERE is_won) AS won_deals
      FROM deals GROUP BY customer_key
),
checked AS (
    SELECT c.customer_key, c.source_system, c.legal_name, c.customer_type, c.siren, c.siret, c.vat_number,
           c.billing_street, c.billing_postcode, c.billing_city, c.billing_country_code, c.billing_country_raw,
           c.is_eu, k.classification, k.siren_valid, k.siret_valid, k.vat_valid, k.problems,
           left(c.siret, 9) = c.siren AS siret_matches_siren,
           CASE WHEN c.vat_number IS NOT NULL THEN c.vat_number = reference.fr_vat_number(c.siren) END
               AS vat_matches_siren,
           reference.fr_vat_number(c.siren) AS expected_vat_number,
           c.billing_street IS NOT NULL AND c.billing_postcode IS NOT NULL AND c.billing_city IS NOT NULL
               AND c.billing_country_code IS NOT NULL AS address_complete,
           c.einvoicing_address IS NOT NULL AS einvoicing_address_present,
           c.in_quarantine, c.quarantine_rules,
           coalesce(d.open_deals, 0) AS open_deals, coalesce(d.won_deals, 0) AS won_deals
      FROM readiness_customers AS c
      JOIN readiness_checks AS k ON k.customer_key = c.customer_key
      LEFT JOIN deal_counts AS d ON d.customer_key = c.customer_key
),
judged AS (
    SELECT checked.*,
           array_remove(ARRAY[
               CASE WHEN customer_type IS NULL AND siren IS NULL THEN 'customer type: missing (B2B, B2B_INTL or B2C)'
                    WHEN customer_type NOT IN ('B2B', 'B2B_INTL', 'B2C')
                    THEN format('customer type: unknown %L (B2B, B2B_INTL or B2C)', customer_type) END,
               CASE WHEN siren IS NULL AND classification = 'B2B' THEN 'SIREN: missing' END,
               CASE WHEN billing_street IS NULL THEN 'billing street: missing' END,
               CASE WHEN billing_postcode IS NULL THEN 'billing postcode: missing' END,
               CASE WHEN billing_city IS NULL THEN 'billing city: missing' END,
               CASE WHEN billing_country_code IS NULL AND billing_country_raw IS NULL THEN 'billing country: missing'
                    WHEN billing_country_code IS NULL
                    THEN format('billing country: %L is not a known country', billing_country_raw) END,
               CASE WHEN classification = 'B2B' AND NOT einvoicing_address_present
                    THEN 'e-invoicing address (BT-49): missing' END
           ], NULL) || problems AS missing
      FROM checked
)
SELECT customer_key, source_system, legal_name, customer_type, classification, billing_country_code, is_eu,
       siren, siret, vat_number, siren_valid, siret_valid, siret_matches_siren, vat_valid, vat_matches_siren,
       expected_vat_number, address_complete, einvoicing_address_present, in_quarantine, quarantine_rules,
       missing, cardinality(missing) = 0 AND NOT in_quarantine, open_deals, won_deals
  FROM judged;

ANALYZE marts.customer_readiness;
