{% import 'zoho_macros.sql' as zoho %}
{{ zoho.contacts('zoho_crm', full) }}
