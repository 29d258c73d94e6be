-- Example billing configuration (what a seller decides once, then maintains): the demo and the tests load it.
-- Rates are per hour excluding VAT; exchange rates are the EUR value of one unit (ECB-style reference rates).
INSERT INTO billing.rate_cards (scope, scope_key, hourly_rate, currency, vat_rate, item_name, note)
VALUES ('default', NULL, 85.00, 'EUR', 20, 'Prestations au temps passé', 'standard rate for time and materials');

INSERT INTO billing.exchange_rates (currency, rate_date, eur_per_unit, source) VALUES
    ('USD', DATE '2025-01-01', 0.925926, 'fixed example rate (1 EUR = 1.08 USD)'),
    ('GBP', DATE '2025-01-01', 1.176471, 'fixed example rate (1 EUR = 0.85 GBP)'),
    ('CHF', DATE '2025-01-01', 1.063830, 'fixed example rate (1 EUR = 0.94 CHF)')
ON CONFLICT DO NOTHING;
