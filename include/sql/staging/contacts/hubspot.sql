{% import 'macros.sql' as m %}
-- HubSpot contact → staging.contacts. The contact's company is not a property: the extract stores the
-- v4 contact→company associations under associations.companies; the first one is the employer (the
-- company property is free text and is not used). The cursor is lastmodifieddate.
(
WITH contact AS (
    SELECT record_id, cursor_value, payload->'properties' AS prop,
           payload->'associations'->'companies'->>0 AS company_id
      FROM {{ m.changed('hubspot', 'contacts', full) }} AS current_contact
)
SELECT {{ m.key('hubspot', 'record_id') }} AS contact_key,
       'hubspot'::text AS source_system,
       record_id AS source_id,
       {{ m.key('hubspot', m.text('company_id')) }} AS customer_key,
       {{ m.text("prop->>'firstname'") }} AS first_name,
       {{ m.text("prop->>'lastname'") }} AS last_name,
       lower({{ m.text("prop->>'email'") }}) AS email,
       {{ m.text("prop->>'phone'") }} AS phone,
       {{ m.text("prop->>'jobtitle'") }} AS job_title,
       cursor_value AS source_updated_at
  FROM contact
)
