{% import 'zoho_macros.sql' as zoho %}
{{ zoho.deals('bigin', 'Pipelines', full) }}
