{% import 'zoho_macros.sql' as zoho %}
{{ zoho.products('zoho_crm', full) }}
