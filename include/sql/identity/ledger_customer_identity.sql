-- Identity resolution of the books: which CRM customer (staging.customers) each customer of the books
-- (staging.ledger_customers, active or inactive: an inactive one still has payments to match) is.
-- Every customer of the books gets exactly one outcome: a staging.ledger_customer_links row, or a
-- staging.ledger_customer_exceptions row with the candidates. Both tables are rebuilt by the last
-- statement, in one transaction, from the same staging rows.
--
-- The rules and confidences are those of the project identity model (identity/project_identity.sql):
-- a SIREN or a VAT number 0.95, the normalised legal name alone 0.80. A French VAT number is FR, a
-- two-character key and the SIREN, so it names the same company as that SIREN: on either side, it
-- matches a SIREN of the other side. SIREN and VAT number are therefore one kind of evidence, the
-- company's identifier, and the name is the other; every kind found must point at one customer
-- ('conflict' otherwise), and several customers pointed at by every kind (the same company in two
-- CRMs) are 'ambiguous'. A name match whose customer has another SIREN or VAT number than the books is
-- no link either: the name is shared by two companies, and the payment of one is not the other's.
-- Every match is an equi-join on an identifier or a normalised name, never a books × CRM scan.

SET LOCAL jit = off;

DROP TABLE IF EXISTS pg_temp.ledger_identity_books, pg_temp.ledger_identity_customers,
                     pg_temp.ledger_identity_evidence, pg_temp.ledger_identity_candidates;

-- One row per key (staging keys carry no UNIQUE constraint); the SIREN inside a French VAT number, which
-- is the SIREN of the books when they give none (staging/ledger_customers already does so for QuickBooks).
CREATE TEMPORARY TABLE ledger_identity_books AS
SELECT ledger_customer_key, display_name, normalised_name, coalesce(siren, vat_siren) AS siren, vat_number,
       vat_siren, identifier_problem
  FROM (SELECT *, CASE WHEN vat_number ~ '^FR[0-9A-Z]{2}[0-9]{9}$' THEN right(vat_number, 9) END AS vat_siren
          FROM (SELECT DISTINCT ON (ledger_customer_key)
                       ledger_customer_key, display_name, normalised_name, siren, identifier_problem,
                       upper(replace(vat_number, ' ', '')) AS vat_number
                  FROM staging.ledger_customers
                 ORDER BY ledger_customer_key, source_updated_at DESC NULLS LAST) AS latest) AS books;

CREATE TEMPORARY TABLE ledger_identity_customers AS
SELECT customer_key, legal_name, full_name, siren, vat_number,
       CASE WHEN vat_number ~ '^FR[0-9A-Z]{2}[0-9]{9}$' THEN right(vat_number, 9) END AS vat_siren
  FROM (SELECT DISTINCT ON (customer_key)
               customer_key, legal_name, reference.normalise(legal_name) AS full_name, siren,
               upper(replace(vat_number, ' ', '')) AS vat_number
          FROM staging.customers
         ORDER BY customer_key, source_updated_at DESC NULLS LAST) AS latest;

ANALYZE ledger_identity_books, ledger_identity_customers;

-- Every reason to think a customer of the books is a CRM customer: kind (siren, vat, name) and class
-- (identifier, name), one row per match.
CREATE TEMPORARY TABLE ledger_identity_evidence AS
SELECT b.ledger_customer_key, c.customer_key, 'siren' AS kind, 'identifier' AS class, 'SIREN ' || b.siren AS detail
  FROM ledger_identity_books b JOIN ledger_identity_customers c ON c.siren = b.siren
UNION ALL
SELECT b.ledger_customer_key, c.customer_key, 'vat', 'identifier', 'VAT number ' || b.vat_number
  FROM ledger_identity_books b JOIN ledger_identity_customers c ON c.vat_number = b.vat_number
UNION ALL
-- The books' SIREN is the one inside their VAT number when they give only that: what remains is a CRM
-- holding the VAT number alone and the books the SIREN alone.
SELECT b.ledger_customer_key, c.customer_key, 'vat', 'identifier',
       format('SIREN %s of the books, VAT number %s in the CRM', b.siren, c.vat_number)
  FROM ledger_identity_books b JOIN ledger_identity_customers c ON c.vat_siren = b.siren
 WHERE c.siren IS NULL AND b.vat_number IS NULL
UNION ALL
SELECT b.ledger_customer_key, c.customer_key, 'name', 'name', format('name "%s"', b.normalised_name)
  FROM ledger_identity_books b JOIN ledger_identity_customers c ON c.full_name = b.normalised_name;

-- Per customer of the books and candidate: the kinds pointing at it, whether every class of evidence
-- found for that customer of the books does (agreed), how many candidates do (agreed_customers), and
-- what contradicts it: a SIREN or VAT number on both sides that differ.
CREATE TEMPORARY TABLE ledger_identity_candidates AS
SELECT pc.ledger_customer_key, pc.customer_key, pc.kind_list, pc.details, pc.classes = pp.classes AS agreed,
       count(*) FILTER (WHERE pc.classes = pp.classes) OVER (PARTITION BY pc.ledger_customer_key) AS agreed_customers,
       CASE WHEN coalesce(b.siren, b.vat_siren) IS NOT NULL AND coalesce(c.siren, c.vat_siren) IS NOT NULL
                 AND NOT ARRAY[b.siren, b.vat_siren] && ARRAY[c.siren, c.vat_siren]
                THEN format('%s has SIREN %s, the books %s', c.customer_key, coalesce(c.siren, c.vat_siren),
                            coalesce(b.siren, b.vat_siren))
            WHEN b.vat_number IS NOT NULL AND c.vat_number IS NOT NULL AND b.vat_number <> c.vat_number
                THEN format('%s has VAT number %s, the books %s', c.customer_key, c.vat_number, b.vat_number)
       END AS contradiction
  FROM (SELECT ledger_customer_key, customer_key, count(DISTINCT class) AS classes,
               array_agg(DISTINCT kind ORDER BY kind) AS kind_list,
               string_agg(detail, '; ' ORDER BY class, kind, detail) AS details  -- identifiers first
          FROM (SELECT DISTINCT * FROM ledger_identity_evidence) AS e
         GROUP BY ledger_customer_key, customer_key) AS pc
  JOIN (SELECT ledger_customer_key, count(DISTINCT class) AS classes
          FROM ledger_identity_evidence
         GROUP BY ledger_customer_key) AS pp ON pp.ledger_customer_key = pc.ledger_customer_key
  JOIN ledger_identity_books b ON b.ledger_customer_key = pc.ledger_customer_key
  JOIN ledger_identity_customers c ON c.customer_key = pc.customer_key;
ANALYZE ledger_identity_candidates;

DELETE FROM staging.ledger_customer_links;
DELETE FROM staging.ledger_customer_exceptions;

WITH
-- Possible outcomes by priority; the first one of each customer of the books is kept.
outcomes (priority, ledger_customer_key, customer_key, method, confidence, evidence, problem, detail) AS (
    -- Every class of evidence agrees on one customer and nothing contradicts it: the strongest kind names the method.
    SELECT 1, a.ledger_customer_key, a.customer_key,
           CASE WHEN 'siren' = ANY (a.kind_list) THEN 'siren' WHEN 'vat' = ANY (a.kind_list) THEN 'vat' ELSE 'name' END,
           CASE WHEN a.kind_list && ARRAY['siren', 'vat'] THEN 0.95 ELSE 0.80 END,
           a.details, NULL, NULL
      FROM ledger_identity_candidates a
     WHERE a.agreed AND a.agreed_customers = 1 AND a.contradiction IS NULL
    UNION ALL
    -- Every class agrees on several customers: the same company in two CRMs, or a name several share.
    SELECT 1, a.ledger_customer_key, NULL, NULL, NULL, NULL, 'ambiguous',
           format('%s CRM customers match equally: %s', count(*),
                  string_agg(format('%s (%s%s)', a.customer_key, a.details, ', ' || a.contradiction), ' | '
                             ORDER BY a.customer_key))
      FROM ledger_identity_candidates a
     WHERE a.agreed AND a.agreed_customers > 1
     GROUP BY a.ledger_customer_key
    UNION ALL
    -- No customer has every class of evidence (the SIREN names one, the name another), or the one that has
    -- it carries another SIREN or VAT number than the books.
    SELECT 1, a.ledger_customer_key, NULL, NULL, NULL, NULL, 'conflict',
           CASE WHEN bool_or(a.agreed) THEN 'the name matches, the identifiers differ: '
                ELSE 'the evidence names different customers: ' END
           || string_agg(format('%s → %s%s', array_to_string(a.kind_list, '+'), a.customer_key,
                                ' (' || a.contradiction || ')'), ', ' ORDER BY a.customer_key)
      FROM ledger_identity_candidates a
     GROUP BY a.ledger_customer_key
    HAVING max(a.agreed_customers) = 0
        OR (max(a.agreed_customers) = 1 AND bool_or(a.agreed AND a.contradiction IS NOT NULL))
    UNION ALL
    SELECT 2, b.ledger_customer_key, NULL, NULL, NULL, NULL, 'unmapped',
           format('no CRM customer has the SIREN (%s), VAT number (%s) or normalised name ("%s") of %s "%s"%s',
                  coalesce(b.siren, 'none in the books'), coalesce(b.vat_number, 'none in the books'),
                  coalesce(b.normalised_name, ''), b.ledger_customer_key, coalesce(b.display_name, ''),
                  '; ' || b.identifier_problem)
      FROM ledger_identity_books b
),
decided AS (
    SELECT DISTINCT ON (ledger_customer_key) *
      FROM outcomes
     ORDER BY ledger_customer_key, priority
),
-- The candidates a person resolving an exception chooses from, one per customer and kind of evidence.
candidate_lists AS (
    SELECT e.ledger_customer_key,
           jsonb_agg(jsonb_build_object('customer_key', e.customer_key, 'legal_name', c.legal_name, 'method', e.kind)
                     ORDER BY e.customer_key, e.kind) AS candidates
      FROM (SELECT DISTINCT ledger_customer_key, customer_key, kind FROM ledger_identity_evidence) AS e
      JOIN ledger_identity_customers c ON c.customer_key = e.customer_key
     WHERE e.ledger_customer_key IN (SELECT ledger_customer_key FROM decided WHERE problem IS NOT NULL)
     GROUP BY e.ledger_customer_key
),
-- A data-modifying CTE runs to completion even though nothing reads it: both tables in one statement.
linked AS (
    INSERT INTO staging.ledger_customer_links (ledger_customer_key, customer_key, method, confidence, evidence)
    SELECT ledger_customer_key, customer_key, method, confidence, evidence
      FROM decided
     WHERE problem IS NULL
)
INSERT INTO staging.ledger_customer_exceptions (ledger_customer_key, problem, candidates, detail)
SELECT d.ledger_customer_key, d.problem, coalesce(c.candidates, '[]'::jsonb), d.detail
  FROM decided d
  LEFT JOIN candidate_lists c ON c.ledger_customer_key = d.ledger_customer_key
 WHERE d.problem IS NOT NULL;

ANALYZE staging.ledger_customer_links, staging.ledger_customer_exceptions;

DROP TABLE ledger_identity_books, ledger_identity_customers, ledger_identity_evidence, ledger_identity_candidates;
