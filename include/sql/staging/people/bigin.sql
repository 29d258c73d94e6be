{% import 'zoho_macros.sql' as zoho %}
{{ zoho.people('bigin', full) }}
