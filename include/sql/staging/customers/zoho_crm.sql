{% import 'zoho_macros.sql' as zoho %}
{{ zoho.customers('zoho_crm', full) }}
