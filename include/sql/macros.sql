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

{#- Incremental staging models (tasks, time entries): rebuild only the rows of the records that loads
    after the model's watermarks brought (audit.staging_watermarks, one per raw stream read).
    ``sources`` declares, per source system, its ``driver``: the stream whose record a staged row is
    (its source_id), rebuilt record by record; and ``reads``: the other streams its SQL looks into,
    a change in which rebuilds that source's rows whole (as does any change of a source without a
    driver: its rows depend on several records each). A source whose streams have no new load is left
    alone. ``full`` (DAG param ``full_refresh``, PASSERELLE_FULL_REFRESH) rebuilds everything, as does
    the first run of a model for a source (no watermark yet). -#}
{% macro is_full_refresh(params) -%}
{{ 'full' if params.get('full_refresh', false) in (true, 'true', 'True', '1', 1) else 'incremental' }}
{%- endmacro %}

{#- Before the INSERT: work out what changed and delete the rows to rebuild. Temp tables:
    staging_changes (per stream read: its watermark and newest load), staging_whole (sources rebuilt
    whole), staging_scope (driver records rebuilt one by one). -#}
{% macro incremental_start(model, table, sources, full) -%}
CREATE TEMP TABLE staging_changes (source text, stream text, driver boolean, last_load_id bigint,
                                   newest_load_id bigint) ON COMMIT DROP;
INSERT INTO audit.staging_watermarks (model, source, stream)
VALUES {% for s in sources %}{% for stream in ([s.driver] if s.driver else []) + s.reads -%}
('{{ model }}', '{{ s.source }}', '{{ stream }}'){{ ", " if not loop.last }}{% endfor %}{{ ", " if not loop.last }}{% endfor %}
ON CONFLICT DO NOTHING;
-- The versions loads after a stream's watermark brought. One scan from the oldest watermark, with that
-- load id as a literal so the planner reads only the newest block ranges (BRIN on raw.records.load_id).
CREATE TEMP TABLE staging_new (source text, stream text, record_id text, load_id bigint) ON COMMIT DROP;
{% if not full -%}
DO $incremental$
DECLARE
    oldest bigint;
BEGIN
    SELECT min(last_load_id) INTO oldest
      FROM audit.staging_watermarks WHERE model = '{{ model }}' AND last_load_id > 0;
    IF oldest IS NOT NULL THEN
        EXECUTE format($new$
            INSERT INTO staging_new
            SELECT r.source, r.stream, r.record_id, r.load_id
              FROM raw.records AS r
              JOIN audit.staging_watermarks AS w ON w.source = r.source AND w.stream = r.stream
             WHERE w.model = '{{ model }}' AND w.last_load_id > 0 AND r.load_id > w.last_load_id
               AND r.load_id > %s$new$, oldest);
    END IF;
END
$incremental$;
{%- endif %}
INSERT INTO staging_changes
SELECT w.source, w.stream, w.stream IS NOT DISTINCT FROM d.driver, w.last_load_id,
       CASE WHEN w.last_load_id > 0 AND {{ "false" if full else "true" }}
            THEN (SELECT max(n.load_id) FROM staging_new AS n WHERE n.source = w.source AND n.stream = w.stream)
            -- a full refresh, or a stream never processed: its newest load, by the version key's range
            ELSE (SELECT max(r.load_id) FROM raw.records AS r WHERE r.source = w.source AND r.stream = w.stream)
       END
  FROM audit.staging_watermarks AS w
  JOIN (VALUES {% for s in sources %}('{{ s.source }}', {{ "'" ~ s.driver ~ "'" if s.driver else "NULL" }}::text)
               {{- ", " if not loop.last }}{% endfor %}) AS d(source, driver)
    ON d.source = w.source
 WHERE w.model = '{{ model }}';
{% if full -%}
DELETE FROM {{ table }};
{%- else -%}
-- Rows quarantined by validation are out of staging: their records are rebuilt on every run, as a full
-- rebuild would bring them back (an orphan whose parent has since arrived must pass again).
CREATE TEMP TABLE staging_held ON COMMIT DROP AS
SELECT DISTINCT q.source_system AS source, q.source_id AS record_id
  FROM quality.quarantine AS q
 WHERE q.table_name = '{{ table }}' AND q.released_at IS NULL;
CREATE TEMP TABLE staging_whole ON COMMIT DROP AS
SELECT source FROM staging_changes
 WHERE newest_load_id IS NOT NULL AND (NOT driver OR last_load_id = 0)  -- a lookup changed, or never built
 UNION
SELECT h.source FROM staging_held AS h
 WHERE h.source IN ({% for s in sources if not s.driver %}'{{ s.source }}', {% endfor %}NULL);
CREATE TEMP TABLE staging_scope ON COMMIT DROP AS
SELECT n.source, n.record_id
  FROM staging_new AS n
  JOIN staging_changes AS c ON c.source = n.source AND c.stream = n.stream
 WHERE c.driver AND c.source NOT IN (SELECT source FROM staging_whole)
 UNION
SELECT h.source, h.record_id FROM staging_held AS h
 WHERE h.source IN ({% for s in sources if s.driver %}'{{ s.source }}', {% endfor %}NULL)
   AND h.source NOT IN (SELECT source FROM staging_whole);
ANALYZE staging_scope;
DELETE FROM {{ table }} AS t
 WHERE t.source_system IN (SELECT source FROM staging_whole)
    OR (t.source_system, t.source_id) IN (SELECT source, record_id FROM staging_scope);
{%- endif %}
{%- endmacro %}

{#- The current version of a source's driver records to rebuild: those of staging_scope, or all of them
    when the source is rebuilt whole (or on a full refresh). Same columns as ``current``. -#}
{% macro changed(source, stream, full) -%}
{% if full -%}
{{ current(source, stream) }}
{%- else -%}
(SELECT record_id, cursor_value, payload
   FROM (SELECT DISTINCT ON (r.record_id) r.record_id, r.cursor_value, r.is_deleted, r.payload
           FROM raw.records AS r
          WHERE r.source = '{{ source }}' AND r.stream = '{{ stream }}'
            AND r.record_id IN (SELECT record_id FROM staging_scope WHERE source = '{{ source }}')
          ORDER BY r.record_id, r.cursor_value DESC, r.is_deleted DESC) AS latest
  WHERE NOT is_deleted
  UNION ALL
 SELECT record_id, cursor_value, payload FROM {{ current(source, stream) }} AS every
  WHERE EXISTS (SELECT FROM staging_whole WHERE source = '{{ source }}'))
{%- endif %}
{%- endmacro %}

{#- Whether one source's SELECT runs: always on a full refresh or when the source has a driver (which
    ``changed`` narrows); a source without a driver only when it is rebuilt whole. -#}
{% macro runs(spec, full) -%}
{{ "TRUE" if full or spec.driver else "EXISTS (SELECT FROM staging_whole WHERE source = '" ~ spec.source ~ "')" }}
{%- endmacro %}

{#- After the INSERT: move the watermarks to the newest load read. -#}
{% macro incremental_finish(model, full) -%}
UPDATE audit.staging_watermarks AS w
   SET last_load_id = c.newest_load_id, refreshed_at = now(), mode = '{{ "full" if full else "incremental" }}'
  FROM staging_changes AS c
 WHERE w.model = '{{ model }}' AND w.source = c.source AND w.stream = c.stream AND c.newest_load_id IS NOT NULL;
{%- endmacro %}

{#- A staging build: first statement of its file. It reads raw in one snapshot, so what it records with
    ``record_horizon`` is exactly what it read, whatever loads commit meanwhile. -#}
{% macro build_start() -%}
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
{%- endmacro %}

{#- A staging build: last statement of its file. The newest load of every raw stream in the build's
    snapshot; validation counts raw as of these loads (passerelle.quality.load.live_raw_count). -#}
{% macro record_horizon(table) -%}
DELETE FROM audit.staging_horizons WHERE table_name = '{{ table }}';
INSERT INTO audit.staging_horizons (table_name, source, stream, load_id)
SELECT '{{ table }}', source, stream, max(load_id) FROM audit.load_log GROUP BY source, stream;
{%- endmacro %}
