{% import 'macros.sql' as m %}
-- Dynamics 365 contact (Dataverse Web API) → staging.contacts. _parentcustomerid_value is the employer
-- (an account; a contact's parent may also be a contact, then there is no customer). The cursor is modifiedon.
(
SELECT {{ m.key('dynamics', 'record_id') }} AS contact_key,
       'dynamics'::text AS source_system,
       record_id AS source_id,
       CASE WHEN coalesce(payload->>'_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname', 'account') = 'account'
            THEN {{ m.key('dynamics', m.text("payload->>'_parentcustomerid_value'")) }} END AS customer_key,
       {{ m.text("payload->>'firstname'") }} AS first_name,
       COALESCE({{ m.text("payload->>'lastname'") }}, {{ m.text("payload->>'fullname'") }}) AS last_name,
       lower({{ m.text("payload->>'emailaddress1'") }}) AS email,
       {{ m.text("payload->>'telephone1'") }} AS phone,
       {{ m.text("payload->>'jobtitle'") }} AS job_title,
       cursor_value AS source_updated_at
  FROM {{ m.changed('dynamics', 'contacts', full) }} AS current_contact
)
