-- Identity resolution: which CRM customer (and deal) each project of the project tools belongs to.
-- Every project in staging.projects gets exactly one outcome: a staging.project_links row, or a
-- staging.identity_exceptions row for a person to settle with staging.identity_overrides (which this
-- file reads and never writes). Both tables are rebuilt by the last statement, in one transaction, so
-- they are always computed from the same staging rows. The steps before it keep their results in
-- temporary tables (identity/inputs.sql, identity/evidence.sql), analysed so that the planner joins
-- them with real row counts: the estimates of one long chain of CTEs led it to nested loops that took
-- minutes on 20 000 projects.
--
-- Precedence: an override wins; then an explicit CRM link that does not resolve is a dangling link;
-- then every kind of evidence (explicit link, SIRET, SIREN, VAT number, customer name, domain) must
-- agree on one customer. An explicit link is not trusted over a project name naming another customer:
-- CRM link fields get copied with a board template or mistyped, and invoicing the wrong customer
-- costs more than a manual review, so the disagreement becomes a 'conflict' exception.

-- Row estimates of unnest/regexp_matches make plans look expensive enough to JIT-compile, which takes
-- seconds for statements that run in milliseconds.
SET LOCAL jit = off;

{% include 'identity/inputs.sql' %}

{% include 'identity/evidence.sql' %}

-- Per project and candidate customer: the kinds of evidence pointing at it, and whether every kind
-- found for the project does (agreed); agreed_customers counts the agreed candidates of the project.
DROP TABLE IF EXISTS pg_temp.identity_candidates;
CREATE TEMPORARY TABLE identity_candidates AS
SELECT pc.*, pc.kinds = pp.kinds AS agreed,
       count(*) FILTER (WHERE pc.kinds = pp.kinds) OVER (PARTITION BY pc.project_key) AS agreed_customers
  FROM (SELECT project_key, customer_key, count(DISTINCT kind) AS kinds, array_agg(DISTINCT kind) AS kind_list,
               string_agg(DISTINCT detail, '; ') AS details, min(deal_key) AS explicit_deal_key
          FROM identity_evidence
         GROUP BY project_key, customer_key) AS pc
  JOIN (SELECT project_key, count(DISTINCT kind) AS kinds FROM identity_evidence GROUP BY project_key) AS pp
    ON pp.project_key = pc.project_key;
ANALYZE identity_candidates;

DELETE FROM staging.project_links;
DELETE FROM staging.identity_exceptions;

WITH
-- The deal of a project linked without a CRM link: the customer's deal whose topic the project name
-- repeats (the won one when a lost deal had the same topic), else the customer's only won deal, else none.
guessed_deals AS (
    SELECT a.project_key,
           CASE WHEN count(*) FILTER (WHERE t.topic_named AND d.is_won) = 1
                    THEN min(d.deal_key) FILTER (WHERE t.topic_named AND d.is_won)
                WHEN count(*) FILTER (WHERE t.topic_named) = 1 THEN min(d.deal_key) FILTER (WHERE t.topic_named)
                WHEN count(*) FILTER (WHERE d.is_won) = 1 THEN min(d.deal_key) FILTER (WHERE d.is_won)
           END AS deal_key
      FROM identity_candidates a
      JOIN identity_projects p ON p.project_key = a.project_key
      JOIN identity_deals d ON d.customer_key = a.customer_key
     CROSS JOIN LATERAL (SELECT d.topic IS NOT NULL AND ' ' || array_to_string(p.words, ' ') || ' '
                                LIKE '% ' || d.topic || ' %' AS topic_named) AS t
     WHERE a.agreed AND a.agreed_customers = 1 AND a.explicit_deal_key IS NULL
     GROUP BY a.project_key
),
-- Possible outcomes by priority; the first one of each project is kept.
outcomes (priority, project_key, customer_key, deal_key, method, confidence, evidence, problem, detail) AS (
    -- An override names a customer (or none: internal work) and optionally a deal, both in staging.
    SELECT 1, o.project_key, o.customer_key, o.deal_key, 'override', 1.00,
           format('override by %s on %s: %s', o.decided_by, o.decided_at::date, coalesce(o.note, 'no note')),
           CASE WHEN o.customer_key IS NOT NULL AND c.customer_key IS NULL THEN 'dangling_link'
                WHEN o.deal_key IS NOT NULL AND d.deal_key IS NULL THEN 'dangling_link'
                WHEN o.deal_key IS NOT NULL AND d.customer_key IS DISTINCT FROM o.customer_key THEN 'conflict' END,
           CASE WHEN o.customer_key IS NOT NULL AND c.customer_key IS NULL
                    THEN format('override names customer %s, which is not in staging.customers', o.customer_key)
                WHEN o.deal_key IS NOT NULL AND d.deal_key IS NULL
                    THEN format('override names deal %s, which is not in staging.deals', o.deal_key)
                WHEN o.deal_key IS NOT NULL AND d.customer_key IS DISTINCT FROM o.customer_key
                    THEN format('override deal %s belongs to customer %s, not to %s', o.deal_key, d.customer_key,
                                coalesce(o.customer_key, 'no customer')) END
      FROM staging.identity_overrides o
      JOIN identity_projects p ON p.project_key = o.project_key
      LEFT JOIN identity_customers c ON c.customer_key = o.customer_key
      LEFT JOIN identity_deals d ON d.deal_key = o.deal_key
    UNION ALL
    -- A CRM link naming no deal, or a deal whose customer is not in staging (deleted, quarantined, typo).
    SELECT 2, p.project_key, NULL, NULL, NULL, NULL, NULL, 'dangling_link',
           CASE WHEN e.deal_key IS NULL
                THEN format('CRM link %s: no such deal in staging.deals', concat_ws(':', p.crm_system, p.crm_deal_id))
                ELSE format('CRM link %s: deal %s has customer %s, which is not in staging.customers',
                            e.link, e.deal_key, coalesce(e.customer_key, '(none)')) END
      FROM identity_projects p
      LEFT JOIN identity_explicit e ON e.project_key = p.project_key
     WHERE p.crm_deal_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM identity_evidence v WHERE v.project_key = p.project_key AND v.kind = 'explicit_link')
    UNION ALL
    -- Every kind of evidence agrees on one customer: the strongest kind names the method.
    SELECT 3, a.project_key, a.customer_key, coalesce(a.explicit_deal_key, g.deal_key), m.method, m.confidence,
           a.details, NULL, NULL
      FROM identity_candidates a
      LEFT JOIN guessed_deals g ON g.project_key = a.project_key
     CROSS JOIN LATERAL (
           SELECT CASE WHEN 'explicit_link' = ANY (a.kind_list) THEN 'explicit_link'
                       WHEN 'siret' = ANY (a.kind_list) THEN 'siret'
                       WHEN 'siren' = ANY (a.kind_list) THEN 'siren'
                       WHEN 'vat' = ANY (a.kind_list) THEN 'vat'
                       ELSE 'name_domain' END AS method,
                  CASE WHEN 'explicit_link' = ANY (a.kind_list) THEN 1.00
                       WHEN 'siret' = ANY (a.kind_list) THEN 0.97
                       WHEN a.kind_list && ARRAY['siren', 'vat'] THEN 0.95
                       WHEN a.kind_list @> ARRAY['name', 'domain'] THEN 0.90
                       ELSE 0.80 END AS confidence) AS m
     WHERE a.agreed AND a.agreed_customers = 1
    UNION ALL
    -- Every kind agrees on several customers (a name several customers share, the same company in both CRMs).
    SELECT 3, a.project_key, NULL, NULL, NULL, NULL, NULL, 'ambiguous',
           format('%s customers match equally: %s', count(*), string_agg(a.details, ' | ' ORDER BY a.customer_key))
      FROM identity_candidates a
     WHERE a.agreed AND a.agreed_customers > 1
     GROUP BY a.project_key
    UNION ALL
    -- No customer has every kind of evidence: e.g. the CRM link names one customer, the name another.
    SELECT 3, a.project_key, NULL, NULL, NULL, NULL, NULL, 'conflict',
           'the evidence names different customers: '
           || string_agg(format('%s → %s', array_to_string(a.kind_list, '+'), a.customer_key), ', '
                         ORDER BY a.customer_key)
      FROM identity_candidates a
     WHERE a.agreed_customers = 0
     GROUP BY a.project_key
    UNION ALL
    SELECT 4, w.project_key, NULL, NULL, NULL, NULL, NULL, 'ambiguous',
           format('no customer named in full; %s companies start with a word of the project name', count(*))
      FROM identity_partial w
     GROUP BY w.project_key
    HAVING count(*) > 1
    UNION ALL
    SELECT 5, p.project_key, NULL, NULL, NULL, NULL, NULL, 'unmapped',
           'no CRM link, SIREN/SIRET/VAT number, customer name or customer domain in the project name or description'
      FROM identity_projects p
),
decided AS (
    SELECT DISTINCT ON (project_key) *
      FROM outcomes
     ORDER BY project_key, priority
),
-- The candidates a person resolving an exception chooses from.
candidate_lists AS (
    SELECT c.project_key,
           jsonb_agg(jsonb_build_object('customer_key', c.customer_key, 'legal_name', cu.legal_name, 'method', c.method)
                     ORDER BY c.customer_key, c.method) AS candidates
      FROM (SELECT DISTINCT project_key, customer_key,
                   CASE WHEN kind IN ('name', 'domain') THEN 'name_domain' ELSE kind END AS method
              FROM identity_evidence
            UNION ALL
            SELECT project_key, customer_key, 'name_partial' FROM identity_partial) AS c
      JOIN identity_customers cu ON cu.customer_key = c.customer_key
     WHERE c.project_key IN (SELECT project_key FROM decided WHERE problem IS NOT NULL)
     GROUP BY c.project_key
),
-- A data-modifying CTE runs to completion even though nothing reads it: both tables in one statement.
linked AS (
    INSERT INTO staging.project_links (project_key, customer_key, deal_key, method, confidence, evidence)
    SELECT project_key, customer_key, deal_key, method, confidence, evidence
      FROM decided
     WHERE problem IS NULL
)
INSERT INTO staging.identity_exceptions (project_key, problem, candidates, detail)
SELECT d.project_key, d.problem, coalesce(c.candidates, '[]'::jsonb), d.detail
  FROM decided d
  LEFT JOIN candidate_lists c ON c.project_key = d.project_key
 WHERE d.problem IS NOT NULL;

ANALYZE staging.project_links, staging.identity_exceptions;

DROP TABLE identity_projects, identity_customers, identity_deals, identity_explicit, identity_evidence,
           identity_partial, identity_candidates;
