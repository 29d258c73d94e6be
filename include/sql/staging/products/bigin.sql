{% import 'zoho_macros.sql' as zoho %}
{{ zoho.products('bigin', full) }}
