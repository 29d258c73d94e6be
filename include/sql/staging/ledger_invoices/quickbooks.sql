{% import 'macros.sql' as m %}
-- QuickBooks Online Invoice and CreditMemo → staging.ledger_invoices. Invoices and credit memos share one id
-- sequence in a company, so the key is '<source>:<Id>' for both. Amounts exact (NUMERIC from the JSON digits).
(
SELECT {{ m.key('quickbooks', 'd.record_id') }} AS ledger_document_key,
       'quickbooks'::text AS source_system,
       d.record_id AS source_id,
       d.document_type,
       {{ m.text("d.payload->>'DocNumber'") }} AS document_number,
       {{ m.key('quickbooks', "d.payload->'CustomerRef'->>'value'") }} AS ledger_customer_key,
       {{ m.date("d.payload->>'TxnDate'") }} AS txn_date,
       {{ m.date("d.payload->>'DueDate'") }} AS due_date,
       {{ m.number("d.payload->>'TotalAmt'", 16) }} AS total_amount,
       {{ m.number("d.payload->>'Balance'", 16) }} AS balance,
       upper({{ m.text("d.payload->'CurrencyRef'->>'value'") }})::char(3) AS currency,
       d.cursor_value AS source_updated_at
  FROM (SELECT 'Invoice'::text AS document_type, i.* FROM {{ m.current('quickbooks', 'invoices') }} AS i
        UNION ALL
        SELECT 'CreditMemo'::text, cm.* FROM {{ m.current('quickbooks', 'credit_memos') }} AS cm) AS d
)
