-- marts.deal_delivery: per won deal delivered in a project tool, what the sync writes back to its CRM.
-- A deal is delivered by the projects identity resolution links to it (staging.project_links.deal_key).
-- Progress counts those projects' tasks; hours are their time entries (billable as the entry says, else as
-- its project says, else not billable). Amounts come from Passerelle's own invoices: an invoiced item
-- belongs to the deal of its deal line, or of the project its time entry is booked on; credited items do not
-- count. Paid = each invoice's net amount for the deal times the part of the invoice paid (capped at 1).
-- Rebuilt whole in one transaction.
DELETE FROM marts.deal_delivery;

INSERT INTO marts.deal_delivery (
    deal_key, crm_system, crm_id, currency, projects, project_url, tasks_total, tasks_done, percent_done,
    hours_billable, hours_non_billable, amount_to_invoice, amount_invoiced, amount_paid, next_milestone,
    next_milestone_date
)
WITH linked AS MATERIALIZED (
    SELECT pl.deal_key, pl.project_key, pr.source_system, pr.name, pr.billable
      FROM staging.project_links AS pl
      JOIN staging.projects AS pr ON pr.project_key = pl.project_key
      JOIN staging.deals AS d ON d.deal_key = pl.deal_key AND d.is_won
),
projects AS (
    SELECT deal_key, string_agg(source_system || ' : ' || coalesce(name, project_key), ' ; ' ORDER BY project_key) AS projects
      FROM linked GROUP BY deal_key
),
tasks AS (
    SELECT l.deal_key, count(*) AS total, count(*) FILTER (WHERE t.status = 'done') AS done
      FROM linked AS l JOIN staging.tasks AS t ON t.project_key = l.project_key
     GROUP BY l.deal_key
),
hours AS (
    SELECT l.deal_key,
           coalesce(sum(te.hours) FILTER (WHERE coalesce(te.billable, l.billable, false)), 0) AS billable,
           coalesce(sum(te.hours) FILTER (WHERE NOT coalesce(te.billable, l.billable, false)), 0) AS non_billable
      FROM linked AS l JOIN staging.time_entries AS te ON te.project_key = l.project_key
     GROUP BY l.deal_key
),
item_deal AS (
    SELECT ii.item_key, ii.invoice_number, ii.amount, coalesce(dl.deal_key, l.deal_key) AS deal_key
      FROM billing.invoiced_items AS ii
      LEFT JOIN staging.deal_lines AS dl ON dl.deal_line_key = ii.source_key
      LEFT JOIN staging.time_entries AS te ON te.time_entry_key = ii.source_key
      LEFT JOIN linked AS l ON l.project_key = te.project_key
     WHERE ii.credited_by IS NULL
),
paid AS (
    SELECT invoice_number, sum(amount) AS amount FROM billing.payments GROUP BY invoice_number
),
invoice_paid AS (
    SELECT i.invoice_number, least(1, coalesce(p.amount, 0) / nullif(i.due_payable, 0)) AS ratio
      FROM marts.invoices AS i LEFT JOIN paid AS p ON p.invoice_number = i.invoice_number
),
invoiced AS (
    SELECT it.deal_key, sum(it.amount) AS invoiced, round(sum(it.amount * coalesce(ip.ratio, 0)), 2) AS paid
      FROM item_deal AS it LEFT JOIN invoice_paid AS ip ON ip.invoice_number = it.invoice_number
     WHERE it.deal_key IS NOT NULL
     GROUP BY it.deal_key
),
to_invoice AS (
    SELECT bi.deal_key,
           round(sum(bi.quantity * bi.unit_price * (1 - bi.discount_percent / 100)), 2) AS amount
      FROM marts.billable_items AS bi
     WHERE bi.deal_key IS NOT NULL
       AND NOT EXISTS (SELECT FROM billing.invoiced_items AS ii WHERE ii.item_key = bi.item_key AND ii.credited_by IS NULL)
     GROUP BY bi.deal_key
),
next_milestone AS (
    SELECT DISTINCT ON (l.deal_key) l.deal_key, m.name, m.due_date
      FROM linked AS l JOIN staging.milestones AS m ON m.project_key = l.project_key
     WHERE m.status = 'open'
     ORDER BY l.deal_key, m.due_date NULLS LAST, m.name
)
SELECT d.deal_key, d.source_system, d.source_id, d.currency, p.projects,
       (SELECT sl.pm_url FROM sync.links AS sl
         WHERE sl.crm_system = d.source_system AND sl.crm_object = 'deal' AND sl.crm_id = d.source_id
           AND sl.link_kind = 'deal_project' AND sl.state = 'active') AS project_url,
       coalesce(t.total, 0), coalesce(t.done, 0),
       CASE WHEN t.total > 0 THEN round(100.0 * t.done / t.total)::int END,
       coalesce(h.billable, 0), coalesce(h.non_billable, 0), coalesce(ti.amount, 0),
       coalesce(inv.invoiced, 0), coalesce(inv.paid, 0), nm.name, nm.due_date
  FROM projects AS p
  JOIN staging.deals AS d ON d.deal_key = p.deal_key
  LEFT JOIN tasks AS t ON t.deal_key = p.deal_key
  LEFT JOIN hours AS h ON h.deal_key = p.deal_key
  LEFT JOIN invoiced AS inv ON inv.deal_key = p.deal_key
  LEFT JOIN to_invoice AS ti ON ti.deal_key = p.deal_key
  LEFT JOIN next_milestone AS nm ON nm.deal_key = p.deal_key;

ANALYZE marts.deal_delivery;
