{% import 'macros.sql' as m %}
-- Salesforce Opportunity → staging.deals. Amount is a JSON number (read as exact NUMERIC from its
-- text); CurrencyIsoCode exists in multi-currency orgs; IsClosed / IsWon are derived by Salesforce
-- from the stage, and CloseDate is a plain date (the actual close date once won). AccountId is the
-- customer, OwnerId the sales user. A project code PRJ-YYYY-NNN may be written in the Description.
-- The cursor is SystemModstamp.
(
WITH opportunity AS (
    SELECT record_id, cursor_value, payload AS p,
           CASE WHEN payload->>'CloseDate' ~ '^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$' THEN (payload->>'CloseDate')::date END
               AS close_date,
           {{ m.text("payload->>'Description'") }} AS description
      FROM {{ m.changed('salesforce', 'Opportunity', full) }} AS current_opportunity
)
SELECT {{ m.key('salesforce', 'record_id') }} AS deal_key,
       'salesforce'::text AS source_system,
       record_id AS source_id,
       {{ m.key('salesforce', m.text("p->>'AccountId'")) }} AS customer_key,
       {{ m.text("p->>'Name'") }} AS name,
       {{ m.number("p->>'Amount'", 16) }} AS amount,
       CASE WHEN btrim(p->>'CurrencyIsoCode') ~* '^[a-z]{3}$' THEN upper(btrim(p->>'CurrencyIsoCode')) END::char(3) AS currency,
       {{ m.text("p->>'StageName'") }} AS stage,
       (p->>'IsClosed')::boolean AS is_closed,
       (p->>'IsWon')::boolean AS is_won,
       close_date,
       CASE WHEN (p->>'IsWon')::boolean THEN close_date END AS won_date,
       {{ m.key('salesforce', m.text("p->>'OwnerId'")) }} AS owner_person_key,
       description,
       substring(description FROM '\mPRJ-[0-9]{4}-[0-9]{3}\M') AS project_code,
       (p->>'CreatedDate')::timestamptz AS source_created_at,
       cursor_value AS source_updated_at
  FROM opportunity
)
