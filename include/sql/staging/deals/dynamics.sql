{% import 'macros.sql' as m %}
-- Dynamics 365 opportunity (Dataverse Web API) → staging.deals. statecode says open (0), won (1) or lost
-- (2): the status and stage labels are the org's (and its language's), never read for the outcome.
-- The amount is actualvalue once won (else estimatedvalue), money exact from the JSON number; the
-- currency is the ISO code of the transactioncurrencies row _transactioncurrencyid_value names. The
-- customer is _customerid_value when it is an account, else _parentaccountid_value. close_date is
-- actualclosedate once closed (Edm.Date), else estimatedclosedate; the stage is stepname. The cursor is modifiedon.
(
WITH opportunity AS (
    SELECT record_id, cursor_value, payload AS p,
           CASE WHEN payload->>'statecode' ~ '^[0-9]+$' THEN (payload->>'statecode')::int END AS state,
           {{ m.text("payload->>'description'") }} AS description,
           COALESCE(CASE WHEN coalesce(payload->>'_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname', 'account')
                              = 'account' THEN {{ m.text("payload->>'_customerid_value'") }} END,
                    {{ m.text("payload->>'_parentaccountid_value'") }}) AS customer_id
      FROM {{ m.changed('dynamics', 'opportunities', full) }} AS current_opportunity
),
currency AS (
    SELECT record_id, upper(btrim(payload->>'isocurrencycode')) AS code
      FROM {{ m.current('dynamics', 'transactioncurrencies') }} AS current_currency
)
SELECT {{ m.key('dynamics', 'opportunity.record_id') }} AS deal_key,
       'dynamics'::text AS source_system,
       opportunity.record_id AS source_id,
       {{ m.key('dynamics', 'customer_id') }} AS customer_key,
       {{ m.text("p->>'name'") }} AS name,
       CASE WHEN state = 1 THEN COALESCE({{ m.number("p->>'actualvalue'", 16) }}, {{ m.number("p->>'estimatedvalue'", 16) }})
            ELSE {{ m.number("p->>'estimatedvalue'", 16) }} END AS amount,
       CASE WHEN currency.code ~ '^[A-Z]{3}$' THEN currency.code END::char(3) AS currency,
       {{ m.text("p->>'stepname'") }} AS stage,
       state IN (1, 2) AS is_closed,
       state = 1 AS is_won,
       CASE WHEN state IN (1, 2) THEN COALESCE({{ m.date("p->>'actualclosedate'") }}, {{ m.date("p->>'estimatedclosedate'") }})
            ELSE {{ m.date("p->>'estimatedclosedate'") }} END AS close_date,
       CASE WHEN state = 1 THEN COALESCE({{ m.date("p->>'actualclosedate'") }}, {{ m.date("p->>'estimatedclosedate'") }}) END AS won_date,
       {{ m.key('dynamics', m.text("p->>'_ownerid_value'")) }} AS owner_person_key,
       description,
       substring(description FROM '\mPRJ-[0-9]{4}-[0-9]{3}\M') AS project_code,
       {{ m.timestamp("p->>'createdon'") }} AS source_created_at,
       opportunity.cursor_value AS source_updated_at
  FROM opportunity
  LEFT JOIN currency ON currency.record_id = opportunity.p->>'_transactioncurrencyid_value'
)
