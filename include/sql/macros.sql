{#- Shared Jinja macros of the SQL models. Import with: {% import 'macros.sql' as m %} -#}

{#- The current version of every live record of one raw stream: latest by cursor, a tombstone at the
    same cursor wins, deleted records are left out. Columns: record_id, cursor_value, payload. -#}
{% macro current(source, stream) -%}
(SELECT record_id, cursor_value, payload FROM {{ latest(source, stream) }} AS latest WHERE NOT is_deleted)
{%- endmacro %}

{#- The latest version of every record of one raw stream, tombstones included (for sources whose
    "deleted" means archived). Columns: record_id, cursor_value, is_deleted, payload. -#}
{% macro latest(source, stream) -%}
(SELECT DISTINCT ON (record_id) record_id, cursor_value, is_deleted, payload
   FROM raw.records
  WHERE source = '{{ source }}' AND stream = '{{ stream }}'
  ORDER BY record_id, cursor_value DESC, is_deleted DESC)
{%- endmacro %}

{#- Every column of every monday.com board (archived boards too): board_id, column_id, column_type and
    the normalised title; boards name their columns freely, so models match on id, type and title. -#}
{% macro monday_board_columns() -%}
(SELECT b.record_id AS board_id, col->>'id' AS column_id, col->>'type' AS column_type,
        reference.normalise(col->>'title') AS title
   FROM {{ latest('monday', 'boards') }} AS b
  CROSS JOIN LATERAL jsonb_array_elements(
            CASE WHEN jsonb_typeof(b.payload->'columns') = 'array' THEN b.payload->'columns' END) AS col)
{%- endmacro %}

{#- Every live Jira issue and the project it is staged under: the deal epic it is, or is under (as a child or
    a child's sub-task), when raw jira.deal_epics holds that epic, else its Jira project. Columns: issue_id,
    project_key, is_deal_epic. Tasks and time entries both read it, so they always agree. -#}
{% macro jira_issue_projects() -%}
(WITH issues AS MATERIALIZED (SELECT record_id, payload FROM {{ current('jira', 'issues') }} AS c),
      epics AS MATERIALIZED (SELECT record_id FROM {{ current('jira', 'deal_epics') }} AS c)
 SELECT i.record_id AS issue_id,
        CASE WHEN coalesce(own.record_id, up.record_id, top.record_id) IS NOT NULL
             THEN 'jira:epic:' || coalesce(own.record_id, up.record_id, top.record_id)
             ELSE 'jira:' || (i.payload#>>'{fields,project,id}') END AS project_key,
        own.record_id IS NOT NULL AS is_deal_epic
   FROM issues AS i
   LEFT JOIN epics AS own ON own.record_id = i.record_id
   LEFT JOIN epics AS up ON up.record_id = i.payload#>>'{fields,parent,id}'
   LEFT JOIN issues AS parent ON parent.record_id = i.payload#>>'{fields,parent,id}'
   LEFT JOIN epics AS top ON top.record_id = parent.payload#>>'{fields,parent,id}')
{%- endmacro %}

{#- The warehouse key of a source record: '<source_system>:<source_id>' (NULL when the id is NULL). -#}
{% macro key(source, id_expression) -%}
('{{ source }}:' || ({{ id_expression }}))
{%- endmacro %}

{#- A JSON text value as trimmed text, NULL when empty. -#}
{% macro text(expression) -%}
NULLIF(btrim({{ expression }}), '')
{%- endmacro %}

{#- Identifier with spaces, dots and dashes removed (SIREN, SIRET, VAT numbers), upper case. -#}
{% macro compact(expression) -%}
NULLIF(upper(regexp_replace({{ expression }}, '[\s.\-]', '', 'g')), '')
{%- endmacro %}

{#- ISO 3166 alpha-2 code of a country spelled any way reference.country_aliases knows (NULL if unknown). -#}
{% macro country_code(expression) -%}
(SELECT ca.country_code FROM reference.country_aliases ca
  WHERE ca.alias = reference.normalise({{ expression }}))
{%- endmacro %}

{#- Defensive casts: NULL instead of an error for text that is not the expected shape, so one bad
    value never aborts a rebuild and the row still reaches validation (which then names it). -#}

{#- Exact NUMERIC of a JSON number or numeric string (never through float); NULL when the text is not
    a plain decimal or has more integer digits than the target column holds. -#}
{% macro number(expression, integer_digits=14) -%}
CASE WHEN btrim({{ expression }}) ~ '^[+-]?[0-9]{1,{{ integer_digits }}}(\.[0-9]*)?$'
     THEN btrim({{ expression }})::numeric END
{%- endmacro %}

{#- A date from 'YYYY-MM-DD' (anything after the day, such as a time, is ignored). -#}
{% macro date(expression) -%}
CASE WHEN {{ expression }} ~ '^\d{4}-\d{2}-\d{2}' THEN left({{ expression }}, 10)::date END
{%- endmacro %}

{#- A timestamptz from an ISO-8601 date-time; its own offset (Z, +0100, +01:00) is honoured. -#}
{% macro timestamp(expression) -%}
CASE WHEN {{ expression }} ~ '^\d{4}-\d{2}-\d{2}T' THEN ({{ expression }})::timestamptz END
{%- endmacro %}
