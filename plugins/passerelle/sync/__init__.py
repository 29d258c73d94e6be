"""Two-way sync between the CRMs and the project tools.

A run first **plans** (what to create or update, and why) into ``sync.plan_items``; a dry run stops there.
The **apply** step then makes each planned write exactly once: the link and its idempotency key are recorded
before any vendor call, the key is stamped on what the vendor creates, and a run that finds a link still
pending looks the key up at the vendor before creating anything. Every call is kept in ``sync.writes``; a
write the vendor refuses is recorded with the vendor's message and never stops the others.

Modules: :mod:`.config` (the sync file), :mod:`.links` (links and audit in the warehouse),
:mod:`.deal_projects` (won deal → project: plan and apply), :mod:`.vendor_calls` (one audited HTTP write),
:mod:`.delivery_to_crm` (delivery figures → deal fields: plan and apply), :mod:`.deal_fields` (those fields),
:mod:`.crm_writers` (each CRM's writer: ``salesforce_deals``, ``hubspot_deals``, ``zoho_deals``, ``pipedrive_deals``,
``dynamics_deals``),
:mod:`.trello_projects` (projects as Trello boards), :mod:`.requests_to_tasks` (customer request → task and
back: plan and apply), :mod:`.hubspot_tickets` and :mod:`.salesforce_cases` (requests as HubSpot tickets and
Salesforce Cases), :mod:`.request_tasks` (a request's task in Trello or Asana).
"""
