{% import 'zoho_macros.sql' as zoho %}
{{ zoho.contacts('bigin', full) }}
