{#- What can be invoiced for the billing period ending (exclusive) on params.period_end, and what cannot.

    Rebuilds marts.billable_items and marts.billing_exceptions together in one transaction. Amounts are
    net of the ledger (billing.invoiced_items), so the result only ever holds what is still to bill.

    How a won deal is billed (first that applies): billing.deal_terms; instalments in
    billing.billing_schedules; the deal's own words ("en régie"/"au temps passé": time and materials,
    "par jalons"/"à l'avancement": milestones); otherwise a fixed price billed once won.
    Fixed, schedule and milestone deals bill each line's net amount × the cumulative share due by the
    period end (1 once won; the schedule's percentages; completed / all milestones of the deal's
    projects) minus what the ledger already holds for the line, so a share is never billed twice and
    the last instalment absorbs the rounding. Time is billed on time-and-materials deals and on mapped
    projects without a deal; time on a fixed-price deal is part of its price.

    Hourly rate precedence (first found, latest valid_from within a scope): rate card of the deal, rate
    card of the project, the deal's own hourly line (a product sold per hour), rate card of the person,
    the default rate card. -#}
SET LOCAL work_mem = '64MB';

CREATE TEMP TABLE billing_customers ON COMMIT DROP AS
SELECT c.customer_key, c.legal_name, c.customer_type, c.siren, c.vat_number, c.einvoicing_address, c.billing_country_code,
       CASE
         WHEN c.billing_country_code IS NULL THEN 'billing country unknown (billing_country_raw = '
              || coalesce(quote_literal(c.billing_country_raw), 'NULL') || ')'
         WHEN c.customer_type = 'B2C' THEN NULL
         WHEN c.billing_country_code <> 'FR' AND c.vat_number IS NULL
              THEN 'vat_number missing: a company outside France is identified by it on the invoice and in the '
                   || 'e-reporting (Flux 10 G6.28)'
         WHEN c.billing_country_code <> 'FR' THEN NULL
         WHEN c.siren IS NULL THEN 'siren missing: a French company needs its SIREN on the invoice (BT-47, BR-FR-11)'
         WHEN c.einvoicing_address IS NULL THEN 'einvoicing_address missing: BT-49 is mandatory (BR-FR-12)'
         WHEN c.vat_number LIKE 'FR%' AND c.vat_number IS DISTINCT FROM reference.fr_vat_number(c.siren)
              THEN 'vat_number ' || quote_literal(c.vat_number) || ' is not built on the SIREN (expected '
                   || coalesce(reference.fr_vat_number(c.siren), 'a valid SIREN first') || ')'
         WHEN c.billing_city IS NULL OR c.billing_postcode IS NULL THEN 'billing address incomplete (city/postcode)'
       END AS not_ready
  FROM staging.customers c;

CREATE TEMP TABLE billing_deals ON COMMIT DROP AS
SELECT d.deal_key, d.customer_key, d.name, d.currency, d.won_date, d.amount,
       CASE
         WHEN dt.billing_mode IS NOT NULL THEN dt.billing_mode
         WHEN EXISTS (SELECT FROM billing.billing_schedules s WHERE s.deal_key = d.deal_key) THEN 'schedule'
         WHEN reference.normalise(d.description) ~ '(en regie|au temps passe)' THEN 'time_and_materials'
         WHEN reference.normalise(d.description) ~ 'par jalons' THEN 'milestones'
         ELSE 'fixed'
       END AS billing_mode
  FROM staging.deals d
  LEFT JOIN billing.deal_terms dt USING (deal_key)
 WHERE d.is_won AND d.won_date < DATE '{{ params.period_end }}';

-- Cumulative share of each deal due by the period end, and the day it became due.
CREATE TEMP TABLE deal_shares ON COMMIT DROP AS
SELECT d.deal_key, 1.0::numeric AS share, d.won_date AS billable_on, NULL::text AS problem
  FROM billing_deals d WHERE d.billing_mode = 'fixed'
UNION ALL
SELECT d.deal_key, least(sum(s.percent) / 100, 1), max(s.bill_on), NULL
  FROM billing_deals d JOIN billing.billing_schedules s USING (deal_key)
 WHERE d.billing_mode = 'schedule' AND s.bill_on < DATE '{{ params.period_end }}'
 GROUP BY d.deal_key
UNION ALL
SELECT d.deal_key,
       CASE WHEN count(m.milestone_key) > 0
            THEN count(m.milestone_key) FILTER (WHERE m.completed_at < DATE '{{ params.period_end }}')::numeric
                 / count(m.milestone_key) END,
       max(m.completed_at) FILTER (WHERE m.completed_at < DATE '{{ params.period_end }}')::date,
       CASE WHEN count(m.milestone_key) = 0 THEN 'no_milestones' END
  FROM billing_deals d
  LEFT JOIN staging.project_links pl ON pl.deal_key = d.deal_key
  LEFT JOIN staging.milestones m ON m.project_key = pl.project_key
 WHERE d.billing_mode = 'milestones'
 GROUP BY d.deal_key;

CREATE TEMP TABLE candidate_items ON COMMIT DROP AS
WITH lines AS (
    SELECT dl.deal_line_key, d.deal_key, d.customer_key, d.currency, d.billing_mode, s.share, s.billable_on,
           coalesce(dl.name, p.name, 'Ligne ' || dl.source_id) AS item_name, dl.description, dl.product_key,
           coalesce(p.family = 'Matériel', p.sku LIKE 'MAT-%', false) AS is_goods,
           CASE coalesce(p.unit, CASE right(p.sku, 2) WHEN '-H' THEN 'heure' WHEN '-J' THEN 'jour'
                                                      WHEN '-F' THEN 'forfait' END)
             WHEN 'heure' THEN 'HUR' WHEN 'jour' THEN 'DAY' WHEN 'forfait' THEN 'LS' ELSE 'C62' END AS unit_code,
           dl.quantity, dl.unit_price, coalesce(dl.discount_percent, 0) AS discount_percent,
           coalesce(dl.vat_rate, p.vat_rate) AS vat_rate,
           round(round(dl.quantity * dl.unit_price, 2)
                 - round(round(dl.quantity * dl.unit_price, 2) * coalesce(dl.discount_percent, 0) / 100, 2), 2) AS line_net
      FROM billing_deals d
      JOIN deal_shares s USING (deal_key)
      JOIN staging.deal_lines dl ON dl.deal_key = d.deal_key
      LEFT JOIN staging.products p ON p.product_key = dl.product_key
     WHERE s.share > 0
), billed AS (
    SELECT source_key, sum(amount) AS amount FROM billing.invoiced_items WHERE credited_by IS NULL GROUP BY source_key
)
SELECT 'deal_line:' || l.deal_line_key || '@' || round(l.share * 100, 2) AS item_key, 'deal_line' AS item_kind,
       l.deal_line_key AS source_key, l.customer_key, l.deal_key, NULL::text AS project_key, NULL::text AS person_key,
       l.billing_mode, l.billable_on,
       CASE WHEN l.share = 1 AND coalesce(b.amount, 0) = 0 THEN l.item_name
            ELSE l.item_name || ' - ' || replace(round(l.share * 100, 2)::text, '.', ',') || ' % cumulés'
                 || CASE l.billing_mode WHEN 'milestones' THEN ' (jalons atteints)' ELSE ' (échéancier)' END
       END AS item_name,
       l.description, l.product_key, l.is_goods,
       CASE WHEN l.share = 1 AND coalesce(b.amount, 0) = 0 THEN l.unit_code ELSE 'C62' END AS unit_code,
       CASE WHEN l.share = 1 AND coalesce(b.amount, 0) = 0 THEN l.quantity ELSE 1 END AS quantity,
       CASE WHEN l.share = 1 AND coalesce(b.amount, 0) = 0 THEN l.unit_price
            ELSE round(l.line_net * l.share, 2) - coalesce(b.amount, 0) END AS unit_price,
       CASE WHEN l.share = 1 AND coalesce(b.amount, 0) = 0 THEN l.discount_percent ELSE 0 END AS discount_percent,
       round(l.line_net * l.share, 2) - coalesce(b.amount, 0) AS amount,
       l.currency, l.vat_rate, NULL::text AS rate_source
  FROM lines l
  LEFT JOIN billed b ON b.source_key = l.deal_line_key
 WHERE round(l.line_net * l.share, 2) - coalesce(b.amount, 0) > 0
UNION ALL
SELECT 'time:' || t.time_entry_key, 'time', t.time_entry_key, pl.customer_key, pl.deal_key, t.project_key,
       t.person_key, coalesce(d.billing_mode, 'time_and_materials'), t.entry_date,
       coalesce(r.item_name, 'Prestations au temps passé') || ' - ' || pr.name, t.description, NULL, false, 'HUR',
       t.hours, r.hourly_rate, 0, round(t.hours * r.hourly_rate, 2), r.currency, r.vat_rate, r.rate_source
  FROM staging.time_entries t
  JOIN staging.projects pr ON pr.project_key = t.project_key
  JOIN staging.project_links pl ON pl.project_key = t.project_key AND pl.customer_key IS NOT NULL
  LEFT JOIN billing_deals d ON d.deal_key = pl.deal_key
  LEFT JOIN LATERAL (
      SELECT hourly_rate, currency, vat_rate, item_name, rate_source FROM (
          SELECT 1 AS precedence, 'deal' AS rate_source, rc.hourly_rate, rc.currency, rc.vat_rate, rc.item_name, rc.valid_from
            FROM billing.rate_cards rc WHERE rc.scope = 'deal' AND rc.scope_key = pl.deal_key
             AND t.entry_date BETWEEN rc.valid_from AND coalesce(rc.valid_to, 'infinity')
          UNION ALL
          SELECT 2, 'project', rc.hourly_rate, rc.currency, rc.vat_rate, rc.item_name, rc.valid_from
            FROM billing.rate_cards rc WHERE rc.scope = 'project' AND rc.scope_key = t.project_key
             AND t.entry_date BETWEEN rc.valid_from AND coalesce(rc.valid_to, 'infinity')
          UNION ALL
          SELECT 3, 'deal_line', dl.unit_price, dd.currency, dl.vat_rate, coalesce(dl.name, p.name), NULL
            FROM staging.deal_lines dl JOIN staging.deals dd ON dd.deal_key = dl.deal_key
            JOIN staging.products p ON p.product_key = dl.product_key
           WHERE dl.deal_key = pl.deal_key AND (p.unit = 'heure' OR p.sku LIKE '%-H')
          UNION ALL
          SELECT 4, 'person', rc.hourly_rate, rc.currency, rc.vat_rate, rc.item_name, rc.valid_from
            FROM billing.rate_cards rc WHERE rc.scope = 'person' AND rc.scope_key = t.person_key
             AND t.entry_date BETWEEN rc.valid_from AND coalesce(rc.valid_to, 'infinity')
          UNION ALL
          SELECT 5, 'default', rc.hourly_rate, rc.currency, rc.vat_rate, rc.item_name, rc.valid_from
            FROM billing.rate_cards rc WHERE rc.scope = 'default'
             AND t.entry_date BETWEEN rc.valid_from AND coalesce(rc.valid_to, 'infinity')
      ) rates ORDER BY precedence, valid_from DESC NULLS LAST LIMIT 1
  ) r ON true
 WHERE t.entry_date < DATE '{{ params.period_end }}' AND t.hours > 0
   AND coalesce(t.billable, pr.billable, true)
   AND (pl.deal_key IS NULL OR d.billing_mode = 'time_and_materials'
        OR NOT EXISTS (SELECT FROM staging.deals x WHERE x.deal_key = pl.deal_key AND x.is_won))
   AND NOT EXISTS (SELECT FROM billing.invoiced_items ii
                    WHERE ii.item_key = 'time:' || t.time_entry_key AND ii.credited_by IS NULL);

CREATE TEMP TABLE eur_rates ON COMMIT DROP AS
SELECT DISTINCT ON (currency) currency, eur_per_unit
  FROM billing.exchange_rates WHERE rate_date < DATE '{{ params.period_end }}'
 ORDER BY currency, rate_date DESC;

DELETE FROM marts.billing_exceptions;
DELETE FROM marts.billable_items;

INSERT INTO marts.billing_exceptions
    (source_key, kind, customer_key, project_key, deal_key, hours, amount, currency, reason, period_end)
SELECT i.project_key, 'missing_rate', i.customer_key, i.project_key, i.deal_key, sum(i.quantity), NULL, NULL,
       'no hourly rate for ' || count(*) || ' billable time entries of project ' || i.project_key
       || ': add a row to billing.rate_cards (scope deal, project, person or default)',
       DATE '{{ params.period_end }}'
  FROM candidate_items i WHERE i.item_kind = 'time' AND i.unit_price IS NULL
 GROUP BY i.project_key, i.customer_key, i.deal_key
UNION ALL
SELECT c.customer_key, 'customer_not_ready', c.customer_key, NULL, NULL, NULL, sum(i.amount), min(i.currency),
       'customer ' || c.customer_key || ' (' || coalesce(c.legal_name, '?') || '): ' || c.not_ready,
       DATE '{{ params.period_end }}'
  FROM candidate_items i JOIN billing_customers c USING (customer_key)
 WHERE c.not_ready IS NOT NULL
 GROUP BY c.customer_key, c.legal_name, c.not_ready
UNION ALL
SELECT i.customer_key || '/' || i.currency, 'missing_exchange_rate', i.customer_key, NULL, NULL, NULL,
       sum(i.amount), i.currency,
       'no EUR rate for ' || i.currency || ' before ' || DATE '{{ params.period_end }}'
       || ': add it to billing.exchange_rates (BT-111 needs the VAT total in EUR)',
       DATE '{{ params.period_end }}'
  FROM candidate_items i
 WHERE i.currency <> 'EUR' AND NOT EXISTS (SELECT FROM eur_rates e WHERE e.currency = i.currency)
 GROUP BY i.customer_key, i.currency
UNION ALL
SELECT d.deal_key, 'deal_without_lines', d.customer_key, NULL, d.deal_key, NULL, d.amount, d.currency,
       'won deal ' || d.deal_key || ' (' || coalesce(d.name, '?') || ') has no line items: add them in the CRM',
       DATE '{{ params.period_end }}'
  FROM billing_deals d
 WHERE d.billing_mode <> 'time_and_materials'
   AND NOT EXISTS (SELECT FROM staging.deal_lines dl WHERE dl.deal_key = d.deal_key)
UNION ALL
SELECT s.deal_key, 'no_milestones', d.customer_key, NULL, s.deal_key, NULL, d.amount, d.currency,
       'deal ' || s.deal_key || ' is billed by milestones but its projects have none: '
       || 'add milestones or set billing.deal_terms',
       DATE '{{ params.period_end }}'
  FROM deal_shares s JOIN billing_deals d USING (deal_key) WHERE s.problem = 'no_milestones'
UNION ALL
SELECT t.project_key, 'unmapped_project', NULL, t.project_key, NULL, sum(t.hours), NULL, NULL,
       'project ' || t.project_key || ' (' || coalesce(min(pr.name), '?') || ') is ' || min(e.problem) || ': '
       || min(e.detail) || ' - decide in staging.identity_overrides',
       DATE '{{ params.period_end }}'
  FROM staging.time_entries t
  JOIN staging.identity_exceptions e ON e.project_key = t.project_key
  LEFT JOIN staging.projects pr ON pr.project_key = t.project_key
 WHERE t.entry_date < DATE '{{ params.period_end }}' AND coalesce(t.billable, pr.billable, true)
 GROUP BY t.project_key
UNION ALL
SELECT q.record_key, 'quarantined', q.row_data->>'customer_key', q.row_data->>'project_key',
       q.row_data->>'deal_key', (q.row_data->>'hours')::numeric, NULL, NULL,
       'held in quality.quarantine (' || string_agg(q.rule || ': ' || q.reason, '; ' ORDER BY q.rule) || ')',
       DATE '{{ params.period_end }}'
  FROM quality.quarantine q
 WHERE q.released_at IS NULL
   AND q.table_name IN ('staging.deals', 'staging.deal_lines', 'staging.time_entries')
   AND (q.table_name <> 'staging.deals' OR (q.row_data->>'is_won')::boolean)
 GROUP BY q.record_key, q.row_data->>'customer_key', q.row_data->>'project_key', q.row_data->>'deal_key',
          q.row_data->>'hours';

INSERT INTO marts.billable_items
    (item_key, item_kind, source_key, customer_key, deal_key, project_key, person_key, billing_mode, billable_on,
     item_name, description, product_key, is_goods, unit_code, quantity, unit_price, discount_percent, amount,
     currency, vat_rate, rate_source, period_end)
SELECT i.item_key, i.item_kind, i.source_key, i.customer_key, i.deal_key, i.project_key, i.person_key,
       i.billing_mode, i.billable_on, i.item_name, i.description, i.product_key, i.is_goods, i.unit_code,
       i.quantity, i.unit_price, i.discount_percent, i.amount, i.currency, i.vat_rate, i.rate_source,
       DATE '{{ params.period_end }}'
  FROM candidate_items i
  JOIN billing_customers c USING (customer_key)
 WHERE i.unit_price IS NOT NULL AND c.not_ready IS NULL
   AND (i.currency = 'EUR' OR EXISTS (SELECT FROM eur_rates e WHERE e.currency = i.currency));
