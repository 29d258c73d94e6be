{% import 'zoho_macros.sql' as zoho %}
{{ zoho.customers('bigin', full) }}
