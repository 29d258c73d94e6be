{% import 'zoho_macros.sql' as zoho %}
{{ zoho.people('zoho_crm', full) }}
