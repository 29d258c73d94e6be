{% import 'zoho_macros.sql' as zoho %}
{{ zoho.deals('zoho_crm', 'Deals', full) }}
