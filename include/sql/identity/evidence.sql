{#- Identity resolution evidence: every reason to think a project belongs to a customer, as temporary
    tables after identity/inputs.sql. Every match is an equi-join on tokens extracted from the project
    (n-grams of its name, identifiers, host names), never a projects × customers scan. -#}
DROP TABLE IF EXISTS pg_temp.identity_explicit, pg_temp.identity_evidence, pg_temp.identity_partial;

-- The deal the project's CRM link names. Asana keeps the bare id, so crm_system may be NULL: the id
-- alone then picks the deal (Salesforce and HubSpot ids never collide).
CREATE TEMPORARY TABLE identity_explicit AS
SELECT p.project_key, d.deal_key, d.customer_key, d.name AS deal_name,
       concat_ws(':', p.crm_system, p.crm_deal_id) AS link
  FROM identity_projects p
  JOIN identity_deals d ON d.source_id = p.crm_deal_id AND d.source_system = coalesce(p.crm_system, d.source_system);

-- Strong evidence, one row per project, customer and kind (a kind may point at several customers):
-- explicit_link, siret, siren, vat, name, domain.
CREATE TEMPORARY TABLE identity_evidence AS
WITH
-- SIREN (9 digits), SIRET (14) and FR VAT numbers written in the name or description, spaced or not.
identifier_tokens AS (
    SELECT DISTINCT p.project_key, regexp_replace(m[1], '[ .]', '', 'g') AS token
      FROM identity_projects p,
           regexp_matches(upper(p.free_text),
                          '(?<![0-9A-Z])(FR[ .]?[0-9A-Z]{2}[ .]?[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{3}'
                          '|[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{5}'
                          '|[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{3})(?![0-9])', 'g') AS m
),
-- Every run of consecutive words of the normalised project name, up to the longest customer name.
name_grams AS (
    SELECT p.project_key, w.first_word, w.first_word + n.word_count - 1 AS last_word,
           array_to_string(p.words[w.first_word : w.first_word + n.word_count - 1], ' ') AS gram
      FROM identity_projects p
     CROSS JOIN LATERAL unnest(p.words) WITH ORDINALITY AS w(word, first_word)
     CROSS JOIN generate_series(1, (SELECT max(array_length(string_to_array(full_name, ' '), 1))
                                      FROM identity_customers)) AS n(word_count)
     WHERE w.first_word + n.word_count - 1 <= cardinality(p.words)
),
-- The full legal name may appear anywhere ("Projet Torres EURL"); the name without its legal form is
-- only trusted at the start of the project name, where the tools' conventions put the customer.
name_matches AS (
    SELECT g.project_key, c.customer_key, g.first_word, g.last_word, g.gram
      FROM name_grams g JOIN identity_customers c ON c.full_name = g.gram
    UNION
    SELECT g.project_key, c.customer_key, g.first_word, g.last_word, g.gram
      FROM name_grams g JOIN identity_customers c ON c.core_name = g.gram
     WHERE g.first_word = 1
),
-- Host names in the text (e-mail addresses, URLs), one row per suffix of at least two labels
-- (www.travaux-vallet.fr, travaux-vallet.fr).
host_suffixes AS (
    SELECT h.project_key, array_to_string(h.labels[s.suffix_start:], '.') AS domain
      FROM (SELECT p.project_key, string_to_array(m[1], '.') AS labels
              FROM identity_projects p,
                   regexp_matches(lower(p.free_text), '([a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+)', 'g') AS m) AS h
     CROSS JOIN LATERAL unnest(h.labels[2:]) WITH ORDINALITY AS s(label, suffix_start)
)
SELECT e.project_key, e.customer_key, 'explicit_link' AS kind, e.deal_key,
       format('CRM link %s → deal %s "%s"', e.link, e.deal_key, e.deal_name) AS detail
  FROM identity_explicit e
 WHERE e.customer_key IN (SELECT customer_key FROM identity_customers)
UNION ALL
SELECT t.project_key, c.customer_key, 'siret', NULL, 'SIRET ' || t.token
  FROM identifier_tokens t JOIN identity_customers c ON c.siret = t.token
UNION ALL
-- A SIRET of another establishment still names the company through its first 9 digits.
SELECT t.project_key, c.customer_key, 'siren', NULL, 'SIREN ' || c.siren
  FROM identifier_tokens t JOIN identity_customers c ON c.siren = left(t.token, 9)
 WHERE t.token ~ '^[0-9]'
UNION ALL
SELECT t.project_key, c.customer_key, 'vat', NULL, 'VAT number ' || t.token
  FROM identifier_tokens t JOIN identity_customers c ON c.vat_number = t.token
UNION ALL
-- A match inside a longer match is not evidence: "Renaud Frères SAS" also contains "Renaud".
SELECT DISTINCT m.project_key, m.customer_key, 'name', NULL, 'name "' || m.gram || '"'
  FROM name_matches m
 WHERE NOT EXISTS (SELECT FROM name_matches longer
                    WHERE longer.project_key = m.project_key
                      AND longer.first_word <= m.first_word AND longer.last_word >= m.last_word
                      AND longer.last_word - longer.first_word > m.last_word - m.first_word)
UNION ALL
-- Only domains that identify one customer: a webmail domain shared by individuals identifies nobody.
SELECT DISTINCT h.project_key, c.customer_key, 'domain', NULL, 'domain ' || c.email_domain
  FROM host_suffixes h JOIN identity_customers c ON c.email_domain = h.domain
 WHERE c.email_domain IN (SELECT email_domain FROM identity_customers GROUP BY email_domain HAVING count(*) = 1);

-- Weak evidence, for projects without strong evidence, never enough to link: a word of the project
-- name that starts several companies' names ("Boutiques – Audit": Boutiques Gilbert, Boutiques Huet).
-- Individuals are left out: their first name is a common word.
CREATE TEMPORARY TABLE identity_partial AS
SELECT DISTINCT w.project_key, c.customer_key
  FROM (SELECT p.project_key, unnest(p.words) AS word
          FROM identity_projects p
         WHERE NOT EXISTS (SELECT FROM identity_evidence e WHERE e.project_key = p.project_key)) AS w
  JOIN identity_customers c ON split_part(coalesce(c.core_name, c.full_name), ' ', 1) = w.word
 WHERE strpos(coalesce(c.core_name, c.full_name), ' ') > 0
   AND length(w.word) >= 4
   AND c.customer_type IS DISTINCT FROM 'B2C';

ANALYZE identity_explicit, identity_evidence, identity_partial;
