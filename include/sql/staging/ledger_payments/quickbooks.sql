{% import 'macros.sql' as m %}
-- QuickBooks Online Payment → staging.ledger_payments and its Line[].LinkedTxn[] → staging.ledger_payment_applications.
-- Line[].Amount is what the line settles of its linked document; UnappliedAmt is the remainder of TotalAmt applied
-- to nothing (an over-payment, or a payment the bookkeeper named no invoice for).
INSERT INTO staging.ledger_payment_applications (
    ledger_payment_key, source_system, payment_id, line_number, link_number, linked_type, linked_id, amount
)
SELECT {{ m.key('quickbooks', 'p.record_id') }}, 'quickbooks', p.record_id, line.number::integer, link.number::integer,
       {{ m.text("link.value->>'TxnType'") }}, {{ m.text("link.value->>'TxnId'") }},
       {{ m.number("line.value->>'Amount'", 16) }}
  FROM {{ m.changed('quickbooks', 'payments', full) }} AS p
 CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(p.payload->'Line') = 'array'
                                              THEN p.payload->'Line' ELSE '[]'::jsonb END)
            WITH ORDINALITY AS line(value, number)
 CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(line.value->'LinkedTxn') = 'array'
                                              THEN line.value->'LinkedTxn' ELSE '[]'::jsonb END)
            WITH ORDINALITY AS link(value, number);

INSERT INTO staging.ledger_payments (
    ledger_payment_key, source_system, source_id, ledger_customer_key, paid_on, total_amount, unapplied_amount,
    currency, reference, note, applications, applications_valid, source_updated_at
)
SELECT {{ m.key('quickbooks', 'p.record_id') }},
       'quickbooks',
       p.record_id,
       {{ m.key('quickbooks', "p.payload->'CustomerRef'->>'value'") }},
       {{ m.date("p.payload->>'TxnDate'") }},
       {{ m.number("p.payload->>'TotalAmt'", 16) }},
       coalesce({{ m.number("p.payload->>'UnappliedAmt'", 16) }}, 0),
       upper({{ m.text("p.payload->'CurrencyRef'->>'value'") }})::char(3),
       {{ m.text("p.payload->>'PaymentRefNum'") }},
       {{ m.text("p.payload->>'PrivateNote'") }},
       coalesce(a.applications, 0),
       coalesce(a.valid, true),
       p.cursor_value
  FROM {{ m.changed('quickbooks', 'payments', full) }} AS p
  LEFT JOIN (SELECT payment_id, count(*)::integer AS applications,
                    bool_and(linked_type IN ('Invoice', 'CreditMemo') AND linked_id IS NOT NULL AND amount > 0) AS valid
               FROM staging.ledger_payment_applications WHERE source_system = 'quickbooks'
              GROUP BY payment_id) AS a ON a.payment_id = p.record_id;
