{% import 'macros.sql' as m %}
-- Zoho Projects projects. A project created from a Zoho CRM deal carries the deal and its account in
-- 'crm' ({"account": {"id", "name"}, "deal": {"id", "name"}}): the deal id is the explicit CRM link
-- (crm_system 'zoho_crm'), which identity resolution follows to the deal and its customer. A project
-- created from an account only names no deal: crm_deal_id stays NULL, and the client company (the CRM
-- account, which Zoho maps by name) is appended to the description as 'Client : <name>', where identity
-- resolution finds the customer by name. billing_status 'Billable' / 'Non Billable' is the project's
-- default billability. Status: an 'Archived' status is archived, a closed status completed, else active.
SELECT {{ m.key('zoho_projects', 'p.record_id') }} AS project_key,
       'zoho_projects' AS source_system,
       p.record_id AS source_id,
       {{ m.text("p.payload->>'name'") }} AS name,
       NULLIF(concat_ws(E'\n', {{ m.text("p.payload->>'description'") }},
                        'Client : ' || {{ m.text("p.payload#>>'{client_company,name}'") }}), '') AS description,
       CASE WHEN {{ m.text("p.payload#>>'{crm,deal,id}'") }} IS NOT NULL THEN 'zoho_crm' END AS crm_system,
       {{ m.text("p.payload#>>'{crm,deal,id}'") }} AS crm_deal_id,
       CASE WHEN reference.normalise(p.payload#>>'{status,name}') = 'archived' THEN 'archived'
            WHEN p.payload#>'{status,is_closed}' = 'true' THEN 'completed'
            ELSE 'active'
       END AS status,
       CASE p.payload->>'billing_status' WHEN 'Billable' THEN true WHEN 'Non Billable' THEN false END AS billable,
       {{ m.date("p.payload->>'start_date'") }} AS start_date,
       {{ m.date("p.payload->>'end_date'") }} AS due_date,
       {{ m.timestamp("p.payload->>'created_time'") }} AS source_created_at,
       p.cursor_value AS source_updated_at
  FROM {{ m.changed('zoho_projects', 'projects', full) }} AS p
